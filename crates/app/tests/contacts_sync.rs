//! The contacts cache against an in-house CRM speaking Ringdesk's contract (in memory, over
//! HTTP): the first pull takes everything, later pulls only the changes (and deletions), a
//! pull cut by an outage resumes where it stopped, a full resync drops what the CRM no longer
//! has, and a contact typed before the CRM was connected becomes the CRM's.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ringdesk_app::crm_sync::pull;
use ringdesk_app::{CrmKind, CrmSettings, Ringdesk};
use ringdesk_core::{ContactInput, E164Number, PhoneInput, Region};
use ringdesk_crm::generic::GenericConnector;
use ringdesk_store::Store;
use ringdesk_test_support::contract_crm::{self, Data, TOKEN};
use secrecy::SecretString;

const CRM: &str = "generic:test";

fn n(s: &str) -> E164Number {
    E164Number::parse_international(s).unwrap()
}

/// `count` contacts, `+1415555xxxx`, in a CRM served on loopback.
async fn crm_with(count: usize) -> (contract_crm::Shared, GenericConnector) {
    let data: contract_crm::Shared = Arc::new(Mutex::new(Data::default()));
    {
        let mut d = data.lock().unwrap();
        for i in 0..count {
            d.upsert(
                &format!("c{i}"),
                &format!("Contact {i}"),
                &[&format!("+1415555{i:04}")],
            );
        }
    }
    let address = contract_crm::start(data.clone()).await;
    let connector = GenericConnector::new(
        format!("http://{address}").parse().unwrap(),
        SecretString::from(TOKEN),
        Duration::from_secs(5),
    )
    .unwrap();
    (data, connector)
}

