//! NATS auth: agents authenticated by trmm-nats-api's auth callout against Postgres, with
//! per-agent permissions enforced by a real nats-server running config/nats/nats-server.conf.

mod auth_support;

use async_nats::{ClientError, ConnectOptions, Event};
use auth_support::{assert_refused, next_payload, subscribe_live, Client, Suite};
use futures_util::FutureExt;

#[tokio::test]
async fn an_agent_uses_its_own_subjects_and_answers_requests() {
    let mut suite = Suite::start().await;
    let (agent_id, token) = suite.add_agent().await;
    let agent = suite.connect(&agent_id, &token).await.expect("the agent connects");

    // Commands from the server reach the agent.
    let mut commands = subscribe_live(&agent.nats, &agent_id, &agent_id).await;
    suite.service.publish(agent_id.clone(), "cmd".into()).await.unwrap();
    assert_eq!(next_payload(&mut commands).await, "cmd");

    // Telemetry on <id> (reply = type tag) and streamed output on <id>.x reach the server.
    let mut telemetry = subscribe_live(&suite.service, &format!("{agent_id}.>"), &format!("{agent_id}.probe")).await;
    agent
        .nats
        .publish_with_reply(agent_id.clone(), "agent-hello", "hello".into())
        .await
        .unwrap();
    assert_eq!(
        next_payload(&mut commands).await,
        "hello",
        "the agent sees its own publish"
    );
    agent
        .nats
        .publish(format!("{agent_id}.cmdoutput.1"), "out".into())
        .await
        .unwrap();
    assert_eq!(next_payload(&mut telemetry).await, "out");

    // A request from the server is answered on its inbox (allow_responses: one reply per request
    // delivered, so the agent must subscribe once, as the Go agent does).
    let responder = agent.nats.clone();
    tokio::spawn(async move {
        while let Some(msg) = futures_util::StreamExt::next(&mut commands).await {
            if let Some(reply) = msg.reply.filter(|r| r.starts_with("_INBOX.")) {
                responder.publish(reply, "pong".into()).await.unwrap();
            }
        }
    });
    let answer = suite
        .service
        .request(agent_id.clone(), "ping".into())
        .await
        .expect("the agent answers");
    assert_eq!(&answer.payload[..], b"pong");

    let metrics = suite.nats_api.wait_for_status("/metrics", 200).await;
    assert!(metrics.contains("trmm_nats_auth_allowed_total 1"), "{metrics}");
}

#[tokio::test]
async fn an_agent_cannot_publish_or_subscribe_on_another_agents_subjects() {
    let suite = Suite::start().await;
    let (a_id, a_token) = suite.add_agent().await;
    let (b_id, b_token) = suite.add_agent().await;
    let a = suite.connect(&a_id, &a_token).await.unwrap();
    let mut b = suite.connect(&b_id, &b_token).await.unwrap();
    let mut a_inbox = subscribe_live(&a.nats, &a_id, &a_id).await;
    let mut b_inbox = subscribe_live(&b.nats, &b_id, &b_id).await;

    b.nats.publish(a_id.clone(), "forged command".into()).await.unwrap();
    b.wait_for_violation("publish", &a_id).await;
    b.nats
        .publish(format!("{a_id}.cmdoutput.1"), "forged".into())
        .await
        .unwrap();
    b.wait_for_violation("publish", &format!("{a_id}.cmdoutput.1")).await;
    b.nats
        .publish("_INBOX.stolen".to_owned(), "forged reply".into())
        .await
        .unwrap();
    b.wait_for_violation("publish", "_INBOX.stolen").await;

    let mut spy = b.nats.subscribe(a_id.clone()).await.unwrap();
    b.wait_for_violation("subscription", &a_id).await;
    let mut wildcard = b.nats.subscribe(">".to_owned()).await.unwrap();
    b.wait_for_violation("subscription", ">").await;

    // Messages are ordered: A's first message is the probe, so B's publishes never arrived.
    suite.service.publish(a_id.clone(), "probe".into()).await.unwrap();
    assert_eq!(next_payload(&mut a_inbox).await, "probe");
    // And B's refused subscriptions got nothing: the server queues B's messages in order, so a
    // copy of the probe would have arrived before this echo.
    b.nats.publish(b_id.clone(), "echo".into()).await.unwrap();
    assert_eq!(next_payload(&mut b_inbox).await, "echo");
    for sub in [&mut spy, &mut wildcard] {
        let got = futures_util::StreamExt::next(sub).now_or_never().flatten();
        assert!(got.is_none(), "B received {got:?}");
    }
}

