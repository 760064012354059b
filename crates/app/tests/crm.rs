//! Calls that end reach the CRM exactly once, in order, through the outbox: with the CRM down
//! for a while, and with Ringdesk stopped dead between sending an activity and hearing back.
//! Calls end through the real path (a signed Twilio status callback to the webhook receiver);
//! the CRM is an in-process implementation of docs/crm-generic-openapi.yaml that keeps
//! interactions by Idempotency-Key. Needs the Secret Service: run through scripts/test.sh.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ringdesk_app::{AppConfig, CrmKind, CrmSettings, Ringdesk, WebhookSettings};
use ringdesk_core::{CredentialField, NewProvider, ProviderCredentials, ProviderId, ProviderKind};
use ringdesk_providers::webhook::{twilio_signature, TwilioAlgorithm};
use ringdesk_test_support::contract_crm::{self, Data, Shared};
use secrecy::SecretString;
use serde_json::{json, Value};

const TOKEN: &str = "twilio-token-crm";
const CRM_TOKEN: &str = "crm-token";

/// The contract CRM (the one fake of it, validating every body): down for the first
/// `down_for` creates, create number `slow` applied at once but answered 5 s later.
async fn crm(down_for: usize, slow: Option<usize>) -> (String, Shared) {
    let data: Shared = Arc::new(Mutex::new(Data {
        down_for,
        slow_create: slow.map(|n| (n, Duration::from_secs(5))),
        ..Data::with_token(CRM_TOKEN)
    }));
    let url = contract_crm::url(contract_crm::start(data.clone()).await);
    (url, data)
}

/// What the CRM keeps: (idempotency key, body) of each interaction, in order.
fn kept(crm: &Shared) -> Vec<(String, Value)> {
    let data = crm.lock().unwrap();
    assert!(
        data.refusals.is_empty(),
        "outside the contract: {:?}",
        data.refusals
    );
    data.interactions
        .iter()
        .map(|i| (i.key.clone(), i.body.clone()))
        .collect()
}

/// Creates the CRM was asked for, answered or not.
fn posts(crm: &Shared) -> usize {
    crm.lock().unwrap().creates
}

/// Updates it applied: (interaction id, body).
fn patches(crm: &Shared) -> Vec<(String, Value)> {
    crm.lock().unwrap().patches.clone()
}

struct Desk {
    ringdesk: Ringdesk,
    hook: String,
}

async fn open(config: &AppConfig, provider: Option<ProviderId>) -> (Ringdesk, ProviderId) {
    let ringdesk = Ringdesk::open(config.clone()).await.unwrap();
    let id = match provider {
        Some(id) => id,
        None => {
            let mut credentials = ProviderCredentials::default();
            credentials.set(
                CredentialField::AccountSid,
                Some(SecretString::from("AC0123456789abcdef0123456789abcdef")),
            );
            credentials.set(CredentialField::AuthToken, Some(SecretString::from(TOKEN)));
            ringdesk
                .providers
                .create(NewProvider {
                    kind: ProviderKind::Twilio,
                    name: "Twilio".into(),
                    credentials,
                    default_caller_id: None,
                    record_calls: false,
                    sip: None,
                })
                .await
                .unwrap()
                .id
        }
    };
    (ringdesk, id)
}

async fn desk(
    config: &AppConfig,
    provider: Option<ProviderId>,
    crm_url: &str,
) -> (Desk, ProviderId) {
    let (ringdesk, id) = open(config, provider).await;
    let view = ringdesk
        .set_webhooks(WebhookSettings {
            enabled: true,
            bind: "127.0.0.1:0".into(),
            public_url: None,
        })
        .await
        .unwrap();
    ringdesk
        .set_crm(
            CrmSettings {
                kind: CrmKind::Generic,
                base_url: crm_url.into(),
            },
            Some(CRM_TOKEN.into()),
        )
        .await
        .unwrap();
    let hook = format!("{}/webhooks/{}", view.base_url, id.0);
    (Desk { ringdesk, hook }, id)
}

