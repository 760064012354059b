//! A full pull of 100 000 contacts from an in-house CRM speaking Ringdesk's contract (served
//! in this process over loopback HTTP), into a fresh journal file: time, and how much the
//! process's peak resident memory grew during the pull. Then an incremental pull with nothing
//! changed. `cargo bench -p ringdesk-app --bench contacts_sync` (CONTACTS_SYNC_BENCH_COUNT
//! to change the count).

use ringdesk_test_support::contract_crm;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ringdesk_app::crm_sync::pull;
use ringdesk_core::{E164Number, Region};
use ringdesk_crm::generic::GenericConnector;
use ringdesk_store::Store;
use secrecy::SecretString;

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Resets the peak so it measures from now (Linux ≥ 4.0).
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

#[tokio::main]
async fn main() {
    let count: usize = std::env::var("CONTACTS_SYNC_BENCH_COUNT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let data: contract_crm::Shared = Arc::new(Mutex::new(contract_crm::Data::default()));
    {
        let mut d = data.lock().unwrap();
        for i in 0..count {
            d.upsert(
                &format!("c{i}"),
                &format!("Contact {i:06}"),
                // Valid NANP numbers (+1 212 2xx xxxx, +1 415 3xx xxxx), two per contact.
                &[
                    &format!("+1212{:07}", 2_000_000 + i),
                    &format!("+1415{:07}", 3_000_000 + i),
                ],
            );
        }
    }
    let address = contract_crm::start(data.clone()).await;
    let connector = GenericConnector::new(
        format!("http://{address}").parse().unwrap(),
        SecretString::from(contract_crm::TOKEN),
        Duration::from_secs(30),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("journal.db")).await.unwrap();
    let contacts = store.contacts();
    contacts.warm().await.unwrap();

    reset_peak();
    let before = status_kib("VmRSS:");
    let started = Instant::now();
    let report = pull(
        &connector,
        &contacts,
        "generic:bench",
        Region::default(),
        false,
    )
    .await
    .unwrap();
    let took = started.elapsed();
    let peak = status_kib("VmHWM:");
    println!(
        "full pull of {count} contacts: {took:.1?} ({:.0} contacts/s, {} pages), peak resident memory +{} MiB (process peak {} MiB)",
        count as f64 / took.as_secs_f64(),
        report.pages,
        peak.saturating_sub(before) / 1024,
        peak / 1024,
    );
    assert_eq!((report.added, report.skipped), (count, 0));

    let started = Instant::now();
    let again = pull(
        &connector,
        &contacts,
        "generic:bench",
        Region::default(),
        false,
    )
    .await
    .unwrap();
    println!(
        "incremental pull, nothing changed: {:.1?} ({} page, {} re-read in the overlap window)",
        started.elapsed(),
        again.pages,
        again.updated
    );
    let n = E164Number::parse_international("+12122054321").unwrap();
    let started = Instant::now();
    let caller = contacts.identify(&n).await.unwrap();
    println!(
        "caller lookup after the pull: {:.1?} ({})",
        started.elapsed(),
        caller.map(|c| c.name).unwrap_or_default()
    );
}
