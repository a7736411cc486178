//! `seed`: agents and tokens written straight to Postgres, far faster than enrolling through the API.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// Options of `seed`.
#[derive(clap::Args)]
pub struct SeedArgs {
    /// Postgres URL of the suite.
    #[arg(long, env = "TRMM_DATABASE_URL")]
    database_url: String,
    /// Site the agents belong to.
    #[arg(long)]
    site: i32,
    /// How many agents (at most 200,000).
    #[arg(long)]
    count: usize,
    /// Prefix of the generated hostnames.
    #[arg(long, default_value = "sim")]
    prefix: String,
    /// Where to write the credentials, one JSON object per line.
    #[arg(long)]
    out: PathBuf,
}

/// One simulated agent's credentials.
#[derive(Serialize, Deserialize, Clone)]
pub struct Creds {
    /// 40-letter agent id.
    pub agent_id: String,
    /// Agent token (NATS password).
    pub token: String,
}

pub async fn run(args: SeedArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.count <= 200_000, "--count is limited to 200,000");
    let pool = trmm_db::connect(&args.database_url)?;
    let db = pool.get().await.context("connecting to Postgres")?;
    let mut file = std::io::BufWriter::new(std::fs::File::create(&args.out)?);
    for (n, chunk) in (0..args.count).collect::<Vec<_>>().chunks(5000).enumerate() {
        let batch: Vec<(String, String, Vec<u8>, String)> = chunk
            .iter()
            .map(|i| {
                let token = trmm_auth::generate_agent_token();
                (
                    trmm_auth::generate_agent_id(),
                    format!("{}-{i:06}", args.prefix),
                    trmm_auth::digest_token(&token),
                    token,
                )
            })
            .collect();
        let rows: Vec<(String, String, Vec<u8>)> = batch
            .iter()
            .map(|(id, host, digest, _)| (id.clone(), host.clone(), digest.clone()))
            .collect();
        trmm_db::agents::bulk_create_with_tokens(&db, trmm_db::SiteId(args.site), &rows, "trmm-loadgen")
            .await
            .with_context(|| format!("inserting batch {n}"))?;
        for (agent_id, _, _, token) in batch {
            serde_json::to_writer(&mut file, &Creds { agent_id, token })?;
            file.write_all(b"\n")?;
        }
    }
    file.flush()?;
    println!(
        "seeded {} agents into site {}; credentials in {}",
        args.count,
        args.site,
        args.out.display()
    );
    Ok(())
}
