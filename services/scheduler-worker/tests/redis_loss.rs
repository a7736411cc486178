//! Redis loses its data (FLUSHALL on a private redis-server) while a bulk run over 500 simulated agents and an
//! emailed script run are queued: the worker, started afterwards, puts both back from Postgres, every agent
//! is accounted for and the mail is delivered once.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::mail::{smtp_settings, wait_for_mail, Smtp};
use support::{responders, seed, suite_on, DEADLINE};
use trmm_api::testing::wait_until;
use trmm_testkit::smtp::mails;
use trmm_testkit::{free_port, RedisServer};

async fn one(api: &trmm_api::testing::TestApi, sql: &str) -> Option<Value> {
    let db = api.db.pool().get().await.unwrap();
    db.query_opt(sql, &[]).await.unwrap().and_then(|r| r.get(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn queued_work_survives_a_flushed_redis() {
    let redis_port = free_port();
    let _redis = RedisServer::start_on(redis_port).await;
    let redis_url = format!("redis://127.0.0.1:{redis_port}");
    let mut s = suite_on(true, &[], &redis_url).await;
    let (_, site) = s.api.client_with_site(&s.admin, "Acme", "HQ").await;
    let ids = seed(&s.api, site, 1, 500).await;
    responders(&s.nats.url(), &ids[..400], false).await;

    let dir = tempfile::tempdir().unwrap();
    let (smtp_port, maildir) = (free_port(), dir.path().join("maildir"));
    let _smtp = Smtp::start(smtp_port, &maildir).await;
    smtp_settings(&s, smtp_port, &["ops@example.com"]).await;
    let script = json!({"name": "Echo", "shell": "shell", "script_body": "echo \"$@\""});
    let (status, _) = s
        .api
        .call(Method::POST, "/scripts/", Some(&s.admin), Some(script))
        .await;
    assert_eq!(status, StatusCode::OK);
    let script_id = one(&s.api, "SELECT to_jsonb(id) FROM scripts WHERE name = 'Echo'")
        .await
        .unwrap();

    // Both are queued while no worker runs.
    let bulk = json!({"mode": "command", "target": "all", "monType": "all", "osType": "all", "cmd": "uptime",
                      "shell": "/bin/bash", "timeout": 5, "run_as_user": false});
    let (status, body) = s
        .api
        .call(Method::POST, "/agents/actions/bulk/", Some(&s.admin), Some(bulk))
        .await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!("Command will now be run on 500 agents"))
    );
    let mail = json!({"script": script_id, "output": "email", "emailMode": "default", "args": ["hi"], "timeout": 5});
    let path = format!("/agents/{}/runscript/", ids[0]);
    let (status, _) = s.api.call(Method::POST, &path, Some(&s.admin), Some(mail)).await;
    assert_eq!(status, StatusCode::OK);

    let mut redis = redis::Client::open(redis_url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query_async(&mut redis).await.unwrap();
    assert!(!keys.is_empty(), "the jobs were queued in Redis");
    let () = redis::cmd("FLUSHALL").query_async(&mut redis).await.unwrap();

    s.start_worker();
    wait_until("the bulk run to finish", DEADLINE, || async {
        one(&s.api, "SELECT summary FROM bulk_runs").await.is_some()
    })
    .await;
    assert_eq!(
        one(&s.api, "SELECT summary FROM bulk_runs").await.unwrap(),
        json!({"total": 500, "replied": 400, "timeout": 0, "offline": 100, "error": 0, "unanswered": 0})
    );
    let delivered = wait_for_mail(&maildir).await;
    assert!(delivered.contains("Subject: sim-1 Echo Results"), "{delivered}");
    wait_until("the mail job to be finished", DEADLINE, || async {
        one(&s.api, "SELECT to_jsonb(outcome) FROM jobs").await == Some(json!("sent"))
    })
    .await;
    // Another loss afterwards queues nothing again: both jobs are finished.
    let () = redis::cmd("FLUSHALL").query_async(&mut redis).await.unwrap();
    wait_until("the worker to notice the second loss", DEADLINE, || async {
        let mut conn = redis.clone();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg("*:jobs:intact")
            .query_async(&mut conn)
            .await
            .unwrap();
        !keys.is_empty()
    })
    .await;
    let db = s.api.db.pool().get().await.unwrap();
    assert_eq!(trmm_db::bulk::unfinished(&db).await.unwrap(), Vec::<i64>::new());
    assert!(trmm_db::jobs::unfinished(&db, "script_email").await.unwrap().is_empty());
    assert_eq!(mails(&maildir).len(), 1, "the mail was delivered once");
}
