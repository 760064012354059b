//! `list_numbers` for Telnyx, Twilio and Vonage: one page against Prism mocks of each
//! provider's own spec (Prism checks the request — path, paging parameters, credentials —
//! and answers with the spec's example), and paging across several pages, an empty account,
//! and refusals against in-process servers answering in each spec's page format.

mod common;

use common::*;
use ringdesk_core::ports::NumberType;
use ringdesk_core::ProviderError;
use serde_json::{json, Value};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn mock(variable: &str) -> String {
    std::env::var(variable).unwrap_or_else(|_| {
        panic!("{variable} is not set: run scripts/test.sh, which starts the Prism mocks")
    })
}

#[tokio::test]
#[ignore = "needs the Prism spec mocks: run through scripts/test.sh"]
async fn each_adapter_reads_its_specs_number_list() {
    let telnyx = telnyx(&mock("RINGDESK_PRISM_TELNYX"))
        .list_numbers()
        .await
        .unwrap();
    // spec3.yml's example: one number per page however many pages `meta` claims.
    assert_eq!(telnyx.len(), 1);
    assert_eq!(telnyx[0].phone_number.as_str(), "+19705555098");

    let twilio = twilio(&mock("RINGDESK_PRISM_TWILIO"))
        .list_numbers()
        .await
        .unwrap();
    assert_eq!(twilio[0].phone_number.as_str(), "+18089255327");
    assert!(twilio[0].capabilities.voice);
    assert!(twilio[0].provider_number_id.starts_with("PN"));

    let mut endpoints = at(&mock("RINGDESK_PRISM_VONAGE_ACCOUNT"));
    endpoints.vonage_rest = mock("RINGDESK_PRISM_VONAGE_NUMBERS").parse().unwrap();
    let vonage = vonage(endpoints).list_numbers().await.unwrap();
    // numbers.yml's example: a UK drama number, unknown to libphonenumber but kept.
    assert_eq!(vonage[0].phone_number.as_str(), "+447700900000");
    assert_eq!(vonage[0].provider_number_id, "447700900000");
    assert_eq!(vonage[0].number_type, NumberType::Mobile);
    assert_eq!(vonage[0].country.as_deref(), Some("GB"));
    assert!(vonage[0].capabilities.voice && vonage[0].capabilities.mms);
}

fn telnyx_number(i: usize) -> Value {
    json!({
        "id": format!("{}", 1_293_384_261_075_731_000u64 + i as u64),
        "record_type": "phone_number",
        "phone_number": format!("+1970555{:04}", 1000 + i),
        "status": "active",
        "phone_number_type": if i == 0 { "toll_free" } else { "local" },
        "country_iso_alpha2": "US",
        "connection_id": if i.is_multiple_of(2) { Value::from("1293384261075731499") } else { Value::Null },
        "connection_name": "office",
    })
}

#[tokio::test]
async fn telnyx_follows_page_numbers_to_the_last_page() {
    let server = MockServer::start().await;
    for page in 1..=3 {
        let numbers: Vec<Value> = (0..2).map(|k| telnyx_number((page - 1) * 2 + k)).collect();
        Mock::given(method("GET"))
            .and(path("/phone_numbers"))
            .and(query_param("page[number]", page.to_string()))
            .and(query_param("page[size]", "250"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "data": numbers,
                "meta": { "page_number": page, "page_size": 2, "total_pages": 3, "total_results": 6 },
            })))
            .expect(1)
            .mount(&server)
            .await;
    }
    let numbers = telnyx(&server.uri()).list_numbers().await.unwrap();
    assert_eq!(numbers.len(), 6);
    assert_eq!(numbers[0].number_type, NumberType::Tollfree);
    assert!(numbers[0].capabilities.voice && !numbers[1].capabilities.voice);
    assert_eq!(numbers[5].phone_number.as_str(), "+19705551005");
}

