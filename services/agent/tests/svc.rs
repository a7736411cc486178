//! `trmm-agent svc` as a real process: start-up telemetry, basic functions, resilience and shutdown.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{collect_until, request, running, text_server, wait_for_ping, wait_until, Fixture, SECS_30, SECS_5};
use futures_util::StreamExt;
use trmm_protocol::nats::{encode, Command, ProcessInfo, Telemetry, TelemetryKind, WinSoftwareList, WindowsService};

fn telemetry_tags(msgs: &[async_nats::Message]) -> HashMap<TelemetryKind, Telemetry> {
    msgs.iter()
        .filter_map(|m| {
            let kind = TelemetryKind::from_tag(m.reply.as_deref()?)?;
            Some((kind, Telemetry::decode(kind, &m.payload).unwrap()))
        })
        .collect()
}

#[tokio::test]
async fn svc_publishes_startup_telemetry_and_answers_sysinfo() {
    let ip_url = text_server("203.0.113.7\n").await;
    let fx = Fixture::enrolled(&["--public-ip-urls", &ip_url]).await;
    let client = fx.client().await;
    let mut sub = trmm_testkit::subscribe_live(&client, fx.agent_id(), fx.agent_id()).await;
    let agent = fx.spawn_svc();

    let msgs = collect_until(&mut sub, SECS_30, |m| telemetry_tags(m).len() == 6).await;
    let order: Vec<&str> = msgs.iter().filter_map(|m| m.reply.as_deref()).collect();
    assert_eq!(order[0], "agent-hello", "{order:?}");
    let t = telemetry_tags(&msgs);
    for msg in t.values() {
        assert_eq!(msg.agent_id(), fx.agent_id());
    }
    let Telemetry::Hello(hello) = &t[&TelemetryKind::Hello] else {
        unreachable!()
    };
    assert_eq!(hello.version, trmm_agent::VERSION);
    let Telemetry::AgentInfo(info) = &t[&TelemetryKind::AgentInfo] else {
        unreachable!()
    };
    assert_eq!(info.hostname, trmm_agent::telemetry::info::hostname());
    assert!(!info.hostname.is_empty());
    assert_eq!(info.plat, "linux");
    assert_eq!(info.goarch, trmm_agent::goarch());
    assert!(info.total_ram > 0.0);
    assert!(info.boot_time > 1_000_000_000);
    assert!(
        info.operating_system.contains(std::env::consts::ARCH),
        "{}",
        info.operating_system
    );
    assert!(
        info.operating_system.starts_with(|c: char| c.is_uppercase()),
        "{}",
        info.operating_system
    );
    let Telemetry::Disks(disks) = &t[&TelemetryKind::Disks] else {
        unreachable!()
    };
    assert!(!disks.disks.is_empty(), "no disks found");
    assert!(disks
        .disks
        .iter()
        .all(|d| d.total.ends_with('B') && (0..=100).contains(&d.percent)));
    let Telemetry::WinSvc(svcs) = &t[&TelemetryKind::WinSvc] else {
        unreachable!()
    };
    // The machine's own systemd units (none where systemd is not running, e.g. in a container).
    assert!(svcs.services.iter().all(|s| s.name.ends_with(".service")));
    let Telemetry::PublicIp(ip) = &t[&TelemetryKind::PublicIp] else {
        unreachable!()
    };
    assert_eq!(ip.public_ip, "203.0.113.7");
    let Telemetry::Wmi(wmi) = &t[&TelemetryKind::Wmi] else {
        unreachable!()
    };
    let ips = wmi.wmi["local_ips"].as_array().unwrap();
    assert!(!ips.is_empty(), "{}", wmi.wmi);
    assert!(ips
        .iter()
        .all(|ip| ip.as_str().unwrap().contains('/') && !ip.as_str().unwrap().starts_with("127.")));
    assert!(wmi.wmi["cpus"].is_array() && wmi.wmi["disks"].is_array());
    assert!(wmi.wmi["make_model"].is_string() && wmi.wmi["serialnumber"].is_string());
    assert!(wmi.wmi["gpus"].is_array() || wmi.wmi["gpus"] == "");

    // sysinfo publishes agentinfo, disks, wmi and publicip, then answers "ok".
    let reply: String = request(&client, fx.agent_id(), &Command::new("sysinfo", 20), SECS_30).await;
    assert_eq!(reply, "ok", "{}", agent.log());
    let again = collect_until(&mut sub, SECS_5, |m| telemetry_tags(m).len() >= 4).await;
    let kinds = telemetry_tags(&again);
    for kind in [
        TelemetryKind::AgentInfo,
        TelemetryKind::Disks,
        TelemetryKind::Wmi,
        TelemetryKind::PublicIp,
    ] {
        assert!(kinds.contains_key(&kind), "{kind:?} missing after sysinfo");
    }
}