impl Desk {
    /// A Twilio call that rang and was missed: it ends, so it goes to the CRM.
    async fn missed_call(&self, sid: &str) {
        for (status, seq) in [("ringing", 0), ("no-answer", 1)] {
            self.callback(&format!(
                "CallSid={sid}&CallStatus={status}&Direction=inbound&From=%2B14155552671&To=%2B12125550100&SequenceNumber={seq}"
            ))
            .await;
        }
    }

    /// A signed Twilio status callback.
    async fn callback(&self, form: &str) {
        let params: Vec<(String, String)> = url::form_urlencoded::parse(form.as_bytes())
            .into_owned()
            .collect();
        let signature = twilio_signature(
            TOKEN.as_bytes(),
            &self.hook,
            &params,
            TwilioAlgorithm::HmacSha1,
        );
        let status = reqwest::Client::new()
            .post(&self.hook)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-twilio-signature", signature)
            .body(form.to_string())
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200);
    }

    async fn wait_delivered(&self, n: u32) {
        for _ in 0..300 {
            let view = self.ringdesk.crm().await.unwrap();
            if view.delivered == n && view.pending == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("not delivered: {:?}", self.ringdesk.crm().await.unwrap());
    }
}

fn config(dir: &tempfile::TempDir, keyring: &str) -> AppConfig {
    support::config(dir.path(), keyring)
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a Secret Service session: run through scripts/test.sh"]
async fn with_the_crm_down_for_a_while_every_call_arrives_once_in_order() {
    let (crm_url, crm) = crm(3, None).await;
    let dir = tempfile::tempdir().unwrap();
    let keyring = format!("ringdesk-test-{}", uuid::Uuid::new_v4());
    let (desk, _) = desk(&config(&dir, &keyring), None, &crm_url).await;
    for sid in ["CA1", "CA2", "CA3"] {
        desk.missed_call(sid).await;
    }
    desk.wait_delivered(3).await;
    let kept = kept(&crm);
    assert_eq!(kept.len(), 3, "each call once");
    let order: Vec<_> = kept
        .iter()
        .map(|(_, b)| b["outcome"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(order, ["no_answer", "no_answer", "no_answer"]);
    // Compared as times: RFC 3339 text drops trailing zeros of the fraction ("…:02.5Z" sorts
    // after "…:02.505Z" as text).
    let starts: Vec<_> = kept
        .iter()
        .map(|(_, b)| {
            time::OffsetDateTime::parse(
                b["startedAt"].as_str().unwrap(),
                &time::format_description::well_known::Rfc3339,
            )
            .unwrap()
        })
        .collect();
    let mut sorted = starts.clone();
    sorted.sort();
    assert_eq!(starts, sorted, "in the order the calls ended");
    assert!(posts(&crm) >= 4, "the CRM was down for the first attempts");
    desk.ringdesk.close().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a Secret Service session: run through scripts/test.sh"]
async fn stopped_dead_before_the_crm_answered_the_activity_still_arrives_exactly_once() {
    // The first create is applied at once but answered only after 5 s: Ringdesk dies meanwhile.
    let (crm_url, crm) = crm(0, Some(1)).await;
    let dir = tempfile::tempdir().unwrap();
    let keyring = format!("ringdesk-test-{}", uuid::Uuid::new_v4());
    let cfg = config(&dir, &keyring);
    let (desk1, provider) = desk(&cfg, None, &crm_url).await;
    desk1.missed_call("CA9").await;
    for _ in 0..100 {
        if posts(&crm) >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(posts(&crm), 1);
    // Dead stop: the worker is cut mid-request; its row stays in flight.
    desk1.ringdesk.close().await;
    drop(desk1);

    let (desk2, _) = desk(&cfg, Some(provider), &crm_url).await;
    desk2.wait_delivered(1).await;
    assert_eq!(kept(&crm).len(), 1, "reconciled, not sent twice");
    assert_eq!(posts(&crm), 1, "the restart looked before sending again");
    desk2.ringdesk.close().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a Secret Service session: run through scripts/test.sh"]
async fn a_conversation_waits_for_the_agents_notes_then_goes_with_them() {
    let (crm_url, crm) = crm(0, None).await;
    let dir = tempfile::tempdir().unwrap();
    let keyring = format!("ringdesk-test-{}", uuid::Uuid::new_v4());
    let (desk, _) = desk(&config(&dir, &keyring), None, &crm_url).await;
    for (status, seq) in [("ringing", 0), ("in-progress", 1), ("completed", 2)] {
        desk.callback(&format!(
            "CallSid=CA7&CallStatus={status}&Direction=inbound&From=%2B14155552671&To=%2B12125550100&SequenceNumber={seq}"
        ))
        .await;
    }
    let view = desk.ringdesk.crm().await.unwrap();
    assert_eq!(
        (view.pending, view.delivered),
        (1, 0),
        "held for the agent's notes"
    );
    // Not due before the wrap-up hold has run (a minute and more from now).
    let now = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;
    assert!(
        view.next_delivery_at.is_some_and(|at| at > now + 60_000),
        "{view:?}"
    );
    assert!(kept(&crm).is_empty());

    let call = desk
        .ringdesk
        .calls(&ringdesk_core::CallFilter::default())
        .await
        .unwrap()
        .remove(0);
    desk.ringdesk
        .wrap_up(
            call.id,
            Some("Asked for pricing".into()),
            Some(ringdesk_core::Disposition::CallBack),
        )
        .await
        .unwrap();
    desk.wait_delivered(1).await;
    let kept = kept(&crm);
    assert_eq!(kept[0].1["notes"], "Asked for pricing");
    assert_eq!(kept[0].1["disposition"], "call_back");
    assert_eq!(kept[0].1["outcome"], "connected");
    // The notes are searchable in the journal.
    let found = desk
        .ringdesk
        .calls(&ringdesk_core::CallFilter {
            query: Some("pricing".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    desk.ringdesk.close().await;
}

/// Set in the child process of the kill -9 test: the data directory and keyring it uses.
const CHILD_DIR: &str = "RINGDESK_KILL_CHILD_DIR";
const CHILD_KEYRING: &str = "RINGDESK_KILL_CHILD_KEYRING";
const CHILD_CRM: &str = "RINGDESK_KILL_CHILD_CRM";
const KILL_TEST: &str =
    "killed_with_sigkill_before_the_crm_answered_the_activity_still_arrives_exactly_once";

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a Secret Service session: run through scripts/test.sh"]
async fn killed_with_sigkill_before_the_crm_answered_the_activity_still_arrives_exactly_once() {
    // The child: a Ringdesk that ends a call and waits for the CRM, until it is killed.
    if let (Ok(dir), Ok(keyring), Ok(crm_url)) = (
        std::env::var(CHILD_DIR),
        std::env::var(CHILD_KEYRING),
        std::env::var(CHILD_CRM),
    ) {
        let cfg = AppConfig {
            data_dir: dir.into(),
            ..config(&tempfile::tempdir().unwrap(), &keyring)
        };
        let (desk, provider) = desk(&cfg, None, &crm_url).await;
        println!("PROVIDER {}", provider.0);
        desk.missed_call("CA77").await;
        tokio::time::sleep(Duration::from_secs(60)).await;
        return;
    }

    // The CRM applies the first create at once but answers it only 5 s later.
    let (crm_url, crm) = crm(0, Some(1)).await;
    let dir = tempfile::tempdir().unwrap();
    let keyring = format!("ringdesk-test-{}", uuid::Uuid::new_v4());
    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", KILL_TEST, "--include-ignored", "--nocapture"])
        .env(CHILD_DIR, dir.path())
        .env(CHILD_KEYRING, &keyring)
        .env(CHILD_CRM, crm_url.clone())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = tokio::io::BufReader::new(child.stdout.take().unwrap());
    let provider = loop {
        let mut line = String::new();
        use tokio::io::AsyncBufReadExt;
        assert!(
            stdout.read_line(&mut line).await.unwrap() > 0,
            "the child stopped early"
        );
        if let Some(id) = line.trim().strip_prefix("PROVIDER ") {
            break ringdesk_core::ProviderId(id.parse().unwrap());
        }
    };
    for _ in 0..500 {
        if posts(&crm) >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(posts(&crm), 1, "the child sent the activity");
    // SIGKILL: no shutdown code runs; the outbox row stays in flight on disk.
    child.kill().await.unwrap();
    let status = child.wait().await.unwrap();
    assert!(!status.success());

    let (desk2, _) = desk(&config(&dir, &keyring), Some(provider), &crm_url).await;
    desk2.wait_delivered(1).await;
    assert_eq!(kept(&crm).len(), 1, "one activity in the CRM");
    assert_eq!(
        posts(&crm),
        1,
        "the restart found it already logged instead of sending it again"
    );
    desk2.ringdesk.close().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a Secret Service session: run through scripts/test.sh"]
async fn notes_saved_after_the_activity_went_update_it_in_the_crm() {
    let (crm_url, crm) = crm(0, None).await;
    let dir = tempfile::tempdir().unwrap();
    let keyring = format!("ringdesk-test-{}", uuid::Uuid::new_v4());
    let (desk, _) = desk(&config(&dir, &keyring), None, &crm_url).await;
    // A missed call goes at once; the agent writes notes afterwards.
    desk.missed_call("CA5").await;
    desk.wait_delivered(1).await;
    let call = desk
        .ringdesk
        .calls(&ringdesk_core::CallFilter::default())
        .await
        .unwrap()
        .remove(0);
    desk.ringdesk
        .wrap_up(
            call.id,
            Some("Called back later, wants a demo".into()),
            Some(ringdesk_core::Disposition::Interested),
        )
        .await
        .unwrap();
    for _ in 0..200 {
        if !patches(&crm).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    desk.wait_delivered(1).await;
    let patches = patches(&crm);
    assert_eq!(patches.len(), 1, "one update");
    assert_eq!(patches[0].0, "int-0", "of the activity already logged");
    assert_eq!(
        patches[0].1,
        json!({ "notes": "Called back later, wants a demo", "disposition": "interested" })
    );
    assert_eq!(kept(&crm).len(), 1, "no second activity");
    assert_eq!(posts(&crm), 1);
    desk.ringdesk.close().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a Secret Service session: run through scripts/test.sh"]
async fn notes_saved_while_the_activity_is_on_its_way_follow_as_an_update() {
    // The CRM takes 5 s to answer the create: the notes are saved meanwhile.
    let (crm_url, crm) = crm(0, Some(1)).await;
    let dir = tempfile::tempdir().unwrap();
    let (desk, _) = desk(&config(&dir, &support::keyring()), None, &crm_url).await;
    desk.missed_call("CA6").await;
    for _ in 0..200 {
        if posts(&crm) >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let call = desk
        .ringdesk
        .calls(&ringdesk_core::CallFilter::default())
        .await
        .unwrap()
        .remove(0);
    desk.ringdesk
        .wrap_up(call.id, Some("Left a message".into()), None)
        .await
        .unwrap();
    for _ in 0..400 {
        if !patches(&crm).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let patches = patches(&crm);
    assert_eq!(patches.len(), 1, "the notes followed as an update");
    assert_eq!(patches[0].1, json!({ "notes": "Left a message" }));
    assert_eq!(kept(&crm).len(), 1);
    desk.ringdesk.close().await;
}