#[tokio::test]
async fn wrong_tokens_unknown_agents_and_anonymous_clients_are_refused() {
    let mut suite = Suite::start().await;
    let (a_id, a_token) = suite.add_agent().await;
    let (b_id, b_token) = suite.add_agent().await;

    assert_refused(suite.connect(&a_id, "not-the-token").await, "wrong password");
    assert_refused(suite.connect(&a_id, &b_token).await, "another agent's token");
    assert_refused(
        suite.connect(&"NoSuchAgent".repeat(4), "no-such-token").await,
        "unknown agent",
    );
    assert_refused(suite.connect("a.>", &a_token).await, "a subject pattern as user");
    let anonymous = ConnectOptions::new().connect(suite.nats.url()).await;
    assert_eq!(
        anonymous.err().map(|e| e.kind()),
        Some(async_nats::ConnectErrorKind::AuthorizationViolation),
        "a client without credentials"
    );
    let (user, _) = suite.auth.service();
    assert_refused(
        suite.connect(user, &a_token).await,
        "the service user with a wrong password",
    );

    // The right credentials still work, and the refusals are counted by reason.
    suite.connect(&b_id, &b_token).await.expect("B connects");
    let metrics = suite
        .nats_api
        .wait_for_answer("/metrics", 200, "trmm_nats_auth_denied_total{reason=\"wrong_token\"} 2")
        .await;
    for expected in [
        "trmm_nats_auth_denied_total{reason=\"unknown_agent\"} 1",
        "trmm_nats_auth_denied_total{reason=\"not_an_agent_id\"} 1",
        "trmm_nats_auth_denied_total{reason=\"no_credentials\"} 1",
        "trmm_nats_auth_allowed_total 1",
    ] {
        assert!(metrics.contains(expected), "{expected} missing:\n{metrics}");
    }
}

#[tokio::test]
async fn deleting_an_agent_disconnects_it_and_refuses_its_reconnects() {
    let suite = Suite::start().await;
    let (agent_id, token) = suite.add_agent().await;
    let (other_id, other_token) = suite.add_agent().await;
    let mut agent = suite.connect(&agent_id, &token).await.unwrap();
    let other = suite.connect(&other_id, &other_token).await.unwrap();

    suite.delete_agent(&agent_id).await;
    assert_eq!(suite.disconnect(&agent_id).await, 1, "one live connection closed");

    agent
        .wait_for_event("disconnected", |e| matches!(e, Event::Disconnected))
        .await;
    let refused = agent
        .wait_for_event(
            "refused reconnect",
            |e| matches!(e, Event::ClientError(ClientError::Other(s)) if s.contains("authorization violation")),
        )
        .await;
    assert!(refused.contains("authorization violation"), "{refused}");
    assert_refused(suite.connect(&agent_id, &token).await, "a deleted agent");

    // The other agent was left alone.
    assert_eq!(other.nats.connection_state(), async_nats::connection::State::Connected);
    other.nats.flush().await.expect("the other agent is still connected");
}

#[tokio::test]
async fn services_have_full_access() {
    let suite = Suite::start().await;
    let (user, password) = suite.auth.service();
    let other = Client::connect(&suite.nats.url(), user, password).await.unwrap();

    let mut everything = subscribe_live(&other.nats, ">", "probe").await;
    suite
        .service
        .publish("any.subject.at.all".to_owned(), "x".into())
        .await
        .unwrap();
    let msg = tokio::time::timeout(auth_support::DEADLINE, futures_util::StreamExt::next(&mut everything))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(msg.subject.as_str(), "any.subject.at.all");
}

#[tokio::test]
async fn the_callout_keeps_working_after_a_nats_server_restart() {
    let mut suite = Suite::start().await;
    let (agent_id, token) = suite.add_agent().await;
    suite
        .connect(&agent_id, &token)
        .await
        .expect("connects before the restart");

    suite.nats.stop().await;
    suite.nats_api.wait_for_answer("/readyz", 503, "nats_auth").await;
    suite.nats.restart().await;
    suite.nats_api.wait_for_status("/readyz", 200).await;

    // The callout connection may resubscribe a moment after it reports connected.
    let deadline = std::time::Instant::now() + auth_support::DEADLINE;
    loop {
        match suite.connect(&agent_id, &token).await {
            Ok(_) => break,
            // Polling: each attempt already waits for the server's answer.
            Err(_) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await
            }
            Err(e) => panic!("the agent was never let in after the restart: {e}"),
        }
    }
    let metrics = suite.nats_api.wait_for_status("/metrics", 200).await;
    assert!(metrics.contains("trmm_nats_auth_allowed_total 2"), "{metrics}");
}