#[tokio::test]
async fn svc_answers_ping_procs_and_unix_stubs() {
    let (fx, agent, client) = running().await;
    let id = fx.agent_id();

    // The CPU sample takes 10 s; run it alongside the rest.
    let cpu_cmd = Command::new("cpuloadavg", 15);
    let cpu = request::<i64>(&client, id, &cpu_cmd, Duration::from_secs(20));
    let rest = async {
        let procs: Vec<ProcessInfo> = request(&client, id, &Command::new("procs", 5), SECS_5).await;
        let me = procs
            .iter()
            .find(|p| p.pid == i64::from(agent.pid()))
            .unwrap_or_else(|| panic!("agent pid missing from procs"));
        assert_eq!(me.name, "trmm-agent");
        assert!(me.membytes > 0);
        assert!(me.cpu_percent.parse::<f64>().is_ok());
        assert!(procs.iter().enumerate().all(|(i, p)| p.id >= i as i64));

        let _: bool = request(&client, id, &Command::new("needsreboot", 5), SECS_5).await;
        let ip: String = request(&client, id, &Command::new("publicip", 5), SECS_5).await;
        assert_eq!(ip, "error", "lookup disabled");
        // Inventory answers in upstream's shapes (contents: tests/inventory.rs).
        let _: Vec<WinSoftwareList> = request(&client, id, &Command::new("softwarelist", 15), SECS_30).await;
        let _: Vec<WindowsService> = request(&client, id, &Command::new("winservices", 10), SECS_30).await;
        let ok: String = request(&client, id, &Command::new("runchecks", 15), SECS_5).await;
        assert_eq!(ok, "ok");
        let ok: String = request(&client, id, &Command::new("recover", 60).with("mode", "mesh"), SECS_30).await;
        assert_eq!(ok, "ok");
    };
    let (cpu, ()) = tokio::join!(cpu, rest);
    assert!((0..=100).contains(&cpu), "{cpu}");
}

#[tokio::test]
async fn unknown_func_gets_no_reply_and_malformed_msgpack_is_survived() {
    let (fx, mut agent, client) = running().await;

    let inbox = client.new_inbox();
    let mut replies = client.subscribe(inbox.clone()).await.unwrap();
    let id = fx.agent_id().to_owned();
    let send = |bytes: Vec<u8>| client.publish_with_reply(id.clone(), inbox.clone(), bytes.into());
    send(encode(&Command::new("nosuchfunc", 5)).unwrap()).await.unwrap();
    send(vec![0xc1, 0xff, 0x00, 0x13]).await.unwrap();
    // A payload value that is not a string fails the Go agent's decode too.
    send(encode(&serde_json::json!({"func": "ping", "timeout": 5, "payload": {"x": 1}})).unwrap())
        .await
        .unwrap();
    send(encode(&Command::new("ping", 5)).unwrap()).await.unwrap();

    let got = collect_until(&mut replies, SECS_5, |m| !m.is_empty()).await;
    let first: String = trmm_protocol::nats::decode(&got[0].payload).unwrap();
    assert_eq!(first, "pong");
    // Nothing else answers; a short window is the only way to observe an absence.
    assert!(tokio::time::timeout(Duration::from_millis(500), replies.next())
        .await
        .is_err());
    assert!(
        agent.child.try_wait().unwrap().is_none(),
        "agent died:\n{}",
        agent.log()
    );
    wait_for_ping(&client, fx.agent_id(), SECS_5).await;
    assert!(agent.log().contains("undecodable command ignored"));
}

#[tokio::test]
async fn svc_reconnects_after_the_nats_server_restarts() {
    let (mut fx, agent, client) = running().await;
    drop(client);

    fx.nats.restart().await;
    let client = fx.client().await;
    wait_for_ping(&client, fx.agent_id(), SECS_30).await;
    assert!(agent.log().contains("disconnected from NATS"), "{}", agent.log());
}

#[tokio::test]
async fn svc_starts_before_nats_is_up_and_connects_when_it_appears() {
    let mut fx = Fixture::enrolled(&["--no-public-ip"]).await;
    fx.nats.stop().await;
    let agent = fx.spawn_svc();
    // The agent is retrying; bring the server up on the same port.
    let log_has_retry = || async { agent.log().contains("NATS connection attempt failed") };
    wait_until("a failed connection attempt", SECS_30, log_has_retry).await;
    fx.nats.restart().await;
    let client = fx.client().await;
    wait_for_ping(&client, fx.agent_id(), SECS_30).await;
}

#[tokio::test]
async fn uninstall_command_replies_ok_removes_files_and_exits() {
    let (fx, mut agent, client) = running().await;
    let unit = fx.systemd_dir.join("trmm-agent.service");
    assert!(unit.exists());

    let ok: String = request(&client, fx.agent_id(), &Command::new("uninstall", 30), SECS_5).await;
    assert_eq!(ok, "ok");
    let status = agent.exited(Duration::from_secs(15)).await;
    assert!(status.success(), "{status}\n{}", agent.log());
    assert!(!unit.exists());
    assert!(!fx.config_path.exists());
}

#[tokio::test]
async fn svc_stops_gracefully_on_sigterm() {
    let (fx, mut agent, _client) = running().await;
    let pid = nix::unistd::Pid::from_raw(agent.pid() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = agent.exited(Duration::from_secs(10)).await;
    assert!(status.success(), "{status}\n{}", agent.log());
    assert!(fx.config_path.exists(), "stopping must not uninstall");
}
