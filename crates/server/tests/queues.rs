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
    let (status, login) = running
        .call(
            "POST",
            &format!("/api/v1/agents/{id}/softphone"),
            Some(admin),
            None,
        )
        .await;
    assert_eq!(status, 200, "{login}");
    (id, joined["token"].as_str().unwrap().to_string())
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
    let (status, provider) = running
        .call(
            "POST",
            "/api/v1/providers",
            Some(&admin),
            Some(json!({"kind": "twilio", "name": "Team Twilio", "credentials": {"accountSid": SID, "authToken": TOKEN}})),
        )
        .await;
    assert_eq!(status, 201, "{provider}");
    let provider = provider["id"].as_str().unwrap().to_string();
    for step in ["activate", "numbers/sync"] {
        let (status, said) = running
            .call(
                "POST",
                &format!("/api/v1/providers/{provider}/{step}"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(status, 200, "{step}: {said}");
    }
    let (_, numbers) = running
        .call("GET", "/api/v1/numbers", Some(&admin), None)
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
    for token in [&bea_token, &cy_token] {
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
    let (_, offer) = running.voice(&provider, &caller("CA2")).await;
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
    let (status, _) = running
        .call(
            "PUT",
            "/api/v1/me/presence",
            Some(&bea_token),
            Some(json!({"presence": "available"})),
        )
        .await;
    assert_eq!(status, 204);
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

    // 7. A restart loses no message, text or status.
    let before = running
        .call("GET", "/api/v1/voicemails", Some(&bea_token), None)
        .await
        .1;
    assert_eq!(before.as_array().unwrap().len(), 4, "{before}");
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
