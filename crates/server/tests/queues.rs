//! Queues and voicemail on the team server over real HTTP (the REST API through the contract
//! proxy, Twilio's signed requests as Twilio makes them): an admin makes a queue (an agent
//! cannot; bad queues are refused with the field's reason); a caller with nobody signed in is
//! asked for a message at once, its transcription lands in the members' boxes, each agent marks
//! it for themselves and nobody else reads it; with two agents signed in the queue rings both,
//! the first answer wins and the second is refused; a caller who hangs up while offered leaves
//! the queue; a full queue overflows at once; a forged step URL is refused; a deleted queue
//! apologises; an agent who takes voicemail gets messages when she is away or does not answer;
//! a restart loses no message.

mod common;

use common::*;
use ringdesk_providers::Endpoints;
use serde_json::{json, Value};

/// `name`="…" in a TwiML answer, unescaped.
fn attribute(twiml: &str, name: &str) -> String {
    let start = twiml
        .find(&format!(" {name}=\""))
        .unwrap_or_else(|| panic!("no {name} in {twiml}"))
        + name.len()
        + 3;
    let end = start + twiml[start..].find('"').unwrap();
    twiml[start..end].replace("&amp;", "&")
}

/// Every `url`="…" of the `<Sip>` parties an offer rings.
fn answer_urls(twiml: &str) -> Vec<String> {
    twiml
        .split("<Sip url=\"")
        .skip(1)
        .map(|rest| rest[..rest.find('"').unwrap()].replace("&amp;", "&"))
        .collect()
}

fn path(url: &str) -> &str {
    url.strip_prefix(PUBLIC).unwrap_or(url)
}

/// An agent added by the admin, joined from a desktop, with a softphone login: (id, token).
async fn agent(running: &Running, admin: &str, name: &str) -> (String, String) {
    let (id, token) = joined(running, admin, name).await;
    let (status, login) = running
        .call(
            "POST",
            &format!("/api/v1/agents/{id}/softphone"),
            Some(admin),
            None,
        )
        .await;
    assert_eq!(status, 200, "{login}");
    (id, token)
}

/// An agent added by the admin (taking voicemail) and joined from a desktop: (id, token).
async fn joined(running: &Running, admin: &str, name: &str) -> (String, String) {
    let (status, added) = running
        .call(
            "POST",
            "/api/v1/agents",
            Some(admin),
            Some(json!({"name": name, "email": null, "isMe": false, "assignedNumbers": [], "primaryNumber": null, "forwardingNumber": null, "settings": {"receiveCallsInApp": true, "forwardWhenOffline": false, "voicemailEnabled": true, "dndEnabled": false}})),
        )
        .await;
    assert_eq!(status, 201, "{added}");
    let id = added["user"]["id"].as_str().unwrap().to_string();
    let code = added["invite"]["code"].as_str().unwrap();
    let (status, joined) = running
        .call(
            "POST",
            "/api/v1/join",
            None,
            Some(json!({"code": code, "deviceName": format!("{name}'s desktop")})),
        )
        .await;
    assert_eq!(status, 200, "{joined}");
    (id, joined["token"].as_str().unwrap().to_string())
}

/// The team's provider account, added by the admin, made active, its numbers read: its id
/// and the numbers.
async fn team_account(running: &Running, admin: &str, account: Value) -> (String, Value) {
    let (status, provider) = running
        .call("POST", "/api/v1/providers", Some(admin), Some(account))
        .await;
    assert_eq!(status, 201, "{provider}");
    let provider = provider["id"].as_str().unwrap().to_string();
    for step in ["activate", "numbers/sync"] {
        let (status, said) = running
            .call(
                "POST",
                &format!("/api/v1/providers/{provider}/{step}"),
                Some(admin),
                None,
            )
            .await;
        assert_eq!(status, 200, "{step}: {said}");
    }
    let (_, numbers) = running
        .call("GET", "/api/v1/numbers", Some(admin), None)
        .await;
    (provider, numbers)
}

/// These agents' desktops say they are available.
async fn available(running: &Running, tokens: &[&str]) {
    for token in tokens {
        let (status, _) = running
            .call(
                "PUT",
                "/api/v1/me/presence",
                Some(token),
                Some(json!({"presence": "available"})),
            )
            .await;
        assert_eq!(status, 204);
    }
}

