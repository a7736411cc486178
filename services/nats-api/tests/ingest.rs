//! Telemetry ingestion against real Postgres and a real nats-server ≥ 2.10, with messages published exactly as
//! the Go agent publishes them (subject = agent_id, reply = type tag, payload from the ugorji-compatible encoder).

mod common;
mod ingest_support;

use std::time::{Duration, Instant};

use chrono::Utc;
use ingest_support::{
    agent_row, heartbeats_since, insert_agents, last_seen, sample, wait_for, wait_for_heartbeats, windows_wmi, Agent,
    Ingest, Rig,
};
use serde_json::{json, Value};
use trmm_nats_api::ingest::{self, DropReason, Options};
use trmm_protocol::nats::{ugorji, Hello, TelemetryKind};
use trmm_testkit::{free_port, NatsServer, TestDb};

#[tokio::test]
async fn each_kind_lands_in_its_columns() {
    let rig = Rig::start(1).await;
    let (id, agent, m) = (rig.ids[0].as_str(), &rig.agent, &rig.ingest.metrics);
    let disks = json!([
        {"device": "C:", "fstype": "NTFS", "total": "465.1 GB", "used": "120.3 GB", "free": "344.8 GB", "percent": 25},
        {"device": "D:", "fstype": "NTFS", "total": "1.8 TB", "used": "1.7 TB", "free": "100.2 GB", "percent": 94}
    ]);
    let services = json!([{
        "name": "Spooler", "status": "running", "display_name": "Print Spooler",
        "binpath": "C:\\Windows\\System32\\spoolsv.exe", "description": "Spools print jobs",
        "username": "LocalSystem", "pid": 2468, "start_type": "Automatic", "autodelay": false
    }]);

    let before = Utc::now();
    agent.hello(id, "2.9.1").await;
    let info = json!({
        "agent_id": id, "logged_in_username": "alice", "hostname": "DESKTOP-7K3",
        "operating_system": "Microsoft Windows 11 Pro, 64 bit v23H2 (build 22631.3296)", "plat": "windows",
        "total_ram": 16.0, "boot_time": 1714000000, "needs_reboot": true, "goarch": "amd64"
    });
    agent.send(id, TelemetryKind::AgentInfo, info).await;
    agent.report(id, TelemetryKind::Disks, "disks", disks.clone()).await;
    agent
        .report(id, TelemetryKind::WinSvc, "services", services.clone())
        .await;
    agent
        .report(id, TelemetryKind::PublicIp, "public_ip", json!("203.0.113.7"))
        .await;
    agent.report(id, TelemetryKind::Wmi, "wmi", windows_wmi()).await;
    agent.flush().await;

    wait_for("every kind written", async || {
        TelemetryKind::ALL.iter().all(|k| m.written(*k) == 1)
    })
    .await;
    let row = agent_row(&rig.db, id).await;
    let seen = last_seen(&row).expect("last_seen is set");
    assert!(
        seen >= before - chrono::Duration::seconds(1) && seen <= Utc::now(),
        "{seen}"
    );
    assert_eq!(row["version"], "2.9.1");
    assert_eq!(row["hostname"], "DESKTOP-7K3");
    assert_eq!(
        row["operating_system"],
        "Microsoft Windows 11 Pro, 64 bit v23H2 (build 22631.3296)"
    );
    assert_eq!(row["plat"], "windows");
    assert_eq!(row["total_ram"], 16);
    assert_eq!(row["boot_time"].as_f64(), Some(1714000000.0));
    assert_eq!(row["needs_reboot"], true);
    assert_eq!(row["goarch"], "amd64");
    assert_eq!(row["logged_in_username"], "alice");
    assert_eq!(row["last_logged_in_user"], "alice");
    assert_eq!(row["disks"], disks);
    assert_eq!(row["services"], services);
    assert_eq!(row["wmi_detail"], windows_wmi());
    assert_eq!(row["public_ip"], "203.0.113.7");
    for reason in DropReason::ALL {
        assert_eq!(m.dropped(reason), 0, "{reason:?}");
    }
    rig.ingest.stop().await;
}

