//! Journal and contacts at scale (not a timed test; run `cargo bench -p ringdesk-store --bench
//! journal`): caller lookup by E.164 among 100 000 contacts, and filtered, sorted journal pages
//! over 1 000 000 calls, on a SQLite file in WAL mode like the app's. Prints medians and 99th
//! percentiles.

use std::time::{Duration, Instant};

use rand::{rngs::StdRng, Rng, SeedableRng};
use ringdesk_core::{
    Call, CallDirection, CallEndReason, CallFilter, CallStatus, ContactPhone, E164Number,
    ValidContact,
};
use ringdesk_store::Store;
use time::OffsetDateTime;

const CONTACTS: usize = 100_000;
const CALLS: usize = 1_000_000;
/// `JOURNAL_BENCH_CONTACTS_ONLY=1` stops after the contacts (a quick run).
fn contacts_only() -> bool {
    std::env::var_os("JOURNAL_BENCH_CONTACTS_ONLY").is_some()
}

fn number(i: usize) -> E164Number {
    // +1 212 2xx xxxx: valid NANP numbers, one per contact.
    E164Number::parse_international(&format!("+1212{:07}", 2_000_000 + i)).unwrap()
}

fn stats(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let median = samples[samples.len() / 2];
    let p99 = samples[samples.len() * 99 / 100];
    println!(
        "{name:<58} median {median:>10.1?}   p99 {p99:>10.1?}   ({} runs)",
        samples.len()
    );
}