fn queue_input(name: &str, members: &[&str]) -> Value {
    json!({
        "name": name,
        "strategy": "ring_all",
        "members": members,
        "ringTimeoutSecs": 20,
        "maxWaitSecs": 300,
        "maxSize": 5,
        "overflow": {"type": "voicemail"},
        "greeting": "Sales is busy. Leave a message."
    })
}

async fn waiting(running: &Running, token: &str) -> i64 {
    let (status, queues) = running
        .call("GET", "/api/v1/queues", Some(token), None)
        .await;
    assert_eq!(status, 200, "{queues}");
    queues[0]["waiting"].as_i64().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the Prism spec mocks: run through scripts/test.sh"]
async fn a_queue_rings_its_agents_takes_messages_and_refuses_what_it_did_not_write() {
    let prism = std::env::var("RINGDESK_PRISM_TWILIO").expect("run scripts/test.sh");
    let mut endpoints = Endpoints::all_at(&prism).unwrap();
    endpoints.twilio_sip = Some("127.0.0.1:9".into());
    let running = start(endpoints).await;
    let admin = first_admin(&running).await;
    let (provider, numbers) = team_account(
        &running,
        &admin,
        json!({"kind": "twilio", "name": "Team Twilio", "credentials": {"accountSid": SID, "authToken": TOKEN}}),
    )
    .await;
    let number_id = numbers[0]["id"].as_str().unwrap().to_string();
    let e164 = numbers[0]["phoneNumber"].as_str().unwrap().to_string();
    let (bea, bea_token) = agent(&running, &admin, "Bea").await;
    let (cy, cy_token) = agent(&running, &admin, "Cy").await;

    // Queues are an admin's to make, and bad ones are refused with the reason.
    let (status, _) = running
        .call(
            "POST",
            "/api/v1/queues",
            Some(&bea_token),
            Some(queue_input("Sales", &[&bea])),
        )
        .await;
    assert_eq!(status, 403);
    let mut bad = queue_input("Sales", &[&bea, &bea]);
    let (status, said) = running
        .call_direct("POST", "/api/v1/queues", Some(&admin), Some(bad.clone()))
        .await;
    assert_eq!(
        (status, said["error"].as_str()),
        (422, Some("a member appears twice"))
    );
    bad["members"] = json!([uuid::Uuid::new_v4().to_string()]);
    let (status, said) = running
        .call("POST", "/api/v1/queues", Some(&admin), Some(bad))
        .await;
    assert_eq!(status, 422, "{said}");
    let (status, sales) = running
        .call(
            "POST",
            "/api/v1/queues",
            Some(&admin),
            Some(queue_input("Sales", &[&bea, &cy])),
        )
        .await;
    assert_eq!(status, 201, "{sales}");
    let sales_id = sales["id"].as_str().unwrap().to_string();
    let (status, _) = running
        .call(
            "POST",
            "/api/v1/queues",
            Some(&admin),
            Some(queue_input("sales", &[])),
        )
        .await;
    assert_eq!(status, 422, "the name is taken, whatever its case");
    let (status, routed) = running
        .call(
            "PUT",
            &format!("/api/v1/numbers/{number_id}/route"),
            Some(&admin),
            Some(json!({"type": "queue", "queue": sales_id})),
        )
        .await;
    assert_eq!(status, 200, "{routed}");
    let (status, music) = running
        .call("GET", "/audio/hold-music.wav", None, None)
        .await;
    assert_eq!(status, 200, "{music}");

    // 1. Nobody signed in (their desktops joined, then fell silent past the grace period):
    //    straight to the queue's voicemail.
    tokio::time::sleep(std::time::Duration::from_secs(GRACE + 1)).await;
    let caller = |sid: &str| {
        format!(
            "CallSid={sid}&From=%2B14155552671&To={}&CallStatus=ringing",
            e164.replace('+', "%2B")
        )
    };
    let (status, twiml) = running.voice(&provider, &caller("CA1")).await;
    assert_eq!(status, 200);
    assert!(
        twiml.contains("<Say>Sales is busy. Leave a message.</Say><Record "),
        "{twiml}"
    );
    let text_url = attribute(&twiml, "transcribeCallback");
    let done_url = attribute(&twiml, "action");
    // A step URL the server did not sign (its query changed) is refused.
    let forged = text_url.replace("do=vm_text", "do=vm_done");
    let (status, refused) = running
        .twilio(
            path(&forged),
            "CallSid=CA1&TranscriptionStatus=completed&TranscriptionText=x",
        )
        .await;
    assert_eq!(status, 200);
    assert!(refused.contains("<Hangup/>"), "{refused}");
    let (_, thanks) = running
        .twilio(
            path(&done_url),
            "CallSid=CA1&RecordingUrl=https%3A%2F%2Fapi.twilio.com%2Fx&RecordingDuration=4",
        )
        .await;
    assert!(
        thanks.contains("<Say>Thank you. Goodbye.</Say><Hangup/>"),
        "{thanks}"
    );
    let (status, _) = running
        .twilio(
            path(&text_url),
            "CallSid=CA1&TranscriptionStatus=completed&TranscriptionText=Please+call+me+back+about+the+quote",
        )
        .await;
    assert_eq!(status, 200);
    let (status, boxed) = running
        .call("GET", "/api/v1/voicemails", Some(&bea_token), None)
        .await;
    assert_eq!(status, 200, "{boxed}");
    assert_eq!(
        boxed[0]["transcription"],
        "Please call me back about the quote"
    );
    assert_eq!(boxed[0]["status"], "new");
    assert_eq!(boxed[0]["caller"], "+14155552671");
    assert_eq!(boxed[0]["hasAudio"], false, "no recording event yet");
    let message = boxed[0]["id"].as_str().unwrap().to_string();
    let (status, _) = running
        .call(
            "PUT",
            &format!("/api/v1/voicemails/{message}/status"),
            Some(&bea_token),
            Some(json!({"status": "listened"})),
        )
        .await;
    assert_eq!(status, 204);
    let (_, listened) = running
        .call(
            "GET",
            "/api/v1/voicemails?status=listened",
            Some(&bea_token),
            None,
        )
        .await;
    assert_eq!(listened.as_array().unwrap().len(), 1);
    let (_, found) = running
        .call("GET", "/api/v1/voicemails?q=quote", Some(&cy_token), None)
        .await;
    assert_eq!(found[0]["status"], "new", "Cy's own status: {found}");
    // Olga is no member: not her box.
    let (_, none) = running
        .call("GET", "/api/v1/voicemails", Some(&admin), None)
        .await;
    assert_eq!(none, json!([]));
    for (method, what, body) in [
        ("GET", "audio", None),
        ("PUT", "status", Some(json!({"status": "archived"}))),
    ] {
        let (status, _) = running
            .call(
                method,
                &format!("/api/v1/voicemails/{message}/{what}"),
                Some(&admin),
                body,
            )
            .await;
        assert_eq!(status, 404, "{what}");
    }

    // 2. Both signed in: ring-all; the first answer wins, the second is refused.
    available(&running, &[&bea_token, &cy_token]).await;
    // Its number records its calls: so is an agent's talk with a queue's caller.
    let (status, said) = running
        .call(
            "PUT",
            &format!("/api/v1/numbers/{number_id}/recording"),
            Some(&admin),
            Some(json!({"recordCalls": true})),
        )
        .await;
    assert_eq!(status, 200, "{said}");
    let (_, offer) = running.voice(&provider, &caller("CA2")).await;
    assert!(
        offer.contains(&format!(
            " record=\"record-from-answer-dual\" recordingStatusCallback=\"{PUBLIC}/webhooks/{provider}\""
        )),
        "{offer}"
    );
    let answers = answer_urls(&offer);
    assert_eq!(answers.len(), 2, "{offer}");
    assert!(offer.contains("timeout=\"20\""), "{offer}");
    assert_eq!(waiting(&running, &bea_token).await, 1);
    let (_, first) = running.twilio(path(&answers[1]), "CallSid=CA3").await;
    let (_, second) = running.twilio(path(&answers[0]), "CallSid=CA4").await;
    assert!(
        first.ends_with("<Response></Response>"),
        "connected: {first}"
    );
    assert!(second.contains("<Hangup/>"), "answered second: {second}");
    let (_, over) = running
        .twilio(
            path(&attribute(&offer, "action")),
            "CallSid=CA2&DialCallStatus=completed",
        )
        .await;
    assert!(over.contains("<Hangup/>"), "{over}");
    assert_eq!(waiting(&running, &bea_token).await, 0);

    // 3. A caller who hangs up while offered leaves the queue.
    let (_, offer) = running.voice(&provider, &caller("CA5")).await;
    assert_eq!(answer_urls(&offer).len(), 2, "{offer}");
    assert_eq!(waiting(&running, &admin).await, 1);
    let (status, _) = running
        .twilio(
            &format!("/webhooks/{provider}"),
            &format!("CallSid=CA5&From=%2B14155552671&To={}&CallStatus=completed&Direction=inbound&AccountSid={SID}&CallDuration=3", e164.replace('+', "%2B")),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(waiting(&running, &admin).await, 0);

    // 4. A full queue overflows at once.
    let mut small = queue_input("Sales", &[&bea, &cy]);
    small["maxSize"] = json!(1);
    let (status, saved) = running
        .call(
            "PUT",
            &format!("/api/v1/queues/{sales_id}"),
            Some(&admin),
            Some(small),
        )
        .await;
    assert_eq!(status, 200, "{saved}");
    let (_, offer) = running.voice(&provider, &caller("CA6")).await;
    assert_eq!(answer_urls(&offer).len(), 2, "{offer}");
    let (_, overflow) = running.voice(&provider, &caller("CA7")).await;
    assert!(overflow.contains("<Record "), "{overflow}");

    // 4b. The queue's own recordings (an admin's): its greeting is played instead of spoken,
    //     its hold music instead of the server's.
    let greeting = b"ID3\x04\x00\x00\x00\x00\x00\x00 Sales greeting".to_vec();
    let music = [b"RIFF\x24\x00\x00\x00WAVEfmt ".as_slice(), &[1; 64]].concat();
    let sound = |what: &str| format!("/api/v1/queues/{sales_id}/audio/{what}");
    let (status, _) = running
        .upload(
            &sound("greeting"),
            &bea_token,
            "audio/mpeg",
            greeting.clone(),
        )
        .await;
    assert_eq!(status, 403, "an agent uploads nothing");
    let (status, said) = running
        .upload(&sound("greeting"), &admin, "audio/mpeg", b"<html>".to_vec())
        .await;
    assert_eq!(status, 422, "{said}");
    for (what, kind, bytes) in [
        ("greeting", "audio/mpeg", greeting.clone()),
        ("hold-music", "audio/wav", music.clone()),
    ] {
        let (status, said) = running.upload(&sound(what), &admin, kind, bytes).await;
        assert_eq!(status, 204, "{what}: {said}");
    }
    let (_, listed) = running
        .call("GET", "/api/v1/queues", Some(&bea_token), None)
        .await;
    assert_eq!(
        (
            &listed[0]["holdMusicUploaded"],
            &listed[0]["greetingUploaded"]
        ),
        (&json!(true), &json!(true)),
        "{listed}"
    );
    let (_, overflow) = running.voice(&provider, &caller("CA7b")).await;
    let played = format!("{PUBLIC}/audio/queues/{sales_id}/greeting.mp3");
    assert!(
        overflow.contains(&format!("<Play>{played}</Play><Record ")),
        "{overflow}"
    );
    let fetched = reqwest::get(format!("{}{}", running.checked, path(&played)))
        .await
        .unwrap();
    assert_eq!(fetched.headers()["content-type"], "audio/mpeg");
    assert_eq!(fetched.bytes().await.unwrap().to_vec(), greeting);
    // Nobody took CA6: both agents passed over, the caller holds to the queue's music.
    let (_, hold) = running
        .twilio(
            path(&attribute(&offer, "action")),
            "CallSid=CA6&DialCallStatus=no-answer",
        )
        .await;
    assert!(
        hold.contains(&format!(
            "<Play>{PUBLIC}/audio/queues/{sales_id}/hold-music.wav</Play>"
        )),
        "{hold}"
    );
    let (status, _) = running
        .call("DELETE", &sound("greeting"), Some(&admin), None)
        .await;
    assert_eq!(status, 204);
    let (status, _) = running
        .call("DELETE", &sound("greeting"), Some(&admin), None)
        .await;
    assert_eq!(status, 404, "spoken again already");

    // 5. A deleted queue: its number apologises.
    let (status, _) = running
        .call(
            "DELETE",
            &format!("/api/v1/queues/{sales_id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (_, sorry) = running.voice(&provider, &caller("CA8")).await;
    assert!(
        sorry.contains("<Say>Sorry, nobody can take your call"),
        "{sorry}"
    );
    let (status, _) = running
        .call(
            "DELETE",
            &format!("/api/v1/queues/{sales_id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, 404);

    // 6. A number routed to Bea, who takes voicemail: signed out, the caller leaves her a
    //    message at once; signed in, her softphone rings and, unanswered, the same.
    let (status, _) = running
        .call(
            "PUT",
            &format!("/api/v1/numbers/{number_id}/route"),
            Some(&admin),
            Some(json!({"type": "user", "userId": bea})),
        )
        .await;
    assert_eq!(status, 200);
    tokio::time::sleep(std::time::Duration::from_secs(GRACE + 1)).await;
    let (_, away) = running.voice(&provider, &caller("CA9")).await;
    assert!(
        away.contains("<Say>Sorry, Bea cannot take your call right now. Please leave a message after the tone.</Say><Record "),
        "{away}"
    );
    available(&running, &[&bea_token]).await;
    let (_, ringing) = running.voice(&provider, &caller("CA10")).await;
    assert!(ringing.contains("timeout=\"25\""), "{ringing}");
    assert!(
        ringing.contains("referUrl="),
        "she may still pass it on: {ringing}"
    );
    let after = attribute(&ringing, "action");
    let (_, answered) = running
        .twilio(path(&after), "CallSid=CA10&DialCallStatus=completed")
        .await;
    assert!(answered.contains("<Hangup/>"), "taken: {answered}");
    let (_, unanswered) = running
        .twilio(path(&after), "CallSid=CA10&DialCallStatus=no-answer")
        .await;
    assert!(
        unanswered.contains("Bea cannot take your call"),
        "{unanswered}"
    );
    let text = attribute(&unanswered, "transcribeCallback");
    let (status, _) = running
        .twilio(
            path(&text),
            "CallSid=CA10&TranscriptionStatus=completed&TranscriptionText=Ring+me",
        )
        .await;
    assert_eq!(status, 200);
    let (_, hers) = running
        .call("GET", "/api/v1/voicemails?q=Ring", Some(&bea_token), None)
        .await;
    assert_eq!(hers[0]["box"]["type"], "user", "{hers}");
    assert_eq!(hers[0]["caller"], "+14155552671", "{hers}");
    let (_, cys) = running
        .call("GET", "/api/v1/voicemails?q=Ring", Some(&cy_token), None)
        .await;
    assert_eq!(cys, json!([]), "Bea's own box");

    // Her own greeting, recorded and uploaded from her desktop, is played instead.
    let (status, said) = running
        .upload(
            "/api/v1/me/greeting",
            &bea_token,
            "audio/wav",
            music.clone(),
        )
        .await;
    assert_eq!(status, 204, "{said}");
    let (_, greeting) = running
        .call("GET", "/api/v1/me/greeting", Some(&bea_token), None)
        .await;
    assert_eq!(greeting["uploaded"], true);
    let (_, ringing) = running.voice(&provider, &caller("CA11")).await;
    let (_, recorded) = running
        .twilio(
            path(&attribute(&ringing, "action")),
            "CallSid=CA11&DialCallStatus=no-answer",
        )
        .await;
    assert!(
        recorded.contains(&format!(
            "<Play>{PUBLIC}/audio/agents/{bea}/greeting.wav</Play><Record "
        )),
        "{recorded}"
    );

    // 7. A restart loses no message, text or status.
    let before = running
        .call("GET", "/api/v1/voicemails", Some(&bea_token), None)
        .await
        .1;
    assert_eq!(before.as_array().unwrap().len(), 6, "{before}");
    let dir = running.stop().await;
    let mut endpoints = Endpoints::all_at(&prism).unwrap();
    endpoints.twilio_sip = Some("127.0.0.1:9".into());
    let running = start_in(dir, endpoints).await;
    let (status, after) = running
        .call("GET", "/api/v1/voicemails", Some(&bea_token), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(after, before);
}

/// Vonage, with what it has: its `connect` takes one endpoint, so a ring-all queue rings its
/// members one after another (a synchronous connect's events at the step URL: ringing moves
/// nothing, a timeout rings the next, an answer is the agent's); agents are reached at the
/// SIP login the team's PBX gave them (Vonage makes none); an agent who takes voicemail and
/// does not answer gets a message whose audio and transcription (a file behind a link) are
/// copied from Vonage's API with the application's JWT, and a copy that failed is made by a
/// later reconcile pass; a caller who gives up while offered leaves the queue; a member
/// deleted while her phone rings loses no caller.
#[tokio::test(flavor = "multi_thread")]
async fn a_vonage_queue_rings_its_members_one_after_another_and_takes_messages() {
    use wiremock::matchers::{header_exists, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let audio = b"ID3\x04\x00\x00\x00\x00\x00\x00 a Vonage voicemail".to_vec();
    let vonage = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/account/numbers"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "count": 1,
            "numbers": [{"country": "US", "msisdn": "12125550100", "type": "landline", "features": ["VOICE"]}]
        })))
        .mount(&vonage)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/files/REC1"))
        .and(header_exists("authorization"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(audio.clone()))
        .mount(&vonage)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/files/TXT1"))
        .and(header_exists("authorization"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "channels": [{"transcript": [{"sentence": "Hi Bea, it's Dana."}, {"sentence": "Call me back."}]}]
        })))
        .mount(&vonage)
        .await;
    let mut endpoints = Endpoints::all_at(&vonage.uri()).unwrap();
    endpoints.vonage_calls = format!("{}/v1/calls", vonage.uri()).parse().unwrap();
    let running = start(endpoints).await;
    let admin = first_admin(&running).await;
    let (provider, numbers) = team_account(
        &running,
        &admin,
        json!({"kind": "vonage", "name": "Team Vonage", "credentials": {
            "apiKey": "abcd1234",
            "apiSecret": "api-secret-9",
            "applicationId": "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee",
            "privateKey": include_str!("../../providers/tests/fixtures/vonage_test_private.pem"),
            "webhookSecret": VONAGE_SECRET
        }}),
    )
    .await;
    let number_id = numbers[0]["id"].as_str().unwrap().to_string();
    let (bea, bea_token) = joined(&running, &admin, "Bea").await;
    let (cy, cy_token) = joined(&running, &admin, "Cy").await;
    // Vonage makes no SIP logins: the PBX's, given by the admin (not by an agent; not a
    // malformed one).
    let give = |who: &str, user: &str| {
        (
            format!("/api/v1/agents/{who}/softphone"),
            json!({"sipUser": user, "sipDomain": "PBX.example.com", "registrar": "pbx.example.com:5060", "password": "pbx-secret-1"}),
        )
    };
    let (url, body) = give(&bea, "bea");
    let (status, _) = running
        .call("PUT", &url, Some(&bea_token), Some(body.clone()))
        .await;
    assert_eq!(status, 403);
    let (status, said) = running
        .call(
            "PUT",
            &url,
            Some(&admin),
            Some(json!({"sipUser": "b ea", "sipDomain": "pbx.example.com", "registrar": "pbx", "password": "x"})),
        )
        .await;
    assert_eq!(status, 422, "{said}");
    for (who, user) in [(&bea, "bea"), (&cy, "cy")] {
        let (url, body) = give(who, user);
        let (status, login) = running.call("PUT", &url, Some(&admin), Some(body)).await;
        assert_eq!(status, 200, "{login}");
        assert_eq!(login["sipDomain"], "pbx.example.com");
    }
    let (status, support) = running
        .call(
            "POST",
            "/api/v1/queues",
            Some(&admin),
            Some(queue_input("Support", &[&bea, &cy])),
        )
        .await;
    assert_eq!(status, 201, "{support}");
    let route = |to: Value| {
        let number_id = number_id.clone();
        let admin = admin.clone();
        let running = &running;
        async move {
            let (status, routed) = running
                .call(
                    "PUT",
                    &format!("/api/v1/numbers/{number_id}/route"),
                    Some(&admin),
                    Some(to),
                )
                .await;
            assert_eq!(status, 200, "{routed}");
        }
    };
    route(json!({"type": "queue", "queue": support["id"]})).await;
    available(&running, &[&bea_token, &cy_token]).await;
    let voice = format!("/webhooks/{provider}/voice");
    let caller = |uuid: &str| json!({"uuid": uuid, "conversation_uuid": format!("CON-{uuid}"), "from": "14155552671", "to": "12125550100"});
    let event = |status: &str| json!({"uuid": "leg-1", "conversation_uuid": "CON-V1", "status": status, "direction": "outbound", "timestamp": "2026-12-08T10:00:00.000Z"});
    let rung = |ncco: &Value| {
        assert_eq!(ncco[0]["action"], "connect", "{ncco}");
        assert_eq!(ncco[0]["eventType"], "synchronous", "{ncco}");
        assert_eq!(ncco[0]["endpoint"].as_array().unwrap().len(), 1, "{ncco}");
        (
            ncco[0]["endpoint"][0]["uri"].as_str().unwrap().to_string(),
            ncco[0]["eventUrl"][0].as_str().unwrap().to_string(),
        )
    };

    // 1. Ring-all on Vonage: Bea first, alone; still ringing moves nothing; her timeout rings
    //    Cy; Cy answers: the call is his.
    let (status, ncco) = running.vonage(&voice, &caller("V1")).await;
    assert_eq!(status, 200, "{ncco}");
    let (uri, after) = rung(&ncco);
    assert_eq!(uri, "sip:bea@pbx.example.com");
    assert_eq!(
        ncco[0]["endpoint"][0]["headers"]["Ringdesk-Queue"],
        "Support"
    );
    let (status, _) = running.vonage(&after, &event("ringing")).await;
    assert_eq!(status, 200);
    assert_eq!(waiting(&running, &bea_token).await, 1);
    let (_, next) = running.vonage(&after, &event("timeout")).await;
    let (uri, cy_after) = rung(&next);
    assert_eq!(uri, "sip:cy@pbx.example.com", "{next}");
    // A late report about Bea's leg changes nothing now that Cy rings.
    let (_, late) = running.vonage(&after, &event("unanswered")).await;
    assert_ne!(late[0]["action"], "connect", "{late}");
    let (_, taken) = running.vonage(&cy_after, &event("answered")).await;
    assert_ne!(taken[0]["action"], "connect", "{taken}");
    assert_eq!(waiting(&running, &bea_token).await, 0, "answered by Cy");
    let (status, _) = running.vonage(&cy_after, &event("completed")).await;
    assert_eq!(status, 200);

    // 2. Both pass: the caller holds (music, then `notify` asks again).
    let (_, ncco) = running.vonage(&voice, &caller("V2")).await;
    let (_, after) = rung(&ncco);
    let (_, next) = running.vonage(&after, &event("busy")).await;
    let (_, after) = rung(&next);
    let (_, hold) = running.vonage(&after, &event("rejected")).await;
    let actions: Vec<&str> = hold
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["talk", "stream", "notify"], "{hold}");
    assert!(hold[1]["streamUrl"][0]
        .as_str()
        .unwrap()
        .ends_with("/audio/hold-music.wav"));
    let (_, again) = running
        .vonage(
            hold[2]["eventUrl"][0].as_str().unwrap(),
            &json!({"conversation_uuid": "CON-V2", "payload": {}}),
        )
        .await;
    let (uri, again_after) = rung(&again);
    assert_eq!(uri, "sip:bea@pbx.example.com", "a new round: {again}");
    // The caller gives up while Bea rings: they leave the queue, Bea is free.
    let (status, _) = running.vonage(&again_after, &event("cancelled")).await;
    assert_eq!(status, 200);
    assert_eq!(waiting(&running, &bea_token).await, 0);

    // 3. A number routed to Bea, who takes voicemail: her PBX phone rings; unanswered, the
    //    caller leaves a message; its audio and text are copied from Vonage.
    route(json!({"type": "user", "userId": bea})).await;
    let (_, ncco) = running.vonage(&voice, &caller("V3")).await;
    let (uri, after) = rung(&ncco);
    assert_eq!(uri, "sip:bea@pbx.example.com");
    assert_eq!(ncco[0]["timeout"], 25);
    let (_, ringing) = running.vonage(&after, &event("ringing")).await;
    assert_ne!(ringing[0]["action"], "record", "{ringing}");
    let (_, message) = running.vonage(&after, &event("timeout")).await;
    assert_eq!(message[0]["action"], "talk", "{message}");
    assert!(message[0]["text"]
        .as_str()
        .unwrap()
        .contains("Bea cannot take your call"));
    assert_eq!(message[1]["action"], "record", "{message}");
    let ready = message[1]["eventUrl"][0].as_str().unwrap().to_string();
    let text = message[1]["transcription"]["eventUrl"][0]
        .as_str()
        .unwrap()
        .to_string();
    let (_, bye) = running
        .vonage(
            message[2]["eventUrl"][0].as_str().unwrap(),
            &json!({"conversation_uuid": "CON-V3", "payload": {}}),
        )
        .await;
    assert_eq!(bye[0]["text"], "Thank you. Goodbye.", "{bye}");
    let (status, _) = running
        .vonage(
            &ready,
            &json!({
                "start_time": "2026-12-08T10:00:00Z",
                "recording_url": format!("{}/v1/files/REC1", vonage.uri()),
                "size": 12222,
                "recording_uuid": "r-1",
                "end_time": "2026-12-08T10:00:09Z",
                "conversation_uuid": "CON-V3",
                "timestamp": "2026-12-08T10:00:10Z"
            }),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = running
        .vonage(
            &text,
            &json!({
                "conversation_uuid": "CON-V3",
                "type": "transcription",
                "status": "transcribed",
                "recording_uuid": "r-1",
                "transcription_url": format!("{}/v1/files/TXT1", vonage.uri())
            }),
        )
        .await;
    assert_eq!(status, 200);
    let mut hers = Value::Null;
    for _ in 0..100 {
        hers = running
            .call("GET", "/api/v1/voicemails", Some(&bea_token), None)
            .await
            .1;
        if hers[0]["hasAudio"] == true && hers[0]["transcription"].is_string() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        hers[0]["transcription"], "Hi Bea, it's Dana. Call me back.",
        "{hers}"
    );
    assert_eq!(hers[0]["hasAudio"], true, "{hers}");
    assert_eq!(hers[0]["caller"], "+14155552671", "{hers}");
    assert_eq!(hers[0]["durationSecs"], 9, "{hers}");
    let response = reqwest::Client::new()
        .get(format!(
            "{}/api/v1/voicemails/{}/audio",
            running.address,
            hers[0]["id"].as_str().unwrap()
        ))
        .bearer_auth(&bea_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.bytes().await.unwrap().to_vec(), audio);

    // A message whose copy failed (Vonage not serving the file yet) is copied by a later
    // reconcile pass, from where Vonage keeps it.
    let voicemails = &running.server.voicemails;
    let late = voicemails
        .repo
        .voicemail_for(
            ringdesk_core::queue::VoicemailBox::User {
                user_id: ringdesk_core::UserId(bea.parse().unwrap()),
            },
            ringdesk_core::ProviderId(provider.parse().unwrap()),
            "V4",
            "+14155552671",
            time::OffsetDateTime::now_utc(),
        )
        .await
        .unwrap();
    voicemails
        .repo
        .voicemail_recording(late, &format!("{}/v1/files/REC2", vonage.uri()), Some(3))
        .await
        .unwrap();
    let later = time::OffsetDateTime::now_utc() + time::Duration::minutes(3);
    assert_eq!(voicemails.reconcile(later).await, 0, "not there yet: 404");
    Mock::given(method("GET"))
        .and(path("/v1/files/REC2"))
        .and(header_exists("authorization"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(audio.clone()))
        .mount(&vonage)
        .await;
    assert_eq!(
        voicemails.reconcile(time::OffsetDateTime::now_utc()).await,
        0,
        "its own tries still have time"
    );
    assert_eq!(voicemails.reconcile(later).await, 1);
    assert_eq!(voicemails.reconcile(later).await, 0, "copied once");

    // A member deleted while her phone rings: the caller is not lost — her ring ends, the
    // next member rings, and a late word about her leg changes nothing.
    route(json!({"type": "queue", "queue": support["id"]})).await;
    let (_, ncco) = running.vonage(&voice, &caller("V5")).await;
    let (uri, after) = rung(&ncco);
    assert_eq!(uri, "sip:bea@pbx.example.com");
    let (status, _) = running
        .call(
            "DELETE",
            &format!("/api/v1/agents/{bea}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (_, next) = running.vonage(&after, &event("timeout")).await;
    let (uri, cy_after) = rung(&next);
    assert_eq!(uri, "sip:cy@pbx.example.com", "{next}");
    let (_, late) = running.vonage(&after, &event("answered")).await;
    assert_ne!(late[0]["action"], "connect", "{late}");
    let (_, taken) = running.vonage(&cy_after, &event("answered")).await;
    assert_ne!(taken[0]["action"], "connect", "{taken}");
    assert_eq!(waiting(&running, &cy_token).await, 0, "answered by Cy");
    running.stop().await;
}