#[tokio::test]
async fn unix_agents_nil_slices_and_unix_wmi() {
    let rig = Rig::start(1).await;
    let (id, agent, m) = (rig.ids[0].as_str(), &rig.agent, &rig.ingest.metrics);
    let wmi = json!({
        "local_ips": ["10.0.0.5/24", "fd00::5/64"], "disks": ["sda QEMU HARDDISK 32 GB"], "cpus": ["AMD EPYC 7763"],
        "make_model": "QEMU Standard PC (Q35 + ICH9, 2009)", "gpus": "", "serialnumber": "n/a"
    });

    // Go encodes nil slices as msgpack nil; they are stored as empty lists, which readers can iterate.
    agent.report(id, TelemetryKind::Disks, "disks", Value::Null).await;
    agent.report(id, TelemetryKind::WinSvc, "services", Value::Null).await;
    agent.report(id, TelemetryKind::Wmi, "wmi", wmi.clone()).await;
    agent.flush().await;

    wait_for("three writes", async || {
        m.written(TelemetryKind::Disks) + m.written(TelemetryKind::WinSvc) + m.written(TelemetryKind::Wmi) == 3
    })
    .await;
    let row = agent_row(&rig.db, id).await;
    assert_eq!(row["disks"], json!([]));
    assert_eq!(row["services"], json!([]));
    assert_eq!(row["wmi_detail"], wmi);
    rig.ingest.stop().await;
}

#[tokio::test]
async fn logged_in_user_rules() {
    let rig = Rig::start(1).await;
    let (id, agent, m) = (rig.ids[0].as_str(), &rig.agent, &rig.ingest.metrics);

    // (reported user, expected logged_in_username, expected last_logged_in_user)
    let steps = [
        ("alice", "alice", "alice"),
        // Windows: nobody logged in. The last user stays (as upstream).
        ("None", "None", "alice"),
        ("bob", "bob", "bob"),
        // unix: nobody logged in. Upstream would wipe last_logged_in_user; we keep it on purpose.
        ("", "", "bob"),
    ];
    for (n, (user, logged_in, last)) in steps.into_iter().enumerate() {
        let info = json!({
            "agent_id": id, "logged_in_username": user, "hostname": "web-1",
            "operating_system": "Ubuntu 22.04 x86_64 5.15.0-105-generic", "plat": "linux",
            "total_ram": 8.0, "boot_time": 1714000000, "needs_reboot": false, "goarch": "arm64"
        });
        agent.send(id, TelemetryKind::AgentInfo, info).await;
        agent.flush().await;
        wait_for("the agentinfo write", async || {
            m.written(TelemetryKind::AgentInfo) == n as u64 + 1
        })
        .await;
        let row = agent_row(&rig.db, id).await;
        assert_eq!(
            (row["logged_in_username"].as_str(), row["last_logged_in_user"].as_str()),
            (Some(logged_in), Some(last)),
            "after reporting {user:?}"
        );
    }
    rig.ingest.stop().await;
}