#[tokio::test]
async fn twilio_follows_next_page_uri_and_stays_on_its_host() {
    let server = MockServer::start().await;
    let base = format!("/2010-04-01/Accounts/{TWILIO_SID}/IncomingPhoneNumbers.json");
    let base = base.as_str();
    let page = |sids: &[&str], next: Value| {
        json!({
            "incoming_phone_numbers": sids.iter().enumerate().map(|(i, sid)| json!({
                "sid": sid,
                "phone_number": format!("+1415555{:04}", 100 + sid.len() * 10 + i),
                "friendly_name": format!("Line {sid}"),
                "capabilities": { "voice": true, "sms": i == 0, "mms": false, "fax": false },
            })).collect::<Vec<_>>(),
            "next_page_uri": next,
            "page": 0, "page_size": 2,
        })
    };
    Mock::given(method("GET"))
        .and(path(base))
        .and(query_param("PageSize", "1000"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            &["PN1", "PN22"],
            json!(format!("{base}?PageSize=1000&Page=1&PageToken=PA2")),
        )))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(base))
        .and(query_param("PageToken", "PA2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            &["PN333"],
            // A next page on another host is not followed (the credentials would go there).
            json!("//evil.example.com/steal"),
        )))
        .expect(1)
        .mount(&server)
        .await;
    let numbers = twilio(&server.uri()).list_numbers().await.unwrap();
    let ids: Vec<_> = numbers
        .iter()
        .map(|n| n.provider_number_id.as_str())
        .collect();
    assert_eq!(ids, ["PN1", "PN22", "PN333"]);
    assert_eq!(numbers[0].friendly_name.as_deref(), Some("Line PN1"));
    assert!(numbers[0].capabilities.sms && !numbers[1].capabilities.sms);
    assert_eq!(numbers[0].country.as_deref(), Some("US"));
}

#[tokio::test]
async fn vonage_pages_by_index_until_count() {
    let server = MockServer::start().await;
    for index in 1..=3u32 {
        let numbers: Vec<Value> = (0..if index == 3 { 50 } else { 100 })
            .map(|k| {
                json!({
                    "country": "GB",
                    "msisdn": format!("4479460{:05}", (index - 1) * 100 + k),
                    "type": if k == 0 { "mobile-lvn" } else { "landline" },
                    "features": ["VOICE", "SMS"],
                })
            })
            .collect();
        Mock::given(method("GET"))
            .and(path("/account/numbers"))
            .and(query_param("index", index.to_string()))
            .and(query_param("size", "100"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({ "count": 250, "numbers": numbers })),
            )
            .expect(1)
            .mount(&server)
            .await;
    }
    let numbers = vonage(at(&server.uri())).list_numbers().await.unwrap();
    assert_eq!(numbers.len(), 250);
    assert_eq!(numbers[0].number_type, NumberType::Mobile);
    assert_eq!(numbers[1].number_type, NumberType::Local);
    assert_eq!(numbers[1].provider_number_id, "447946000001");
    assert_eq!(numbers[1].phone_number.as_str(), "+447946000001");
    assert!(numbers[1].capabilities.voice && numbers[1].capabilities.sms);
}

#[tokio::test]
async fn an_empty_account_lists_nothing_and_refusals_are_errors() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/phone_numbers"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "data": [], "meta": { "page_number": 1, "page_size": 250, "total_pages": 0, "total_results": 0 }
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/account/numbers"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "count": 0 })))
        .mount(&server)
        .await;
    assert!(telnyx(&server.uri())
        .list_numbers()
        .await
        .unwrap()
        .is_empty());
    assert!(vonage(at(&server.uri()))
        .list_numbers()
        .await
        .unwrap()
        .is_empty());

    let refusing = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/phone_numbers"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "errors": [{ "code": "10009", "title": "Authentication failed", "detail": "The API key is invalid." }]
        })))
        .mount(&refusing)
        .await;
    Mock::given(method("GET"))
        .and(path("/account/numbers"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&refusing)
        .await;
    let err = telnyx(&refusing.uri()).list_numbers().await.unwrap_err();
    assert!(matches!(err, ProviderError::WrongKeys { .. }), "{err:?}");
    let err = vonage(at(&refusing.uri()))
        .list_numbers()
        .await
        .unwrap_err();
    assert!(!matches!(err, ProviderError::WrongKeys { .. }), "{err:?}");
}
