//! Literal payloads: envelopes as upstream's python server sends them (`msgpack.dumps(dict)`) and replies as the
//! Go agent's ugorji encoder writes them, decoded and encoded through the typed calls.

use serde_json::{json, Value};

use super::*;
use crate::nats::ugorji;

const KEY: &str = "HKLM\\SOFTWARE";
const X: &str = "HKLM\\SOFTWARE\\X";
const Y: &str = "HKLM\\SOFTWARE\\Y";

fn value(value_type: &str, data: &str) -> RegistryValueArgs {
    RegistryValueArgs {
        path: X.into(),
        value_type: value_type.into(),
        name: "n".into(),
        data: data.into(),
    }
}

fn bytes(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

fn as_json(msgpack: &[u8]) -> Value {
    rmp_serde::from_slice(msgpack).unwrap()
}

/// Every call as upstream sends it (tools: python msgpack 1.x, `msgpack.dumps(dict)`).
fn upstream() -> Vec<(&'static str, AgentCall)> {
    vec![
        // ping
        (
            "81a466756e63a470696e67",
            AgentCall::Ping(Ping),
        ),
        // patchmgmt
        (
            "82a466756e63a970617463686d676d74aa70617463685f6d676d74c3",
            PatchMgmt { enabled: true }.into(),
        ),
        // schedtask
        (
            "82a466756e63a973636865647461736bb073636865647461736b7061796c6f6164de0011a2706b05a474797065a3726d6da46e616d65af546163746963616c524d4d5f616263a774726967676572a56461696c79a7656e61626c6564c3ae6f76657277726974655f7461736bc3b26d756c7469706c655f696e7374616e63657301b964656c6574655f657870697265645f7461736b5f6166746572c2b473746172745f7768656e5f617661696c61626c65c3aa73746172745f79656172cd07e8ab73746172745f6d6f6e746805a973746172745f64617901aa73746172745f686f75720da973746172745f6d696e04ac6461795f696e74657276616c01ac72616e646f6d5f64656c6179a45054354db473746f705f61745f6475726174696f6e5f656e64c2",
            SchedTask(SchedTaskPayload {
            name: "TacticalRMM_abc".into(),
            pk: Some(5),
            task_type: Some("rmm".into()),
            trigger: Some("daily".into()),
            enabled: Some(true),
            overwrite_task: Some(true),
            multiple_instances: Some(1),
            delete_expired_task_after: Some(false),
            start_when_available: Some(true),
            start_year: Some(2024),
            start_month: Some(5),
            start_day: Some(1),
            start_hour: Some(13),
            start_min: Some(4),
            day_interval: Some(1),
            random_delay: Some("PT5M".into()),
            stop_at_duration_end: Some(false),
            ..Default::default()
        })
        .into(),
        ),
        // delschedtask
        (
            "82a466756e63ac64656c73636865647461736bb073636865647461736b7061796c6f616481a46e616d65af546163746963616c524d4d5f616263",
            DelSchedTask { name: "TacticalRMM_abc".into() }.into(),
        ),
        // listschedtasks
        (
            "81a466756e63ae6c69737473636865647461736b73",
            ListSchedTasks.into(),
        ),
        // eventlog
        (
            "83a466756e63a86576656e746c6f67a774696d656f7574ccb4a77061796c6f616482a76c6f676e616d65a85365637572697479a464617973a131",
            EventLog { logname: "Security".into(), days: 1 }.into(),
        ),
        // procs
        (
            "81a466756e63a570726f6373",
            Procs.into(),
        ),
        // killproc
        (
            "82a466756e63a86b696c6c70726f63a770726f63706964cd1092",
            KillProc { pid: 4242 }.into(),
        ),
        // rawcmd
        (
            "85a466756e63a6726177636d64a774696d656f75741ea77061796c6f616482a7636f6d6d616e64a86970636f6e666967a57368656c6ca3636d64ab72756e5f61735f75736572c2a269644d",
            RawCmd {
            command: "ipconfig".into(),
            shell: "cmd".into(),
            timeout: 30,
            run_as_user: false,
            history_id: Some(77),
            stream_id: None,
        }
        .into(),
        ),
        // rawcmd_stream
        (
            "86a466756e63a6726177636d64a774696d656f75741ea77061796c6f616483a7636f6d6d616e64a3646972a57368656c6ca3636d64a6636d645f6964a461623132ab72756e5f61735f75736572c2a269644ea673747265616dc3",
            RawCmd {
            command: "dir".into(),
            shell: "cmd".into(),
            timeout: 30,
            run_as_user: false,
            history_id: Some(78),
            stream_id: Some("ab12".into()),
        }
        .into(),
        ),
        // winservices
        (
            "81a466756e63ab77696e7365727669636573",
            WinServices.into(),
        ),
        // winsvcdetail
        (
            "82a466756e63ac77696e73766364657461696ca77061796c6f616481a46e616d65a773706f6f6c6572",
            WinSvcDetail { name: "spooler".into() }.into(),
        ),
        // winsvcaction
        (
            "82a466756e63ac77696e737663616374696f6ea77061796c6f616482a46e616d65a773706f6f6c6572a6616374696f6ea473746f70",
            WinSvcAction { name: "spooler".into(), action: "stop".into() }.into(),
        ),
        // editwinsvc
        (
            "82a466756e63aa6564697477696e737663a77061796c6f616482a46e616d65a773706f6f6c6572a9737461727454797065a96175746f64656c6179",
            EditWinSvc { name: "spooler".into(), start_type: "autodelay".into() }.into(),
        ),
        // runscript
        (
            "89a466756e63a972756e736372697074a774696d656f757421ab7363726970745f6172677391a22d61a77061796c6f616482a4636f6465a76563686f206869a57368656c6caa706f7765727368656c6cab72756e5f61735f75736572c2a8656e765f7661727391a3413d31b56e757368656c6c5f656e61626c655f636f6e666967c2b864656e6f5f64656661756c745f7065726d697373696f6e73ab2d2d616c6c6f772d616c6ca2696409",
            RunScript(Script {
            code: "echo hi".into(),
            shell: "powershell".into(),
            timeout: 33,
            args: vec!["-a".into()],
            env_vars: vec!["A=1".into()],
            run_as_user: false,
            history_id: Some(9),
            nushell_enable_config: false,
            deno_default_permissions: "--allow-all".into(),
        })
        .into(),
        ),
        // runscriptfull
        (
            "88a466756e63ad72756e73637269707466756c6ca774696d656f757421ab7363726970745f6172677390a77061796c6f616482a4636f6465a76563686f206869a57368656c6ca6707974686f6eab72756e5f61735f75736572c3a8656e765f7661727390b56e757368656c6c5f656e61626c655f636f6e666967c2b864656e6f5f64656661756c745f7065726d697373696f6e73ab2d2d616c6c6f772d616c6c",
            RunScriptFull(Script {
            code: "echo hi".into(),
            shell: "python".into(),
            timeout: 33,
            run_as_user: true,
            deno_default_permissions: "--allow-all".into(),
            ..Default::default()
        })
        .into(),
        ),
        // recover
        (
            "82a466756e63a77265636f766572a77061796c6f616481a46d6f6465a46d657368",
            Recover { mode: "mesh".into() }.into(),
        ),
        // runtask
        (
            "82a466756e63a772756e7461736ba67461736b706b0c",
            RunTask { task_pk: 12 }.into(),
        ),
        // installwithchoco
        (
            "83a466756e63b0696e7374616c6c7769746863686f636faf63686f636f5f70726f675f6e616d65a3676974b170656e64696e675f616374696f6e5f706b03",
            InstallWithChoco { name: "git".into(), pending_action_pk: 3 }.into(),
        ),
        // installwinupdates
        (
            "82a466756e63b1696e7374616c6c77696e75706461746573a5677569647392a3612d62a3632d64",
            InstallWinUpdates { guids: vec!["a-b".into(), "c-d".into()] }.into(),
        ),
        // agentupdate
        (
            "82a466756e63ab6167656e74757064617465a77061796c6f616483a375726cbd68747470733a2f2f6578616d706c652e636f6d2f6167656e742e657865a776657273696f6ea5322e392e31a4696e6e6fd926746163746963616c6167656e742d76322e392e312d77696e646f77732d616d6436342e657865",
            AgentUpdate {
            url: "https://example.com/agent.exe".into(),
            version: "2.9.1".into(),
            inno: "tacticalagent-v2.9.1-windows-amd64.exe".into(),
        }
        .into(),
        ),
        // uninstall
        (
            "82a466756e63a9756e696e7374616c6ca4636f6465a3666f6f",
            Uninstall { code: "foo".into() }.into(),
        ),
        // terminal_start
        (
            "83a466756e63ae7465726d696e616c5f7374617274a77061796c6f616482aa73657373696f6e5f6964a27531a57368656c6ca462617368ab72756e5f61735f75736572c2",
            TerminalStart { session_id: "u1".into(), shell: "bash".into(), run_as_user: false }.into(),
        ),
        // terminal_input
        (
            "82a466756e63ae7465726d696e616c5f696e707574a77061796c6f616482aa73657373696f6e5f6964a27531a464617461a36c730d",
            TerminalInput { session_id: "u1".into(), data: "ls\r".into() }.into(),
        ),
        // terminal_resize
        (
            "82a466756e63af7465726d696e616c5f726573697a65a77061796c6f616483aa73657373696f6e5f6964a27531a4726f7773a23234a4636f6c73a23830",
            TerminalResize { session_id: "u1".into(), rows: 24, cols: 80 }.into(),
        ),
        // terminal_kill
        (
            "82a466756e63ad7465726d696e616c5f6b696c6ca77061796c6f616481aa73657373696f6e5f6964a27531",
            TerminalKill { session_id: "u1".into() }.into(),
        ),
        // registry_browse
        (
            "83a466756e63af72656769737472795f62726f777365a774696d656f75741ea77061796c6f616483a470617468ad484b4c4d5c534f465457415245a470616765a131a9706167655f73697a65a3313030",
            RegistryBrowse { path: KEY.into(), page: 1, page_size: 100 }.into(),
        ),
        // registry_create_key
        (
            "83a466756e63b372656769737472795f6372656174655f6b6579a774696d656f75741ea77061796c6f616481a470617468af484b4c4d5c534f4654574152455c58",
            RegistryCreateKey { path: X.into() }.into(),
        ),
        // registry_delete_key
        (
            "83a466756e63b372656769737472795f64656c6574655f6b6579a774696d656f75741ea77061796c6f616481a470617468af484b4c4d5c534f4654574152455c58",
            RegistryDeleteKey { path: X.into() }.into(),
        ),
        // registry_rename_key
        (
            "83a466756e63b372656769737472795f72656e616d655f6b6579a774696d656f75743ca77061796c6f616482a86f6c645f70617468af484b4c4d5c534f4654574152455c58a86e65775f70617468af484b4c4d5c534f4654574152455c59",
            RegistryRenameKey { old_path: X.into(), new_path: Y.into() }.into(),
        ),
        // registry_create_value
        (
            "83a466756e63b572656769737472795f6372656174655f76616c7565a774696d656f75741ea77061796c6f616484a470617468af484b4c4d5c534f4654574152455c58a474797065a95245475f44574f5244a46e616d65a16ea464617461a135",
            RegistryCreateValue(value("REG_DWORD", "5")).into(),
        ),
        // registry_modify_value
        (
            "83a466756e63b572656769737472795f6d6f646966795f76616c7565a774696d656f75741ea77061796c6f616484a470617468af484b4c4d5c534f4654574152455c58a474797065a65245475f535aa46e616d65a16ea464617461a176",
            RegistryModifyValue(value("REG_SZ", "v")).into(),
        ),
        // registry_delete_value
        (
            "83a466756e63b572656769737472795f64656c6574655f76616c7565a774696d656f75741ea77061796c6f616482a470617468af484b4c4d5c534f4654574152455c58a46e616d65a16e",
            RegistryDeleteValue { path: X.into(), name: "n".into() }.into(),
        ),
        // registry_rename_value
        (
            "83a466756e63b572656769737472795f72656e616d655f76616c7565a774696d656f75741ea77061796c6f616483a470617468af484b4c4d5c534f4654574152455c58a86f6c645f6e616d65a16ea86e65775f6e616d65a16d",
            RegistryRenameValue { path: X.into(), old_name: "n".into(), new_name: "m".into() }.into(),
        ),
        // softwarelist
        (
            "81a466756e63ac736f6674776172656c697374",
            SoftwareList.into(),
        ),
        // shutdown
        (
            "81a466756e63a873687574646f776e",
            Shutdown.into(),
        ),
        // rebootnow
        (
            "81a466756e63a97265626f6f746e6f77",
            RebootNow.into(),
        ),
        // needsreboot
        (
            "81a466756e63ab6e656564737265626f6f74",
            NeedsReboot.into(),
        ),
        // sysinfo
        (
            "81a466756e63a7737973696e666f",
            SysInfo.into(),
        ),
        // wmi
        (
            "81a466756e63a3776d69",
            Wmi.into(),
        ),
        // cpuloadavg
        (
            "81a466756e63aa6370756c6f6164617667",
            CpuLoadAvg.into(),
        ),
        // runchecks
        (
            "81a466756e63a972756e636865636b73",
            RunChecks.into(),
        ),
        // publicip
        (
            "81a466756e63a87075626c69636970",
            PublicIp.into(),
        ),
        // installpython
        (
            "81a466756e63ad696e7374616c6c707974686f6e",
            InstallPython.into(),
        ),
        // installnushell
        (
            "81a466756e63ae696e7374616c6c6e757368656c6c",
            InstallNushell.into(),
        ),
        // installdeno
        (
            "81a466756e63ab696e7374616c6c64656e6f",
            InstallDeno.into(),
        ),
        // installchoco
        (
            "81a466756e63ac696e7374616c6c63686f636f",
            InstallChoco.into(),
        ),
        // getwinupdates
        (
            "81a466756e63ad67657477696e75706461746573",
            GetWinUpdates.into(),
        ),
    ]
}

#[test]
fn every_function_has_a_literal() {
    let covered: std::collections::BTreeSet<&str> = upstream().iter().map(|(_, call)| call.func()).collect();
    let all: std::collections::BTreeSet<&str> = AgentCall::FUNCS.iter().copied().collect();
    assert_eq!(covered, all);
    assert_eq!(AgentCall::FUNCS.len(), 47);
}

#[test]
fn upstream_envelopes_decode_to_their_calls() {
    for (hex, call) in upstream() {
        assert_eq!(AgentCall::decode(&bytes(hex)).unwrap(), call, "{}", call.func());
    }
}

#[test]
fn calls_encode_as_upstream_does_with_timeout_always_present() {
    for (hex, call) in upstream() {
        let mut expected = as_json(&bytes(hex));
        let timeout = call.default_timeout().as_secs();
        expected
            .as_object_mut()
            .unwrap()
            .entry("timeout")
            .or_insert(json!(timeout));
        let ours = call.encode().unwrap();
        assert_eq!(as_json(&ours), expected, "{}", call.func());
        assert_eq!(AgentCall::decode(&ours).unwrap(), call, "{}", call.func());
    }
}

#[test]
fn calls_are_stored_as_their_envelope() {
    let call: AgentCall = RawCmd {
        command: "uptime".into(),
        shell: "/bin/bash".into(),
        timeout: 30,
        history_id: Some(4),
        ..RawCmd::default()
    }
    .into();
    let text = serde_json::to_string(&call).unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap(),
        json!({"func": "rawcmd", "timeout": 30, "payload": {"command": "uptime", "shell": "/bin/bash"},
               "run_as_user": false, "id": 4})
    );
    for (_, call) in upstream() {
        let back: AgentCall = serde_json::from_str(&serde_json::to_string(&call).unwrap()).unwrap();
        assert_eq!(back, call);
    }
}

