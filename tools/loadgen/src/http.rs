//! `http`: request latency of one API path with a bounded number of requests.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::sync::Mutex;

/// Options of `http`.
#[derive(clap::Args)]
pub struct HttpArgs {
    /// API base URL (loopback only in benchmarks).
    #[arg(long)]
    api: String,
    /// Dashboard token.
    #[arg(long, env = "TRMM_LOADGEN_TOKEN")]
    token: String,
    /// Path to request, e.g. /agents/ or /agents/<id>/ping/.
    #[arg(long)]
    path: String,
    /// Number of requests (at most 100,000).
    #[arg(long, default_value_t = 200)]
    requests: usize,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
}

pub async fn run(args: HttpArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.requests <= 100_000, "--requests is limited to 100,000");
    let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).build()?;
    let url = format!("{}{}", args.api.trim_end_matches('/'), args.path);
    let samples = Arc::new(Mutex::new(Vec::with_capacity(args.requests)));
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..args.concurrency.max(1) {
        let (client, url, token, samples, next) = (
            client.clone(),
            url.clone(),
            args.token.clone(),
            samples.clone(),
            next.clone(),
        );
        let total = args.requests;
        workers.push(tokio::spawn(async move {
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < total {
                let start = Instant::now();
                let resp = client
                    .get(&url)
                    .header("Authorization", format!("Token {token}"))
                    .send()
                    .await?;
                let status = resp.status();
                let body = resp.bytes().await?;
                anyhow::ensure!(
                    status.is_success(),
                    "{url}: {status} {}",
                    String::from_utf8_lossy(&body)
                );
                samples.lock().await.push(start.elapsed());
            }
            anyhow::Ok(())
        }));
    }
    for w in workers {
        w.await.context("worker panicked")??;
    }
    let samples = std::mem::take(&mut *samples.lock().await);
    println!("GET {}: {}", args.path, crate::stats::summary(samples));
    Ok(())
}
