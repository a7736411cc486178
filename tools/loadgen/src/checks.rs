//! `checks`: check results from many simulated agents at a fixed rate (`PATCH /api/v3/checkrunner/` with each
//! agent's own token and the Go agent's bodies), after optionally giving every agent eight checks.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::StreamExt;
use rand::Rng;
use serde_json::{json, Value};
use tokio::sync::{Mutex, Semaphore};
use trmm_db::checks::CheckFields;
use trmm_db::scripts::ScriptFields;

/// Options of `checks`.
#[derive(clap::Args)]
pub struct ChecksArgs {
    /// API base URL (loopback only in benchmarks).
    #[arg(long)]
    api: String,
    /// Postgres URL of the suite (with `--setup`: the checks are created straight in the database).
    #[arg(long, env = "TRMM_DATABASE_URL")]
    database_url: Option<String>,
    /// The checks to report on, one JSON object a line: written by `--setup`, read by the sending runs (which
    /// then need no database connection: the suite under load holds the server's connection slots).
    #[arg(long)]
    targets: PathBuf,
    /// Credentials file written by `seed`.
    #[arg(long)]
    creds: PathBuf,
    /// Use only the first N agents of the file (at most 50,000).
    #[arg(long)]
    limit: usize,
    /// Give each agent its eight checks first.
    #[arg(long)]
    setup: bool,
    /// Results per second to send.
    #[arg(long, default_value_t = 0)]
    rate: u32,
    /// Seconds to send for (at most 600).
    #[arg(long, default_value_t = 0)]
    duration: u64,
    /// Requests in flight at most; a result due while all are busy is counted as behind, not sent.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
}

/// The eight checks each agent gets: (type, settings).
fn eight(script: trmm_db::ScriptId) -> Vec<(&'static str, CheckFields)> {
    let t = |w: i32, e: i32| CheckFields {
        fails_b4_alert: 1,
        warning_threshold: Some(w),
        error_threshold: Some(e),
        ..CheckFields::default()
    };
    let disk = |d: &str| CheckFields {
        disk: Some(d.into()),
        ..t(25, 10)
    };
    vec![
        ("diskspace", disk("C:")),
        ("diskspace", disk("D:")),
        (
            "cpuload",
            CheckFields {
                dashboard_alert: true,
                ..t(70, 90)
            },
        ),
        ("memory", t(80, 95)),
        (
            "ping",
            CheckFields {
                fails_b4_alert: 1,
                ip: Some("10.0.0.1".into()),
                alert_severity: Some("warning".into()),
                ..CheckFields::default()
            },
        ),
        (
            "winsvc",
            CheckFields {
                fails_b4_alert: 1,
                svc_name: Some("spooler".into()),
                alert_severity: Some("warning".into()),
                ..CheckFields::default()
            },
        ),
        (
            "eventlog",
            CheckFields {
                fails_b4_alert: 1,
                log_name: Some("System".into()),
                event_type: Some("ERROR".into()),
                fail_when: Some("contains".into()),
                number_of_events_b4_alert: Some(1),
                alert_severity: Some("warning".into()),
                ..CheckFields::default()
            },
        ),
        (
            "script",
            CheckFields {
                fails_b4_alert: 1,
                script: Some(script),
                timeout: Some(30),
                ..CheckFields::default()
            },
        ),
    ]
}

/// One check to report on: whose, which and what kind.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct Target {
    agent_id: String,
    token: String,
    check: i32,
    kind: String,
}

async fn setup(args: &ChecksArgs, creds: &[crate::seed::Creds]) -> anyhow::Result<Vec<Target>> {
    // A few connections: the suite under test holds most of the server's slots.
    let url = args
        .database_url
        .as_deref()
        .context("--setup needs --database-url (TRMM_DATABASE_URL)")?;
    let pool = trmm_db::connect_sized(url, 4)?;
    let db = pool.get().await.context("connecting to Postgres")?;
    let script = ScriptFields {
        name: "trmm-loadgen check".into(),
        shell: "shell".into(),
        script_body: "exit 0".into(),
        default_timeout: 30,
        ..ScriptFields::default()
    };
    let script = trmm_db::scripts::create(&db, "userdefined", None, &script, "trmm-loadgen").await?;
    drop(db);
    let made = futures_util::stream::iter(creds.iter().cloned())
        .map(|c| {
            let pool = pool.clone();
            async move {
                let db = pool.get().await?;
                let agent = trmm_db::agents::find_by_agent_id(&db, &c.agent_id)
                    .await?
                    .with_context(|| format!("agent {} is not in the database", c.agent_id))?;
                let mut existing = trmm_db::checks::for_agent(&db, agent.pk).await?;
                if existing.is_empty() {
                    for (kind, fields) in eight(script) {
                        trmm_db::checks::create(&db, agent.pk, kind, &fields, "trmm-loadgen").await?;
                    }
                    existing = trmm_db::checks::for_agent(&db, agent.pk).await?;
                }
                let (id, token) = (c.agent_id, c.token);
                anyhow::Ok(
                    existing
                        .into_iter()
                        .filter_map(|check| {
                            let kind = trmm_protocol::checks::CheckType::parse(&check.check_type)?.as_str();
                            Some(Target {
                                agent_id: id.clone(),
                                token: token.clone(),
                                check: check.id.0,
                                kind: kind.into(),
                            })
                        })
                        .collect::<Vec<_>>(),
                )
            }
        })
        .buffer_unordered(4)
        .collect::<Vec<_>>()
        .await;
    let mut targets = Vec::new();
    for m in made {
        targets.extend(m?);
    }
    Ok(targets)
}

