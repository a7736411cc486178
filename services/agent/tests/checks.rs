//! Every check type through `Executor::run_one` on this machine: disk, memory and cpu from /proc and statvfs,
//! ping over a real ICMP socket and scripts through the script runner; and a whole run's scheduling.

mod check_support;

use std::sync::Mutex;
use std::time::Duration;

use check_support::*;
use serde_json::{json, Value};
use trmm_agent::checks::runner;
use trmm_protocol::checks::{CheckDefinition, CheckReport, ScriptResult};

#[tokio::test]
async fn disk_memory_and_cpu_of_this_machine() {
    let tools = tempfile::tempdir().unwrap();
    let exec = executor(tools.path());
    let CheckReport::Disk(root) = run(&exec, &check(json!({"check_type": "diskspace", "disk": "/"}))).await else {
        panic!("not a disk result")
    };
    assert!(root.exists);
    assert!((0.0..=100.0).contains(&root.percent_used), "{root:?}");
    assert!(
        root.more_info.starts_with("Total: ") && root.more_info.contains(", Free: "),
        "{root:?}"
    );
    // A path inside a mount is measured as its file system.
    let inside = json!({"check_type": "diskspace", "disk": tools.path().to_str().unwrap()});
    let CheckReport::Disk(tmp) = run(&exec, &check(inside)).await else {
        panic!()
    };
    assert!(tmp.exists, "{tmp:?}");
    let missing = json!({"check_type": "diskspace", "disk": "/no/such/disk"});
    let CheckReport::Disk(gone) = run(&exec, &check(missing)).await else {
        panic!()
    };
    assert_eq!(
        (gone.exists, gone.more_info.as_str()),
        (false, "Disk /no/such/disk does not exist")
    );

    for kind in ["memory", "cpuload"] {
        let CheckReport::Percent(p) = run(&exec, &check(json!({"check_type": kind}))).await else {
            panic!("not a percent")
        };
        assert!((0..=100).contains(&p.percent), "{kind}: {p:?}");
    }
    let body = exec.run_one(&check(json!({"check_type": "memory"}))).await.unwrap();
    let sent = serde_json::to_value(&body).unwrap();
    assert_eq!(sent.as_object().unwrap().len(), 3, "{sent}");
    assert!(sent["percent"].is_i64(), "{sent}");
}

#[tokio::test]
async fn cpuload_stops_with_the_agent() {
    let tools = tempfile::tempdir().unwrap();
    let mut exec = executor(tools.path());
    exec.cpu_window = Duration::from_secs(600);
    exec.shutdown.cancel();
    let cpu = check(json!({"check_type": "cpuload"}));
    let stopped = tokio::time::timeout(Duration::from_secs(10), exec.run_one(&cpu));
    assert_eq!(stopped.await.expect("cancelled promptly"), None);
}

#[tokio::test]
async fn ping_loopback_and_an_unresolvable_host() {
    let tools = tempfile::tempdir().unwrap();
    let exec = executor(tools.path());
    let v6 = std::net::UdpSocket::bind("[::1]:0").is_ok();
    let hosts: &[&str] = if v6 { &["127.0.0.1", "::1"] } else { &["127.0.0.1"] };
    if !v6 {
        eprintln!("::1 skipped: no IPv6 loopback here");
    }
    for host in hosts {
        let s = status_of(&exec, &check(json!({"check_type": "ping", "ip": host}))).await;
        let output = s.output.unwrap_or_default();
        assert_eq!(s.status, "passing", "{host}: {output}");
        assert!(
            output.contains(&format!("556 bytes from {host}: icmp_seq=0 time=")),
            "{output}"
        );
        assert!(output.contains(&format!("--- {host} ping statistics ---")), "{output}");
        assert!(
            output.contains("3 packets transmitted, 3 packets received, 0% packet loss"),
            "{output}"
        );
        assert!(output.contains("round-trip min/avg/max/stddev = "), "{output}");
    }
    let s = status_of(&exec, &check(json!({"check_type": "ping", "ip": "nosuchhost.invalid"}))).await;
    assert_eq!(s.status, "failing");
    assert!(s.output.unwrap().starts_with("lookup nosuchhost.invalid: "));
    // The body the Go agent sends: status and output, nothing else.
    let body = exec
        .run_one(&check(json!({"check_type": "ping", "ip": ""})))
        .await
        .unwrap();
    let sent = serde_json::to_value(&body).unwrap();
    let mut keys: Vec<&String> = sent.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["agent_id", "id", "output", "status"]);
}

