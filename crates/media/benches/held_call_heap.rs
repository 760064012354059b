//! Memory per extra call on hold: pairs of calls on loopback (each side a `CallMedia` with its
//! ports, codec, jitter buffer and media thread, as the app keeps one per call), every pair
//! put on hold the way the call controller does it (a sendonly re-offer), left to run, and
//! the heap still allocated counted by a global allocator, with the process's resident memory
//! beside it (thread stacks and socket buffers are not heap).
//!
//!     cargo bench -p ringdesk-media --bench held_call_heap

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use ringdesk_media::audio::{NullSink, WavSource};
use ringdesk_media::call::CallMedia;
use ringdesk_media::codec::Codec;
use ringdesk_media::sdp::Direction;

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator, only counting the bytes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new as isize - layout.size() as isize, Ordering::Relaxed);
        System.realloc(ptr, layout, new)
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const PAIRS: usize = 10;

fn rss_kib() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4
}

async fn side(codec: Codec) -> CallMedia {
    let tone: Vec<i16> = (0..16_000)
        .map(|i| ((i as f32 * 0.07).sin() * 4000.0) as i16)
        .collect();
    CallMedia::new(
        "127.0.0.1".parse().unwrap(),
        vec![codec],
        false,
        Box::new(WavSource::from_samples(8000, tone)),
        Box::new(NullSink(8000)),
    )
    .await
    .unwrap()
}

/// Two calls talking to each other, then one holding the other.
async fn held_pair(codec: Codec) -> (CallMedia, CallMedia) {
    let (mut a, mut b) = (side(codec).await, side(codec).await);
    let offer = a.offer(Direction::SendRecv);
    let answer = b.answer(&offer).unwrap();
    a.answered(&answer).unwrap();
    let hold = a.offer(Direction::SendOnly);
    let answer = b.reoffer(&hold).unwrap();
    a.answered(&answer).unwrap();
    (a, b)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    for codec in [Codec::Pcmu, Codec::Opus] {
        // One pair first: what every call shares (codec tables, the runtime) is paid once.
        let warm = held_pair(codec).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (heap0, rss0) = (LIVE.load(Ordering::Relaxed), rss_kib());
        let mut pairs = Vec::new();
        for _ in 0..PAIRS {
            pairs.push(held_pair(codec).await);
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
        let (heap1, rss1) = (LIVE.load(Ordering::Relaxed), rss_kib());
        let calls = (2 * PAIRS) as f64;
        println!(
            "{codec:?}: per extra call on hold (of {} calls, after 3 s): heap {:.1} KiB, resident {:.1} KiB",
            2 * PAIRS,
            (heap1 - heap0) as f64 / 1024.0 / calls,
            rss1.saturating_sub(rss0) as f64 / calls,
        );
        for (a, b) in pairs {
            a.stop().await;
            b.stop().await;
        }
        warm.0.stop().await;
        warm.1.stop().await;
    }
}
