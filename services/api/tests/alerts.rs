//! The alert endpoints (PATCH /alerts/, /alerts/<pk>/, /alerts/bulk/): AlertSerializer's shape, the dashboard
//! bell, each filter, resolve/snooze/unsnooze/delete with upstream's messages, bulk actions and role scope.

mod common;

use chrono::{DateTime, TimeDelta, Utc};
use common::{agent_id, api_with_acme_hq, bravo_at_other, count, keys, user, TestApi};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use trmm_db::alerts::{self, Subject};
use trmm_db::checks::{self, CheckFields};
use trmm_db::{AgentPk, AlertId};

/// Agent alpha in Acme/HQ and bravo in Other/Main, with six alerts between them (and one custom one):
/// A alpha availability error 3 days old; B alpha check warning 1 hour old; C bravo check info 10 days old,
/// resolved; D bravo check error 2 hours old, snoozed; E alpha check warning 30 minutes old, hidden;
/// F custom error, just now.
struct World {
    api: TestApi,
    admin: String,
    acme: i64,
    other: i64,
    alpha: AgentPk,
    alpha_id: String,
    a: AlertId,
    b: AlertId,
    c: AlertId,
    d: AlertId,
    e: AlertId,
    f: AlertId,
}

async fn check_alert(api: &TestApi, agent: AgentPk, severity: &str, age: TimeDelta, hidden: bool) -> AlertId {
    let db = api.db.pool().get().await.unwrap();
    let ping = CheckFields {
        ip: Some("10.0.0.1".into()),
        fails_b4_alert: 1,
        ..Default::default()
    };
    let check = checks::create(&db, agent, "ping", &ping, "admin").await.unwrap();
    let message = "has a ping check: Ping 10.0.0.1 that failed.";
    let subject = Subject::Check(agent, check);
    let alert = alerts::open(&db, subject, message, severity, Utc::now() - age)
        .await
        .unwrap();
    alerts::set_state(&db, alert.id, severity, hidden).await.unwrap();
    alert.id
}

async fn world() -> World {
    let (api, admin, acme, site, installer) = api_with_acme_hq().await;
    let alpha_id = agent_id(1);
    let (alpha, _) = api.enroll(&installer, &alpha_id, "alpha", site).await;
    let (_, bravo, main) = bravo_at_other(&api, &admin).await;
    let (_, sites) = api.get("/clients/sites/", &admin).await;
    let other = sites.as_array().unwrap().iter().find(|s| s["id"] == main).unwrap()["client"]
        .as_i64()
        .unwrap();
    let (alpha, bravo) = (AgentPk(alpha as i32), AgentPk(bravo as i32));
    let db = api.db.pool().get().await.unwrap();
    let message = "alpha in Acme, HQ is overdue.";
    let three_days = Utc::now() - TimeDelta::days(3);
    let a = alerts::open(&db, Subject::Availability(alpha), message, "error", three_days)
        .await
        .unwrap()
        .id;
    alerts::set_state(&db, a, "error", false).await.unwrap();
    let b = check_alert(&api, alpha, "warning", TimeDelta::hours(1), false).await;
    let c = check_alert(&api, bravo, "info", TimeDelta::days(10), false).await;
    alerts::resolve_quietly(&db, &[c], Utc::now()).await.unwrap();
    let d = check_alert(&api, bravo, "error", TimeDelta::hours(2), false).await;
    alerts::snooze(&db, &[d], Utc::now() + TimeDelta::days(1))
        .await
        .unwrap();
    let e = check_alert(&api, alpha, "warning", TimeDelta::minutes(30), true).await;
    let sql = "INSERT INTO alerts (alert_type, message, severity) VALUES ('custom', 'Backups failed', 'error')
               RETURNING id";
    let f = AlertId(db.query_one(sql, &[]).await.unwrap().get(0));
    World {
        api,
        admin,
        acme,
        other,
        alpha,
        alpha_id,
        a,
        b,
        c,
        d,
        e,
        f,
    }
}

/// The sorted ids of a list of alerts.
fn ids(list: &Value) -> Vec<i32> {
    let mut ids: Vec<i32> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_i64().unwrap() as i32)
        .collect();
    ids.sort_unstable();
    ids
}

fn sorted(alerts: &[AlertId]) -> Vec<i32> {
    let mut ids: Vec<i32> = alerts.iter().map(|a| a.0).collect();
    ids.sort_unstable();
    ids
}