/// A plausible result body of the Go agent for a check of `kind`; mostly passing.
fn body(t: &Target) -> Value {
    let mut rng = rand::thread_rng();
    let fields = match &*t.kind {
        "diskspace" => json!({"more_info": "Total: 465.1 GB, Free: 120.0 GB",
                              "percent_used": rng.gen_range(20.0..80.0), "exists": true}),
        "cpuload" | "memory" => json!({"percent": rng.gen_range(5..85)}),
        "ping" => json!({"status": if rng.gen_bool(0.98) { "passing" } else { "failing" }, "output": "3 packets"}),
        "winsvc" => json!({"status": "passing", "more_info": "Status: running"}),
        "eventlog" => json!({"log": []}),
        _ => json!({"stdout": "ok", "stderr": "", "retcode": 0, "runtime": 0.12}),
    };
    let mut b = json!({"id": t.check, "agent_id": &*t.agent_id});
    if let (Value::Object(b), Value::Object(f)) = (&mut b, fields) {
        b.extend(f);
    }
    b
}

#[derive(Default)]
struct Counts {
    sent: AtomicU64,
    failed: AtomicU64,
    behind: AtomicU64,
}

pub async fn run(args: ChecksArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.limit <= 50_000, "--limit is limited to 50,000");
    anyhow::ensure!(args.duration <= 600, "--duration is limited to 600 s");
    let creds = crate::read_creds(&args.creds, Some(args.limit))?;
    let t0 = Instant::now();
    let targets = if args.setup {
        let targets = setup(&args, &creds).await?;
        let mut file = std::io::BufWriter::new(std::fs::File::create(&args.targets)?);
        for t in &targets {
            serde_json::to_writer(&mut file, t)?;
            std::io::Write::write_all(&mut file, b"\n")?;
        }
        std::io::Write::flush(&mut file)?;
        targets
    } else {
        let text = std::fs::read_to_string(&args.targets)
            .with_context(|| format!("reading {} (written by --setup)", args.targets.display()))?;
        text.lines()
            .map(serde_json::from_str)
            .collect::<Result<Vec<Target>, _>>()?
    };
    if args.setup {
        println!(
            "checks ready: {} on {} agents in {:.1}s",
            targets.len(),
            creds.len(),
            t0.elapsed().as_secs_f64()
        );
    }
    if args.rate == 0 || args.duration == 0 || targets.is_empty() {
        return Ok(());
    }
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
    let url: Arc<str> = format!("{}/api/v3/checkrunner/", args.api.trim_end_matches('/')).into();
    let slots = Arc::new(Semaphore::new(args.concurrency.max(1)));
    let counts = Arc::new(Counts::default());
    let samples = Arc::new(Mutex::new(Vec::new()));
    // Ticks of 10 ms, each sending its share of the rate, round-robin over every check of every agent.
    let per_tick = f64::from(args.rate) / 100.0;
    let mut owed = 0.0;
    let mut next = 0usize;
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let start = Instant::now();
    let end = start + Duration::from_secs(args.duration);
    while Instant::now() < end {
        tick.tick().await;
        owed += per_tick;
        while owed >= 1.0 {
            owed -= 1.0;
            let target = targets[next % targets.len()].clone();
            next += 1;
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                counts.behind.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            let (client, url, counts, samples) = (client.clone(), url.clone(), counts.clone(), samples.clone());
            tokio::spawn(async move {
                let began = Instant::now();
                let resp = client
                    .patch(&*url)
                    .header("Authorization", format!("Token {}", target.token))
                    .json(&body(&target))
                    .send()
                    .await;
                let ok = matches!(&resp, Ok(r) if r.status().is_success());
                counts.sent.fetch_add(1, Ordering::Relaxed);
                if ok {
                    samples.lock().await.push(began.elapsed());
                } else {
                    counts.failed.fetch_add(1, Ordering::Relaxed);
                }
                drop(slot);
            });
        }
    }
    let _ = slots
        .acquire_many(u32::try_from(args.concurrency.max(1)).unwrap_or(u32::MAX))
        .await;
    let secs = start.elapsed().as_secs_f64();
    let samples = std::mem::take(&mut *samples.lock().await);
    let ok = samples.len();
    println!(
        "PATCH /api/v3/checkrunner/: sent={} ok={ok} failed={} behind={} rate={:.0}/s {}",
        counts.sent.load(Ordering::Relaxed),
        counts.failed.load(Ordering::Relaxed),
        counts.behind.load(Ordering::Relaxed),
        ok as f64 / secs,
        crate::stats::summary(samples)
    );
    Ok(())
}