#[tokio::test]
async fn a_hello_for_another_agent_is_dropped_and_server_commands_are_ignored() {
    let rig = Rig::start(2).await;
    let (me, victim) = (rig.ids[0].as_str(), rig.ids[1].as_str());
    let (agent, m) = (&rig.agent, &rig.ingest.metrics);

    // A payload claiming to be another agent, on my subject.
    let forged = json!({"agent_id": victim, "version": "6.6.6"});
    agent.send(me, TelemetryKind::Hello, forged).await;
    // The server's own commands to an agent: a request (reply _INBOX…) and a plain publish.
    let command = ugorji::encode(&json!({"func": "ping"}));
    agent.send_bytes(me, "_INBOX.x4Dk2.1", command.clone()).await;
    agent
        .nats
        .publish(me.to_owned(), command.into())
        .await
        .expect("publishing");
    // NATS keeps one publisher's order, so once this is written the others have been handled.
    agent.hello(me, "2.9.1").await;
    agent.flush().await;

    wait_for("the genuine hello", async || m.written(TelemetryKind::Hello) == 1).await;
    assert_eq!(m.dropped(DropReason::AgentMismatch), 1);
    assert_eq!(m.received(TelemetryKind::Hello), 2, "commands are not telemetry");
    let victim_row = agent_row(&rig.db, victim).await;
    assert_eq!(
        (last_seen(&victim_row), victim_row["version"].as_str()),
        (None, Some("0.1.0"))
    );
    assert_eq!(agent_row(&rig.db, me).await["version"], "2.9.1");
    rig.ingest.stop().await;
}

#[tokio::test]
async fn malformed_and_oversized_messages_are_dropped_and_ingestion_goes_on() {
    // nats-server's own limit as the shipped config sets it, so the 8 MiB default of ours is what bites.
    let nats = NatsServer::start_with_config(free_port(), "max_payload: 67108864").await;
    let rig = Rig::with(1, nats, Options::default()).await;
    let (id, agent, m) = (rig.ids[0].as_str(), &rig.agent, &rig.ingest.metrics);

    agent.send_bytes(id, "agent-hello", vec![0xc1, 0xff, 0x00]).await;
    let info = ugorji::encode(&json!({"agent_id": id, "hostname": "cut-short", "plat": "linux"}));
    agent
        .send_bytes(id, "agent-agentinfo", info[..info.len() - 3].to_vec())
        .await;
    agent
        .send_bytes(
            id,
            "agent-disks",
            ugorji::encode(&json!({"agent_id": id, "disks": "not a list"})),
        )
        .await;
    let huge = json!({"blob": "x".repeat(9 * 1024 * 1024)});
    agent.report(id, TelemetryKind::Wmi, "wmi", huge).await;
    agent.hello(id, "2.9.1").await;
    agent.flush().await;

    wait_for("the hello after the bad messages", async || {
        m.written(TelemetryKind::Hello) == 1
    })
    .await;
    assert_eq!(m.dropped(DropReason::Malformed), 3);
    assert_eq!(m.dropped(DropReason::Oversized), 1);
    let row = agent_row(&rig.db, id).await;
    assert!(last_seen(&row).is_some());
    assert_eq!((&row["wmi_detail"], &row["disks"]), (&Value::Null, &Value::Null));

    // The debug log gets one entry per reason about the agent, not one per message.
    let db = rig.db.pool().get().await.unwrap();
    let sql = "SELECT d.log_level, d.log_type, d.message FROM debug_logs d JOIN agents a ON a.id = d.agent_pk
               WHERE a.agent_id = $1 ORDER BY d.message";
    wait_for("the drops' debug log entries", async || {
        db.query(sql, &[&id]).await.unwrap().len() == 2
    })
    .await;
    let entries = db.query(sql, &[&id]).await.unwrap();
    for (entry, reason) in entries.iter().zip(["malformed", "oversized"]) {
        let (level, kind, message): (String, String, String) = (entry.get(0), entry.get(1), entry.get(2));
        assert_eq!((level.as_str(), kind.as_str()), ("warning", "agent_issues"));
        assert!(message.contains(&format!(": {reason} (")), "{message}");
    }
    rig.ingest.stop().await;
}

#[tokio::test]
async fn a_thousand_hellos_take_a_few_statements() {
    let rig = Rig::start(1000).await;

    let before = Utc::now();
    rig.agent.hellos(&rig.ids, "2.9.1").await;

    wait_for_heartbeats(&rig.db, before, "2.9.1", 1000).await;
    let m = &rig.ingest.metrics;
    assert_eq!(m.written(TelemetryKind::Hello), 1000);
    assert!(m.batches() <= 5, "{} UPDATE statements", m.batches());
    rig.ingest.stop().await;
}