#[tokio::test]
async fn ping_falls_back_to_the_system_ping() {
    let tools = tempfile::tempdir().unwrap();
    let stand_in = write_tool(
        tools.path(),
        "ping",
        "#!/bin/sh\nprintf '%s\\n' \"$*\" > \"$(dirname \"$0\")/ping.args\"\n\
         echo 'PING 127.0.0.1 (127.0.0.1) 548(576) bytes of data.'\n\
         echo '556 bytes from 127.0.0.1: icmp_seq=1 ttl=64 time=0.045 ms'\n\
         echo '3 packets transmitted, 1 received, 66.6667% packet loss, time 2030ms'\n",
    );
    let addr = "127.0.0.1".parse().unwrap();
    let (passing, output) = trmm_agent::checks::ping::command::ping(&stand_in, addr).await.unwrap();
    assert!(!passing, "two of three lost");
    assert!(output.contains("3 packets transmitted, 1 received"), "{output}");
    let args = std::fs::read_to_string(tools.path().join("ping.args")).unwrap();
    assert_eq!(args.trim(), "-c 3 -s 548 -w 5 127.0.0.1");
    let missing = trmm_agent::checks::ping::command::ping(&tools.path().join("nope"), addr).await;
    assert!(missing.unwrap_err().contains("nope"));

    let Some(real) = trmm_agent::commands::interpreter::find_program("ping") else {
        eprintln!("real ping skipped: no ping binary here");
        return;
    };
    let (passing, output) = trmm_agent::checks::ping::command::ping(&real, addr).await.unwrap();
    assert!(passing, "{output}");
}

#[tokio::test]
async fn script_checks_use_the_checks_args_env_and_timeout() {
    let tools = tempfile::tempdir().unwrap();
    let exec = executor(tools.path());
    let script = |code: &str, timeout: Value| {
        check(json!({
            "check_type": "script", "timeout": timeout,
            "script": {"code": code, "shell": "shell", "run_as_user": false, "env_vars": ["WHO=script"]},
            "script_args": ["one", "two words"], "env_vars": ["WHO=check"],
        }))
    };
    let code = "#!/bin/sh\necho \"$1|$2|$WHO\"\necho warn >&2\nexit 3\n";
    let CheckReport::Script(r) = run(&exec, &script(code, json!(30))).await else {
        panic!()
    };
    assert_eq!(
        (r.stdout.as_str(), r.stderr.as_str(), r.retcode),
        ("one|two words|check\n", "warn\n", 3)
    );
    assert!(r.runtime > 0.0 && r.runtime < 30.0, "{r:?}");
    // No timeout: killed at once, as the Go agent's zero-length context does.
    let CheckReport::Script(r) = run(&exec, &script("#!/bin/sh\nsleep 5\n", Value::Null)).await else {
        panic!()
    };
    assert_eq!(r.retcode, 98, "{r:?}");
    assert!(r.stderr.ends_with("Timed out after 0 seconds"), "{r:?}");
    let no_script = check(json!({"check_type": "script", "timeout": 30}));
    let CheckReport::Script(r) = run(&exec, &no_script).await else {
        panic!()
    };
    assert_eq!(
        r,
        ScriptResult {
            stdout: String::new(),
            stderr: "The check has no script".into(),
            retcode: 1,
            runtime: 0.0
        }
    );
    assert_eq!(std::fs::read_dir(tools.path().join("scripts")).unwrap().count(), 0);
}

#[tokio::test]
async fn a_run_sends_each_result_and_keeps_service_checks_in_order() {
    let tools = tempfile::tempdir().unwrap();
    let dir = tools.path();
    write_tool(dir, "systemctl", FAKE_SYSTEMCTL);
    set_state(dir, "loaded", "active", "running");
    write_tool(dir, "journalctl", FAKE_JOURNALCTL);
    std::fs::write(dir.join("journal"), JOURNAL).unwrap();
    let exec = executor(dir);
    let defs: Vec<CheckDefinition> = [
        json!({"id": 1, "check_type": "diskspace", "disk": "/"}),
        json!({"id": 2, "check_type": "memory"}),
        json!({"id": 3, "check_type": "cpuload"}),
        json!({"id": 4, "check_type": "winsvc", "svc_name": "a.service"}),
        json!({"id": 5, "check_type": "winsvc", "svc_name": "b.service"}),
        json!({"id": 6, "check_type": "eventlog", "log_name": "System", "event_type": "ERROR",
               "event_id_is_wildcard": true}),
        json!({"id": 7, "check_type": "winsvc", "svc_name": "c.service"}),
        json!({"id": 8, "check_type": "registry"}),
    ]
    .into_iter()
    .map(|v| serde_json::from_value(v).unwrap())
    .collect();
    let sent = Mutex::new(Vec::new());
    runner::run_all(&exec, &defs, |body| {
        sent.lock().unwrap().push(body.id);
        async {}
    })
    .await;
    let sent = sent.into_inner().unwrap();
    let mut ids = sent.clone();
    ids.sort();
    assert_eq!(ids, [1, 2, 3, 4, 5, 6, 7], "each result once; the unknown type skipped");
    let services: Vec<i64> = sent.iter().copied().filter(|id| [4, 5, 7].contains(id)).collect();
    assert_eq!(services, [4, 5, 7]);
    let shows: Vec<String> = calls(dir)
        .into_iter()
        .filter_map(|c| c.rsplit(' ').next().map(String::from))
        .collect();
    assert_eq!(shows, ["a.service", "b.service", "c.service"]);
    assert_eq!(runner::RESULT_PATH, "/api/v3/checkrunner/");
}