async fn search(api: &TestApi, token: &str, body: Value) -> (StatusCode, Value) {
    api.call(Method::PATCH, "/alerts/", Some(token), Some(body)).await
}

async fn stored(api: &TestApi, id: AlertId) -> alerts::Alert {
    let db = api.db.pool().get().await.unwrap();
    alerts::get(&db, id).await.unwrap().unwrap()
}

/// AlertSerializer's keys, sorted.
const ALERT_KEYS: &str = "\
    action_execution_time action_retcode action_run action_stderr action_stdout agent agent_id alert_time \
    alert_type assigned_check assigned_task client email_sent hidden hostname id message resolved \
    resolved_action_execution_time resolved_action_retcode resolved_action_run resolved_action_stderr \
    resolved_action_stdout resolved_email_sent resolved_on resolved_sms_sent severity site sms_sent \
    snooze_until snoozed";

fn alert_keys() -> Vec<&'static str> {
    ALERT_KEYS.split_whitespace().collect()
}

#[tokio::test]
async fn alerts_render_as_the_serializer_and_the_bell_shows_the_oldest_open_ones() {
    let w = world().await;
    let (status, all) = search(&w.api, &w.admin, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert_eq!(ids(&all), sorted(&[w.a, w.b, w.c, w.d, w.e, w.f]));
    let a = all.as_array().unwrap().iter().find(|x| x["id"] == w.a.0).unwrap();
    assert_eq!(keys(a), alert_keys());
    assert_eq!(a["agent"], w.alpha.0);
    assert_eq!(
        (a["hostname"].as_str(), a["agent_id"].as_str()),
        (Some("alpha"), Some(w.alpha_id.as_str()))
    );
    assert_eq!((a["client"].as_str(), a["site"].as_str()), (Some("Acme"), Some("HQ")));
    assert_eq!(
        (a["alert_type"].as_str(), a["severity"].as_str()),
        (Some("availability"), Some("error"))
    );
    assert_eq!(
        (a["assigned_check"].clone(), a["assigned_task"].clone()),
        (Value::Null, Value::Null)
    );
    assert!(a["alert_time"].as_str().unwrap().ends_with('Z'), "{a}");
    let b = all.as_array().unwrap().iter().find(|x| x["id"] == w.b.0).unwrap();
    assert!(b["assigned_check"].is_i64(), "{b}");
    // A custom alert has no agent: upstream leaves the agent's fields out.
    let f = all.as_array().unwrap().iter().find(|x| x["id"] == w.f.0).unwrap();
    let agentless: Vec<&str> = alert_keys()
        .into_iter()
        .filter(|k| !["agent_id", "client", "hostname", "site"].contains(k))
        .collect();
    assert_eq!(keys(f), agentless);

    let (status, bell) = search(&w.api, &w.admin, json!({"top": 2})).await;
    assert_eq!(status, StatusCode::OK, "{bell}");
    assert_eq!(bell["alerts_count"], 3);
    let order: Vec<i64> = bell["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_i64().unwrap())
        .collect();
    assert_eq!(order, [i64::from(w.a.0), i64::from(w.b.0)]);
    assert_eq!(keys(&bell["alerts"][0]), alert_keys());
    let (_, bell) = search(&w.api, &w.admin, json!({"top": "10"})).await;
    assert_eq!(ids(&bell["alerts"]), sorted(&[w.a, w.b, w.f]));

    for bad in [
        json!({"top": "ten"}),
        json!({"top": -1}),
        json!({"timeFilter": "x"}),
        json!([1]),
    ] {
        assert_eq!(
            search(&w.api, &w.admin, bad.clone()).await.0,
            StatusCode::BAD_REQUEST,
            "{bad}"
        );
    }
}

#[tokio::test]
async fn each_filter_of_patch_alerts_narrows_the_list() {
    let w = world().await;
    let cases = [
        (json!({"timeFilter": 2}), vec![w.b, w.d, w.e, w.f]),
        (json!({"clientFilter": [w.acme]}), vec![w.a, w.b, w.e]),
        (json!({"severityFilter": ["error"]}), vec![w.a, w.d, w.f]),
        (json!({"severityFilter": ["info", "warning"]}), vec![w.b, w.c, w.e]),
        (json!({"resolvedFilter": false}), vec![w.a, w.b, w.d, w.e, w.f]),
        (json!({"resolvedFilter": true}), vec![w.a, w.b, w.c, w.d, w.e, w.f]),
        (json!({"snoozedFilter": false}), vec![w.a, w.b, w.c, w.e, w.f]),
        (json!({"snoozedFilter": true}), vec![w.a, w.b, w.c, w.d, w.e, w.f]),
        (json!({"clientFilter": [w.other], "resolvedFilter": false}), vec![w.d]),
        (
            json!({"timeFilter": 30, "snoozedFilter": false, "resolvedFilter": false}),
            vec![w.a, w.b, w.e, w.f],
        ),
    ];
    for (body, expected) in cases {
        let (status, list) = search(&w.api, &w.admin, body.clone()).await;
        assert_eq!(status, StatusCode::OK, "{body}: {list}");
        assert_eq!(ids(&list), sorted(&expected), "{body}");
    }
    let (status, err) = search(&w.api, &w.admin, json!({"clientFilter": "Acme"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        err,
        json!({"clientFilter": ["Expected a list of items but got type \"str\"."]})
    );
}

#[tokio::test]
async fn a_restricted_user_sees_and_touches_only_alerts_of_its_clients() {
    let w = world().await;
    let flags = ["can_list_alerts", "can_manage_alerts"];
    let tech = user(&w.api, "tech", &flags, Some(w.acme)).await;
    let (_, mine) = search(&w.api, &tech, json!({})).await;
    assert_eq!(
        ids(&mine),
        sorted(&[w.a, w.b, w.e, w.f]),
        "custom alerts are everyone's"
    );
    let (_, bell) = search(&w.api, &tech, json!({"top": 10})).await;
    assert_eq!(bell["alerts_count"], 2 + 1);
    let (_, theirs) = search(&w.api, &tech, json!({"clientFilter": [w.other]})).await;
    assert_eq!(theirs, json!([]));

    let d = format!("/alerts/{}/", w.d.0);
    assert_eq!(w.api.get(&d, &tech).await.0, StatusCode::FORBIDDEN);
    let (status, body) = w.api.put(&d, &tech, json!({"type": "resolve"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(w.api.delete(&d, &tech).await.0, StatusCode::FORBIDDEN);
    assert!(!stored(&w.api, w.d).await.resolved);
    assert_eq!(w.api.get("/alerts/999999/", &tech).await.0, StatusCode::NOT_FOUND);
    for mine in [w.a, w.f] {
        let (status, one) = w.api.get(&format!("/alerts/{}/", mine.0), &tech).await;
        assert_eq!((status, one["id"].as_i64()), (StatusCode::OK, Some(i64::from(mine.0))));
    }

    let reader = user(&w.api, "reader", &["can_list_alerts"], None).await;
    let a = format!("/alerts/{}/", w.a.0);
    assert_eq!(
        w.api.put(&a, &reader, json!({"type": "resolve"})).await.0,
        StatusCode::FORBIDDEN
    );
    let bulk = json!({"bulk_action": "resolve", "alerts": [w.a.0]});
    assert_eq!(
        w.api.post("/alerts/bulk/", &reader, bulk).await.0,
        StatusCode::FORBIDDEN
    );
    let nobody = user(&w.api, "nobody", &[], None).await;
    assert_eq!(search(&w.api, &nobody, json!({})).await.0, StatusCode::FORBIDDEN);
    assert_eq!(w.api.get(&a, &nobody).await.0, StatusCode::FORBIDDEN);
}

/// Whether `t` is `days` days after a moment between `before` and `after`.
fn days_after(t: Option<DateTime<Utc>>, days: i64, before: DateTime<Utc>, after: DateTime<Utc>) -> bool {
    let t = t.expect("a time") - TimeDelta::days(days);
    before <= t && t <= after
}

#[tokio::test]
async fn bad_put_bodies_get_upstreams_messages_and_change_nothing() {
    let w = world().await;
    let b = format!("/alerts/{}/", w.b.0);
    let error_in_data = json!("There was an error in the request data");
    let refused = [
        (
            json!({"type": "snooze"}),
            json!("Missing 'snoozed_days' when trying to snooze alert"),
        ),
        (json!({"type": "nap", "snooze_days": 1}), error_in_data.clone()),
        (json!({"resolved": true}), error_in_data),
        (
            json!({"type": "snooze", "snooze_days": "x"}),
            json!({"snooze_days": ["A valid integer is required."]}),
        ),
        (
            json!({"type": "snooze", "snooze_days": 0}),
            json!({"snooze_days": ["Ensure this value is greater than or equal to 1."]}),
        ),
    ];
    for (body, answer) in refused {
        let got = w.api.put(&b, &w.admin, body.clone()).await;
        assert_eq!(got, (StatusCode::BAD_REQUEST, answer), "{body}");
    }
    let untouched = stored(&w.api, w.b).await;
    assert!(!untouched.snoozed && !untouched.resolved);
}

#[tokio::test]
async fn put_snoozes_unsnoozes_and_resolves_quietly_and_delete_removes() {
    let w = world().await;
    let b = format!("/alerts/{}/", w.b.0);
    let ok = (StatusCode::OK, json!("ok"));
    let before = Utc::now();
    let snooze = json!({"type": "snooze", "snooze_days": "3"});
    assert_eq!(w.api.put(&b, &w.admin, snooze).await, ok);
    let snoozed = stored(&w.api, w.b).await;
    assert!(snoozed.snoozed);
    let until = snoozed.snooze_until;
    assert!(days_after(until, 3, before, Utc::now()), "{until:?}");
    let (_, shown) = w.api.get(&b, &w.admin).await;
    assert_eq!(shown["snoozed"], true);
    assert!(shown["snooze_until"].as_str().unwrap().ends_with('Z'), "{shown}");

    assert_eq!(w.api.put(&b, &w.admin, json!({"type": "unsnooze"})).await, ok);
    let unsnoozed = stored(&w.api, w.b).await;
    assert!(!unsnoozed.snoozed && unsnoozed.snooze_until.is_none());

    let snooze = json!({"type": "snooze", "snooze_days": 1});
    assert_eq!(w.api.put(&b, &w.admin, snooze).await, ok);
    assert_eq!(w.api.put(&b, &w.admin, json!({"type": "resolve"})).await, ok);
    let resolved = stored(&w.api, w.b).await;
    assert!(resolved.resolved && resolved.resolved_on.is_some() && !resolved.snoozed);
    let owed = count(&w.api, "SELECT count(*) FROM alert_notifications").await;
    assert_eq!(owed, 0, "dashboard resolve is quiet");

    let e = format!("/alerts/{}/", w.e.0);
    assert_eq!(w.api.delete(&e, &w.admin).await, ok);
    assert_eq!(w.api.get(&e, &w.admin).await.0, StatusCode::NOT_FOUND);
    let resolve = json!({"type": "resolve"});
    assert_eq!(w.api.put(&e, &w.admin, resolve).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bulk_actions_touch_only_the_alerts_in_the_users_scope() {
    let w = world().await;
    let tech = user(&w.api, "tech", &["can_manage_alerts"], Some(w.acme)).await;
    let refused = [
        json!({"bulk_action": "snooze", "alerts": [w.a.0]}),
        json!({"bulk_action": "forget", "alerts": [w.a.0]}),
        json!({"bulk_action": "resolve"}),
        json!({"bulk_action": "resolve", "alerts": ["a"]}),
    ];
    for body in refused {
        let answer = w.api.post("/alerts/bulk/", &tech, body.clone()).await;
        assert_eq!(
            answer,
            (StatusCode::BAD_REQUEST, json!("The request was invalid")),
            "{body}"
        );
    }

    let before = Utc::now();
    let snooze = json!({"bulk_action": "snooze", "alerts": [w.a.0, w.c.0, w.e.0], "snooze_days": 2});
    assert_eq!(
        w.api.post("/alerts/bulk/", &tech, snooze).await,
        (StatusCode::OK, json!("ok"))
    );
    for id in [w.a, w.e] {
        let alert = stored(&w.api, id).await;
        assert!(alert.snoozed && days_after(alert.snooze_until, 2, before, Utc::now()));
    }
    assert!(!stored(&w.api, w.c).await.snoozed, "bravo's alert is outside the role");

    let resolve = json!({"bulk_action": "resolve", "alerts": [w.a.0, w.d.0, w.f.0]});
    assert_eq!(
        w.api.post("/alerts/bulk/", &tech, resolve).await,
        (StatusCode::OK, json!("ok"))
    );
    let a = stored(&w.api, w.a).await;
    assert!(a.resolved && !a.snoozed && a.snooze_until.is_none());
    assert!(stored(&w.api, w.f).await.resolved);
    assert!(!stored(&w.api, w.d).await.resolved, "bravo's alert is outside the role");
}
