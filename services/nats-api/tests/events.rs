//! Dashboard events on NATS: presence changes announced by trmm-nats-api with the agent's client and site, the
//! AgentGateway's PublishEvents/WatchEvents, and subjects no agent can reach (the auth callout's permissions
//! enforced by a real nats-server).

mod auth_support;

use async_nats::Subscriber;
use auth_support::{next_payload, subscribe_live, Suite, DEADLINE};
use futures_util::{FutureExt, StreamExt};
use trmm_protocol::events::{AgentTag, Event, HistoryEntry};
use trmm_rpc::client::GatewayError;

/// The next message on `sub` that is an event.
async fn next_event(sub: &mut Subscriber) -> Event {
    loop {
        let msg = tokio::time::timeout(DEADLINE, sub.next())
            .await
            .expect("no event in time")
            .expect("subscription closed");
        if let Ok(event) = Event::from_json(&msg.payload) {
            return event;
        }
    }
}

/// The agent's client and site, as the suite created them.
async fn placement(suite: &Suite, agent_id: &str) -> (i32, i32) {
    let conn = suite.db.pool().get().await.unwrap();
    let agent = trmm_db::agents::find_by_agent_id(&conn, agent_id)
        .await
        .unwrap()
        .unwrap();
    (agent.client.0, agent.site.0)
}

#[tokio::test]
async fn presence_changes_are_announced_with_the_agents_client_and_site() {
    let suite = Suite::start().await;
    let (agent_id, token) = suite.add_agent().await;
    let (client, site) = placement(&suite, &agent_id).await;
    let mut events = subscribe_live(&suite.service, "trmm.events.agent", "trmm.events.agent").await;

    let agent = suite.connect(&agent_id, &token).await.unwrap();
    let Event::AgentOnline(online) = next_event(&mut events).await else {
        panic!("not an online event")
    };
    let expected = AgentTag {
        agent_id: agent_id.clone(),
        hostname: "host".into(),
        client,
        site,
    };
    assert_eq!(online.agent, expected);
    agent.nats.drain().await.unwrap();
    let Event::AgentOffline(offline) = next_event(&mut events).await else {
        panic!("not an offline event")
    };
    assert_eq!(offline.agent, expected);
    assert!(offline.at >= online.at);
}

fn finished(id: i64) -> Event {
    Event::HistoryFinished(HistoryEntry {
        id,
        agent: AgentTag {
            agent_id: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn".into(),
            hostname: "web-1".into(),
            client: 1,
            site: 2,
        },
        kind: "script_run".into(),
        at: chrono::Utc::now(),
    })
}

#[tokio::test]
async fn the_gateway_publishes_events_and_streams_them_to_watchers() {
    let suite = Suite::start().await;
    let gateway = suite.gateway(None);
    let mut watch = Box::pin(gateway.watch_events().await.unwrap());
    // Until the watch is subscribed, what is published passes it by: publish until one arrives.
    let first = loop {
        gateway.publish_events(&[finished(1)]).await.unwrap();
        if let Ok(Some(item)) = tokio::time::timeout(std::time::Duration::from_millis(200), watch.next()).await {
            break item.unwrap();
        }
    };
    let Event::HistoryFinished(first) = first else {
        panic!("not a history event")
    };
    assert_eq!((first.id, first.kind.as_str(), first.agent.site), (1, "script_run", 2));
    gateway.publish_events(&[finished(2), finished(3)]).await.unwrap();
    let mut ids = Vec::new();
    while ids.len() < 2 {
        match watch.next().await.unwrap().unwrap() {
            Event::HistoryFinished(h) if h.id > 1 => ids.push(h.id),
            _ => {}
        }
    }
    assert_eq!(ids, [2, 3]);

    // Anything that is not an event is refused, and nothing of that batch is published.
    let mut raw = gateway.raw();
    let bad = trmm_rpc::gateway::PublishEventsRequest {
        events: vec![finished(4).to_json(), br#"{"func": "rawcmd"}"#.to_vec()],
    };
    let refused = raw.publish_events(bad).await.unwrap_err();
    assert!(matches!(GatewayError::from(refused), GatewayError::Invalid(_)));
    gateway.publish_events(&[finished(5)]).await.unwrap();
    let Event::HistoryFinished(next) = watch.next().await.unwrap().unwrap() else {
        panic!("not a history event")
    };
    assert_eq!(next.id, 5, "the refused batch's first event was not published");
}

#[tokio::test]
async fn agents_can_neither_hear_nor_forge_dashboard_events() {
    let suite = Suite::start().await;
    let (agent_id, token) = suite.add_agent().await;
    let mut agent = suite.connect(&agent_id, &token).await.unwrap();
    let mut inbox = subscribe_live(&agent.nats, &agent_id, &agent_id).await;
    // Alerts only: the agent's own connection is announced on trmm.events.agent meanwhile.
    let mut watch = subscribe_live(&suite.service, "trmm.events.alert", "trmm.events.alert").await;

    let mut spy = agent.nats.subscribe("trmm.events.>".to_owned()).await.unwrap();
    agent.wait_for_violation("subscription", "trmm.events.>").await;
    let mut narrow = agent.nats.subscribe("trmm.events.alert".to_owned()).await.unwrap();
    agent.wait_for_violation("subscription", "trmm.events.alert").await;
    let forged = finished(9).to_json();
    agent
        .nats
        .publish("trmm.events.history".to_owned(), forged.into())
        .await
        .unwrap();
    agent.wait_for_violation("publish", "trmm.events.history").await;

    // The services' identity publishes there; the watcher sees that, and never the agent's forgery.
    suite
        .service
        .publish("trmm.events.alert".to_owned(), "from the server".into())
        .await
        .unwrap();
    assert_eq!(next_payload(&mut watch).await, "from the server");
    // Ordered delivery: a copy to the agent would have come before this echo of its own subject.
    agent.nats.publish(agent_id.clone(), "echo".into()).await.unwrap();
    assert_eq!(next_payload(&mut inbox).await, "echo");
    for sub in [&mut spy, &mut narrow] {
        let got = sub.next().now_or_never().flatten();
        assert!(got.is_none(), "the agent received {got:?}");
    }
}