#[tokio::test]
async fn values_postgres_rejects_are_dropped_without_holding_up_the_rest() {
    let rig = Rig::start(3).await;
    let (ids, agent, m) = (&rig.ids, &rig.agent, &rig.ingest.metrics);

    // hostname is varchar(255): Postgres refuses this one write, retrying would not help.
    let info = json!({
        "agent_id": ids[0], "logged_in_username": "alice", "hostname": "h".repeat(300),
        "operating_system": "Debian 12", "plat": "linux", "total_ram": 4.0, "boot_time": 1714000000,
        "needs_reboot": false, "goarch": "amd64"
    });
    agent.send(&ids[0], TelemetryKind::AgentInfo, info).await;
    agent.hello(&ids[0], "2.9.1").await;
    agent.flush().await;
    wait_for("the rejected write and the hello", async || {
        m.dropped(DropReason::DbError) == 1 && m.written(TelemetryKind::Hello) == 1
    })
    .await;
    assert_eq!(m.written(TelemetryKind::AgentInfo), 0);
    rig.ingest.stop().await;

    // A heartbeat Postgres rejects (dispatch never lets such a version through) costs only itself, not
    // every other agent of its batch.
    let pool = trmm_db::connect(rig.db.url()).expect("a pool");
    let metrics = ingest::Metrics::default();
    let batcher = ingest::heartbeat::Batcher::new(100, metrics.clone());
    let now = Utc::now();
    for (id, version) in [(&ids[0], "2.9.2"), (&ids[1], &*"9".repeat(300)), (&ids[2], "2.9.2")] {
        let hello = Hello {
            agent_id: id.clone(),
            version: version.to_owned(),
        };
        batcher.push(hello, now);
    }
    batcher
        .flush(&pool)
        .await
        .expect("the batch minus the bad row is written");
    assert_eq!(metrics.written(TelemetryKind::Hello), 2);
    assert_eq!(metrics.dropped(DropReason::DbError), 1);
    assert_eq!(heartbeats_since(&rig.db, now, "2.9.2").await, 2);
}

#[tokio::test]
async fn a_postgres_outage_loses_no_heartbeat() {
    let rig = Rig::start(50).await;
    let m = &rig.ingest.metrics;
    rig.agent.hellos(&rig.ids, "2.9.0").await;
    wait_for("the first round", async || m.written(TelemetryKind::Hello) == 50).await;

    rig.db.begin_outage().await;
    let during = Utc::now();
    rig.agent.hellos(&rig.ids, "2.9.1").await;
    wait_for("a failed batch", async || m.batch_failures() >= 2).await;
    assert_eq!(
        m.written(TelemetryKind::Hello),
        50,
        "nothing can be written during the outage"
    );
    rig.db.end_outage().await;

    wait_for_heartbeats(&rig.db, during, "2.9.1", 50).await;
    assert_eq!(m.written(TelemetryKind::Hello), 100);
    assert_eq!(m.dropped(DropReason::DbError), 0);
    rig.ingest.stop().await;
}

#[tokio::test]
async fn replicas_in_the_queue_group_share_the_work() {
    let rig = Rig::start(400).await;
    let second = Ingest::start(rig.db.url(), &rig.nats.url(), Options::default()).await;
    let (first, agent) = (&rig.ingest, &rig.agent);

    let before = Utc::now();
    for id in &rig.ids {
        agent.hello(id, "2.9.1").await;
        agent
            .report(id, TelemetryKind::PublicIp, "public_ip", json!("198.51.100.1"))
            .await;
    }
    agent.flush().await;

    let written = |kind| first.metrics.written(kind) + second.metrics.written(kind);
    wait_for("every message written", async || {
        written(TelemetryKind::Hello) == 400 && written(TelemetryKind::PublicIp) == 400
    })
    .await;
    assert_eq!(heartbeats_since(&rig.db, before, "2.9.1").await, 400);
    for kind in [TelemetryKind::Hello, TelemetryKind::PublicIp] {
        let (a, b) = (first.metrics.received(kind), second.metrics.received(kind));
        assert_eq!(a + b, 400, "{kind:?}: each message is handled once");
        assert!(a > 0 && b > 0, "{kind:?}: both replicas get work ({a} + {b})");
    }
    rig.ingest.stop().await;
    second.stop().await;
}