#[tokio::test]
async fn pulls_everything_then_only_changes_and_deletions() {
    let (data, connector) = crm_with(1205).await;
    let store = Store::in_memory().await.unwrap();
    let contacts = store.contacts();
    // Typed before the CRM was connected: it becomes the CRM's Contact 7.
    let typed = contacts
        .create(
            &ContactInput {
                name: "Seven".into(),
                company: None,
                phones: vec![PhoneInput {
                    number: "+14155550007".into(),
                    label: None,
                }],
                emails: vec![],
            }
            .validate(Region::default())
            .unwrap(),
        )
        .await
        .unwrap();

    let first = pull(&connector, &contacts, CRM, Region::default(), false)
        .await
        .unwrap();
    assert_eq!((first.added, first.updated, first.pages), (1204, 1, 3));
    assert_eq!(contacts.crm_contact_count().await.unwrap(), 1205);
    let seven = contacts
        .identify(&n("+14155550007"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((seven.id, seven.name.as_str()), (typed.id, "Contact 7"));
    assert_eq!(seven.crm_id.as_deref(), Some("c7"));

    {
        let mut d = data.lock().unwrap();
        d.upsert("c1", "Ada Lovelace", &["+14155550001", "(212) 555-0100"]);
        d.delete("c2");
        d.upsert("x1", "New person", &["+442079460958"]);
        d.upsert("x2", "Nothing to call", &["n/a"]);
        d.requests = 0;
    }
    let second = pull(&connector, &contacts, CRM, Region::default(), false)
        .await
        .unwrap();
    assert_eq!(
        data.lock().unwrap().requests,
        1,
        "one page of changes, not everything"
    );
    assert_eq!((second.added, second.removed, second.skipped), (1, 1, 1));
    // Ada, and the newest contact of the first pull again (the overlap window).
    assert_eq!(second.updated, 2);
    assert_eq!(
        contacts
            .identify(&n("+12125550100"))
            .await
            .unwrap()
            .unwrap()
            .name,
        "Ada Lovelace"
    );
    assert_eq!(contacts.identify(&n("+14155550002")).await.unwrap(), None);
    assert!(contacts
        .identify(&n("+442079460958"))
        .await
        .unwrap()
        .is_some());

    // Nothing changed: the same small page again (the overlap window), nothing moves.
    let third = pull(&connector, &contacts, CRM, Region::default(), false)
        .await
        .unwrap();
    assert_eq!((third.added, third.removed), (0, 0));
    assert_eq!(contacts.crm_contact_count().await.unwrap(), 1205);
}

#[tokio::test]
async fn an_outage_mid_pull_resumes_where_it_stopped_and_a_full_resync_drops_the_gone() {
    let (data, connector) = crm_with(1500).await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("journal.db")).await.unwrap();
    let contacts = store.contacts();
    // The CRM answers the first page, then goes down.
    data.lock().unwrap().fail_next = 0;
    let connector = Arc::new(connector);
    let outage = {
        let data = data.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(1)).await;
                let mut d = data.lock().unwrap();
                if d.requests >= 1 {
                    d.fail_next = 1;
                    break;
                }
            }
        })
    };
    let cut = pull(connector.as_ref(), &contacts, CRM, Region::default(), false).await;
    outage.await.unwrap();
    assert!(cut.is_err(), "the outage stops the pull");
    let state = contacts.crm_sync_state(CRM).await.unwrap().unwrap();
    assert!(state.last_error.unwrap().contains("unavailable"));
    assert!(
        state.full_run.is_some(),
        "the first full pull is still under way"
    );
    let kept = contacts.crm_contact_count().await.unwrap();
    assert!(
        (500..1500).contains(&kept),
        "pages before the outage are kept: {kept}"
    );

    // Back: the pull goes on from its cursor, not from the start.
    data.lock().unwrap().requests = 0;
    pull(connector.as_ref(), &contacts, CRM, Region::default(), false)
        .await
        .unwrap();
    assert!(data.lock().unwrap().requests < 3);
    assert_eq!(contacts.crm_contact_count().await.unwrap(), 1500);
    let state = contacts.crm_sync_state(CRM).await.unwrap().unwrap();
    assert_eq!(state.last_error, None);

    // A contact removed from the CRM without a trace is only noticed by a full resync.
    data.lock().unwrap().purge("c3");
    pull(connector.as_ref(), &contacts, CRM, Region::default(), false)
        .await
        .unwrap();
    assert!(contacts
        .identify(&n("+14155550003"))
        .await
        .unwrap()
        .is_some());
    let full = pull(connector.as_ref(), &contacts, CRM, Region::default(), true)
        .await
        .unwrap();
    assert_eq!(full.removed, 1);
    assert_eq!(contacts.identify(&n("+14155550003")).await.unwrap(), None);
    assert_eq!(contacts.crm_contact_count().await.unwrap(), 1499);
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a Secret Service session: run through scripts/test.sh"]
async fn connecting_a_crm_fills_the_cache_and_local_contacts_can_be_added_to_it() {
    let (data, _) = crm_with(3).await;
    let address = contract_crm::start(data.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = support::config(dir.path(), &support::keyring());
    let ringdesk = Ringdesk::open(config).await.unwrap();
    let unknown = ringdesk
        .contacts
        .create(&ContactInput {
            name: "Grace Hopper".into(),
            company: None,
            phones: vec![PhoneInput {
                number: "+12025550123".into(),
                label: None,
            }],
            emails: vec![],
        })
        .await
        .unwrap();
    ringdesk
        .set_crm(
            CrmSettings {
                kind: CrmKind::Generic,
                base_url: format!("http://{address}"),
            },
            Some(TOKEN.into()),
        )
        .await
        .unwrap();
    let mut view = ringdesk.crm().await.unwrap();
    for _ in 0..100 {
        if view
            .sync
            .as_ref()
            .is_some_and(|s| s.contacts == 3 && !s.running)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        view = ringdesk.crm().await.unwrap();
    }
    let sync = view.sync.clone().unwrap();
    assert_eq!(sync.contacts, 3);
    assert!(sync.last_full_sync_at.is_some());
    assert_eq!(
        view.summary().as_deref(),
        Some("CRM: up to date, 3 contacts")
    );

    let added = ringdesk.add_contact_to_crm(unknown.id).await.unwrap();
    let crm_id = added.crm_id.clone().unwrap();
    assert!(data
        .lock()
        .unwrap()
        .records
        .iter()
        .any(|r| r.id == crm_id && r.name == "Grace Hopper" && r.phones == ["+12025550123"]));
    assert_eq!(
        ringdesk.contact_crm_url(added.id).await.unwrap(),
        Some(format!("http://{address}/contacts/{crm_id}"))
    );
    // Adding twice changes nothing.
    ringdesk.add_contact_to_crm(unknown.id).await.unwrap();
    assert_eq!(data.lock().unwrap().records.len(), 4);

    // The agent's full resync runs in the background and keeps everything the CRM has. The
    // count was already 4: what shows the resync ran is its new completion time.
    let before = ringdesk
        .crm()
        .await
        .unwrap()
        .sync
        .unwrap()
        .last_full_sync_at;
    ringdesk.sync_crm(true);
    let mut sync = ringdesk.crm().await.unwrap().sync.unwrap();
    for _ in 0..200 {
        if !sync.running && sync.last_full_sync_at != before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        sync = ringdesk.crm().await.unwrap().sync.unwrap();
    }
    assert!(sync.last_full_sync_at > before, "{before:?} → {sync:?}");
    assert_eq!(sync.contacts, 4);
    ringdesk.close().await;
}