async fn time<F, Fut, T>(runs: usize, mut f: F) -> Vec<Duration>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let mut samples = Vec::with_capacity(runs);
    for i in 0..runs {
        let started = Instant::now();
        std::hint::black_box(f(i).await);
        samples.push(started.elapsed());
    }
    samples
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("bench.db")).await.unwrap();
    let mut rng = StdRng::seed_from_u64(7);

    let started = Instant::now();
    let contacts: Vec<ValidContact> = (0..CONTACTS)
        .map(|i| ValidContact {
            name: format!("Contact {i:06}"),
            company: Some(format!("Company {}", i % 997)),
            phones: vec![ContactPhone {
                number: number(i),
                label: None,
            }],
            emails: vec![format!("c{i}@example.com")],
        })
        .collect();
    for chunk in contacts.chunks(10_000) {
        store.contacts().merge(chunk).await.unwrap();
    }
    println!("{CONTACTS} contacts stored in {:.1?}", started.elapsed());
    let ids: Vec<_> = {
        let mut ids = Vec::new();
        for i in (0..CONTACTS).step_by(CONTACTS / 1000) {
            ids.push(
                store
                    .contacts()
                    .find_by_phone(&number(i))
                    .await
                    .unwrap()
                    .unwrap()
                    .id,
            );
        }
        ids
    };

    let contacts_repo = store.contacts();
    stats(
        "caller lookup by E.164 (hit), 100 000 contacts",
        time(10_000, |_| {
            let n = number(rng.gen_range(0..CONTACTS));
            let repo = contacts_repo.clone();
            async move { repo.find_by_phone(&n).await.unwrap() }
        })
        .await,
    );
    let rss_before = resident_kib();
    let warm = std::time::Instant::now();
    contacts_repo.warm().await.unwrap();
    println!(
        "caller index loaded in {:.1?}, resident memory +{} KiB",
        warm.elapsed(),
        resident_kib().saturating_sub(rss_before)
    );
    stats(
        "caller lookup from the index (hit), 100 000 contacts",
        time(10_000, |_| {
            let n = number(rng.gen_range(0..CONTACTS));
            let repo = contacts_repo.clone();
            async move { repo.identify(&n).await.unwrap() }
        })
        .await,
    );
    stats(
        "caller lookup from the index (unknown caller)",
        time(10_000, |i| {
            let n = E164Number::parse_international(&format!("+1415{:07}", 2_000_000 + i)).unwrap();
            let repo = contacts_repo.clone();
            async move { repo.identify(&n).await.unwrap() }
        })
        .await,
    );
    stats(
        "caller lookup by E.164 (unknown caller)",
        time(10_000, |i| {
            let n = E164Number::parse_international(&format!("+1415{:07}", 2_000_000 + i)).unwrap();
            let repo = contacts_repo.clone();
            async move { repo.find_by_phone(&n).await.unwrap() }
        })
        .await,
    );

    stats(
        "contacts search by name (page of 200)",
        time(50, |_| contacts_repo.search("Contact 04204", 200)).await,
    );
    stats(
        "contacts search by phone digits",
        time(50, |_| contacts_repo.search("2200420", 200)).await,
    );

    if contacts_only() {
        return;
    }
    let started = Instant::now();
    let t0 = OffsetDateTime::now_utc() - time::Duration::days(365);
    let mut batch = Vec::with_capacity(50_000);
    for i in 0..CALLS {
        let direction = if rng.gen_bool(0.5) {
            CallDirection::Inbound
        } else {
            CallDirection::Outbound
        };
        let at = t0 + time::Duration::seconds((i as i64) * 31);
        let contact = rng.gen_range(0..CONTACTS);
        let mut call = Call::new(
            direction,
            "+12125550100".into(),
            number(contact).to_string(),
            at,
        );
        if rng.gen_bool(0.3) {
            call.contact_id = Some(ids[rng.gen_range(0..ids.len())]);
        }
        if rng.gen_bool(0.7) {
            call.answer(at + time::Duration::seconds(5));
            call.end(
                CallEndReason::HungUp,
                None,
                at + time::Duration::seconds(65),
            );
        } else {
            call.end(
                CallEndReason::NoAnswer,
                None,
                at + time::Duration::seconds(30),
            );
        }
        batch.push(call);
        if batch.len() == batch.capacity() {
            store.calls().save_many(&batch).await.unwrap();
            batch.clear();
        }
    }
    store.calls().save_many(&batch).await.unwrap();
    println!("{CALLS} calls stored in {:.1?}", started.elapsed());

    let calls = store.calls();
    let pages: Vec<(&str, CallFilter)> = vec![
        ("journal: newest 50", CallFilter::default()),
        (
            "journal: inbound + completed, newest 50",
            CallFilter {
                direction: Some(CallDirection::Inbound),
                status: Some(CallStatus::Completed),
                ..Default::default()
            },
        ),
        (
            "journal: one week, outbound, 50",
            CallFilter {
                direction: Some(CallDirection::Outbound),
                since: Some(t0 + time::Duration::days(100)),
                until: Some(t0 + time::Duration::days(107)),
                ..Default::default()
            },
        ),
        (
            "journal: one contact's calls",
            CallFilter {
                contact_id: Some(ids[3]),
                ..Default::default()
            },
        ),
        (
            "journal: search by number digits",
            CallFilter {
                query: Some("2122000420".into()),
                ..Default::default()
            },
        ),
        (
            "journal: search by contact name",
            CallFilter {
                query: Some("Contact 000420".into()),
                ..Default::default()
            },
        ),
    ];
    for (name, filter) in pages {
        let runs = if filter.query.is_some() { 20 } else { 200 };
        stats(name, time(runs, |_| calls.list(&filter)).await);
    }
    // Deep paging: the 1000th page through the keyset cursor.
    let mut cursor = None;
    for _ in 0..1000 {
        let page = calls
            .list(&CallFilter {
                before: cursor,
                ..Default::default()
            })
            .await
            .unwrap();
        cursor = page.last().map(|c| c.id);
    }
    let deep = CallFilter {
        before: cursor,
        ..Default::default()
    };
    stats(
        "journal: page 1001 (keyset cursor)",
        time(200, |_| calls.list(&deep)).await,
    );
}

/// The process's resident set (Linux), to size the caller index.
fn resident_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}