#[test]
fn bad_envelopes_are_refused_as_the_go_agent_refuses_them() {
    let unknown = crate::nats::encode(&json!({"func": "frobnicate", "timeout": 1})).unwrap();
    assert_eq!(
        AgentCall::decode(&unknown),
        Err(CallError::Unknown("frobnicate".into()))
    );
    let not_string = crate::nats::encode(&json!({"func": "rawcmd", "timeout": 5, "payload": {"command": 5}})).unwrap();
    assert!(matches!(AgentCall::decode(&not_string), Err(CallError::Codec(_))));
    let bad_rows = crate::nats::encode(&json!({"func": "terminal_resize", "payload": {"rows": "tall"}})).unwrap();
    assert!(matches!(
        AgentCall::decode(&bad_rows),
        Err(CallError::Invalid {
            func: "terminal_resize",
            ..
        })
    ));
    assert!(matches!(AgentCall::decode(b"\xc1"), Err(CallError::Codec(_))));
}

/// Decodes `reply` (JSON of what the Go agent sends) as ugorji writes it, and our own encoding of the result.
fn reply<C: Call>(reply: Value) -> C::Reply
where
    C::Reply: serde::Serialize + PartialEq + std::fmt::Debug,
{
    let decoded = decode_reply::<C>(&ugorji::encode(&reply)).unwrap();
    let ours = crate::nats::encode(&decoded).unwrap();
    assert_eq!(decode_reply::<C>(&ours).unwrap(), decoded);
    decoded
}