#[tokio::test]
async fn shutdown_flushes_pending_heartbeats() {
    let options = Options {
        flush_interval: Duration::from_secs(3600),
        ..Options::default()
    };
    let rig = Rig::with(3, NatsServer::start().await, options).await;
    let (ids, agent) = (&rig.ids, &rig.agent);
    agent.hellos(ids, "2.9.1").await;
    // A newer hello replaces the pending one of the same agent.
    agent.hello(&ids[0], "2.9.2").await;
    agent.flush().await;
    let m = rig.ingest.metrics.clone();
    wait_for("pending heartbeats", async || m.received(TelemetryKind::Hello) == 4).await;
    assert_eq!((m.pending(), m.coalesced(), m.batches()), (3, 1, 0));

    rig.ingest.stop().await;

    assert_eq!((m.written(TelemetryKind::Hello), m.batches()), (3, 1));
    assert_eq!(agent_row(&rig.db, &ids[0]).await["version"], "2.9.2");
    assert_eq!(agent_row(&rig.db, &ids[2]).await["version"], "2.9.1");
}

#[tokio::test]
async fn the_service_ingests_and_exposes_its_counters() {
    let db = TestDb::new().await;
    let nats = NatsServer::start().await;
    let ids = insert_agents(&db, 1).await;
    let service = common::in_process(db.url(), &nats.url());
    let agent = Agent::connect(&nats.url()).await;

    // The service subscribes once it has connected: repeat the hello until one lands.
    wait_for("a heartbeat through the service", async || {
        agent.hello(&ids[0], "2.9.1").await;
        agent.flush().await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        last_seen(&agent_row(&db, &ids[0]).await).is_some()
    })
    .await;
    let body = reqwest::get(format!("{}/metrics", service.url()))
        .await
        .expect("scraping /metrics")
        .text()
        .await
        .expect("reading /metrics");
    let value = |series| sample(&body, series).unwrap_or_else(|| panic!("{series} missing from\n{body}"));
    assert!(value("trmm_telemetry_received_total{kind=\"hello\"}") >= 1.0);
    assert!(value("trmm_telemetry_written_total{kind=\"hello\"}") >= 1.0);
    assert!(value("trmm_heartbeat_batches_total") >= 1.0);
    assert_eq!(value("trmm_telemetry_dropped_total{reason=\"malformed\"}"), 0.0);

    service.stop().await;
}

/// A rough throughput figure, not a pass/fail check:
/// `cargo test -p trmm-nats-api --release --test ingest -- --ignored --nocapture`.
#[tokio::test]
#[ignore = "benchmark; run explicitly"]
async fn throughput_of_50k_hellos() {
    const AGENTS: usize = 50_000;
    let rig = Rig::start(AGENTS).await;

    let start = Instant::now();
    let before = Utc::now();
    rig.agent.hellos(&rig.ids, "2.9.1").await;
    let published = start.elapsed();
    wait_for_heartbeats(&rig.db, before, "2.9.1", AGENTS as i64).await;
    let total = start.elapsed();
    let m = &rig.ingest.metrics;
    println!(
        "{AGENTS} hellos: published in {published:?}, all last_seen written after {total:?} \
         ({:.0} hellos/s end to end), {} UPDATE statements, {} dropped",
        AGENTS as f64 / total.as_secs_f64(),
        m.batches(),
        DropReason::ALL.iter().map(|r| m.dropped(*r)).sum::<u64>(),
    );
    rig.ingest.stop().await;
}