#[test]
fn go_agent_replies_decode_to_typed_replies() {
    assert_eq!(reply::<Ping>(json!("pong")), "pong");
    assert_eq!(reply::<RawCmd>(json!("line 1\nline 2")), "line 1\nline 2");
    assert_eq!(reply::<ListSchedTasks>(Value::Null), Vec::<String>::new());
    assert!(reply::<NeedsReboot>(json!(true)));
    assert_eq!(reply::<CpuLoadAvg>(json!(37)), 37);
    assert_eq!(reply::<RunChecks>(json!("busy")), RunChecksReply::Busy);
    assert_eq!(
        reply::<AgentUpdate>(json!("updaterunning")),
        AgentUpdateReply::UpdateRunning
    );
    let procs = reply::<Procs>(
        json!([{"name": "sshd", "pid": 812, "membytes": 9_000_000u64, "username": "root",
                                       "id": 1, "cpu_percent": "0.5"}]),
    );
    assert_eq!((procs[0].pid, procs[0].membytes), (812, 9_000_000));
    let full = reply::<RunScriptFull>(json!({"stdout": "hi\n", "stderr": "", "retcode": 0,
                                             "execution_time": 0.25, "id": 9}));
    assert_eq!((full.stdout.as_str(), full.retcode, full.id), ("hi\n", 0, 9));
    let detail = reply::<WinSvcDetail>(
        json!({"name": "Spooler", "status": "running", "display_name": "Print Spooler",
        "binpath": "spoolsv.exe", "description": "", "username": "LocalSystem", "pid": 2044, "start_type": "Automatic",
        "autodelay": false}),
    );
    assert_eq!(
        (detail.pid, detail.start_type.as_deref()),
        (Some(2044), Some("Automatic"))
    );
    let svc = reply::<WinSvcAction>(json!({"success": false, "errormsg": "/na"}));
    assert_eq!(svc.errormsg, "/na");
    let log = reply::<EventLog>(
        json!([{"source": "Service Control Manager", "eventType": "INFO", "eventID": 7036,
                                        "message": "started", "time": "2024-05-01 13:04:05 -0700 PDT", "uid": 1}]),
    );
    assert_eq!(log[0].event_id, 7036);
    let sw = reply::<SoftwareList>(json!([{"name": "git", "version": "2.39", "publisher": "Debian",
        "install_date": "2023-1-05", "size": "7.0 MB", "source": "", "location": "", "uninstall": ""}]));
    assert_eq!(sw[0].install_date, "2023-1-05");
    let listing = reply::<RegistryBrowse>(json!({"path": KEY, "subkeys": ["Microsoft"], "has_more": false,
        "values": [{"name": "n", "type": "REG_DWORD", "data": 5}, {"name": "s", "type": "REG_SZ", "data": "x"}]}));
    let RegistryResult::Done(listing) = listing else {
        panic!("{listing:?}")
    };
    assert_eq!(listing.values[0].data, RegistryData::Number(5));
    let failed = reply::<RegistryDeleteKey>(json!({"error": "access denied"}));
    assert_eq!(
        failed,
        RegistryResult::Failed {
            error: "access denied".into()
        }
    );
    let renamed = reply::<RegistryRenameValue>(json!({"new_name": "m"}));
    assert_eq!(renamed, RegistryResult::Done(RegistryRenamed { new_name: "m".into() }));
}

#[test]
fn published_only_calls_have_no_reply() {
    assert!(decode_reply::<RunTask>(&crate::nats::encode("ok").unwrap()).is_err());
}
