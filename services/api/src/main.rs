use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context};
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;
use trmm_api::clock::SystemClock;
use trmm_api::config::{Cli, Command, ServeConfig, SuperuserArgs};
use trmm_api::state::{AppState, Settings};
use trmm_db::users::{self, Upserted};
use trmm_runtime::health::Health;

fn main() -> ExitCode {
    trmm_runtime::service::main(trmm_api::SERVICE, run)
}

async fn run(cli: Cli, shutdown: CancellationToken) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(cli.serve, shutdown).await,
        Command::Migrate => {
            let pool = pool(&cli.serve)?;
            let n = trmm_db::migrate::run(&pool)
                .await
                .context("applying migrations (is Postgres running and TRMM_DATABASE_URL right?)")?;
            println!("applied {n} migration(s)");
            Ok(())
        }
        Command::Createsuperuser(args) => create_superuser(&cli.serve, args).await,
    }
}

fn pool(cfg: &ServeConfig) -> anyhow::Result<trmm_db::Pool> {
    Ok(cfg.postgres.pool()?)
}

async fn serve(cfg: ServeConfig, shutdown: CancellationToken) -> anyhow::Result<()> {
    let min_agent_version = cfg
        .min_agent_version
        .parse()
        .map_err(|e| anyhow::anyhow!("TRMM_MIN_AGENT_VERSION: {e}; use a dotted version such as 2.9.0"))?;
    let notifier = cfg.notify.notifier()?;
    let db = pool(&cfg)?;
    let health = Health::new(trmm_api::SERVICE);
    health.set_ready(trmm_deps::postgres::DEPENDENCY, false);
    if !cfg.no_migrate {
        let migrated = trmm_runtime::backoff::connect_with_backoff("postgres (migrations)", &shutdown, || {
            trmm_db::migrate::run(&db)
        })
        .await;
        if migrated.is_none() {
            return Ok(());
        }
    }
    trmm_deps::postgres::check_slots(&db).await;
    trmm_deps::postgres::watch(&db, &health, &shutdown);
    let redis = Arc::new(OnceCell::new());
    trmm_api::connect_redis(&cfg.redis, redis.clone(), &health, shutdown.clone());
    let gateway = cfg.gateway.client()?;
    let clock = SystemClock::shared();
    let events = trmm_ops::events::Events::spawn(gateway.clone(), clock.clone(), shutdown.clone()).registered(&health);
    let monitoring_token = cfg.monitoring_token.as_deref().filter(|t| !t.is_empty());
    let state = AppState {
        db,
        redis,
        settings: Arc::new(Settings {
            public_url: cfg.public_url.trim_end_matches('/').to_owned(),
            agent_nats_url: cfg.agent_nats_url,
            min_agent_version,
            checkin_hello: cfg.checkin_hello,
            trust_proxy_headers: cfg.proxy.trust_proxy_headers,
            login_rate_limit: cfg.login_rate_limit,
            redis_prefix: cfg.redis_keys.redis_prefix,
            monitoring_token: monitoring_token.map(trmm_auth::digest_token),
            root_user: cfg.root_user.filter(|u| !u.is_empty()),
        }),
        clock,
        gateway,
        notifier,
        events,
    };
    let (addr, server) = trmm_api::bind(state, cfg.listen, health, cfg.workers, shutdown).with_context(|| {
        format!(
            "cannot listen on {} (set TRMM_API_LISTEN to a free address)",
            cfg.listen
        )
    })?;
    tracing::info!(%addr, "trmm-api listening");
    server.await.context("HTTP server failed")
}

fn prompt(label: &str, value: Option<String>) -> anyhow::Result<String> {
    if let Some(v) = value {
        return Ok(v);
    }
    if !std::io::stdin().is_terminal() {
        bail!("--{label} is required when not running on a terminal");
    }
    print!("{label}: ");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let line = line.trim().to_owned();
    if line.is_empty() {
        bail!("{label} may not be empty");
    }
    Ok(line)
}

async fn create_superuser(cfg: &ServeConfig, args: SuperuserArgs) -> anyhow::Result<()> {
    let username = prompt("username", args.username)?;
    let email = prompt("email", args.email)?;
    let password = prompt("password", args.password)?;
    if password.chars().count() < 8 {
        bail!("the password must have at least 8 characters");
    }
    if let Some(secret) = &args.totp_secret {
        trmm_auth::totp_code(secret, 0).context("--totp-secret must be base32 (A-Z, 2-7)")?;
    }
    let pool = pool(cfg)?;
    trmm_db::migrate::run(&pool)
        .await
        .context("connecting to Postgres to apply migrations")?;
    let hash = trmm_auth::hash_password(&password).context("hashing the password")?;
    let db = pool.get().await.context("connecting to Postgres")?;
    let outcome = users::upsert_superuser(
        &db,
        &username,
        &email,
        &hash,
        args.totp_secret.as_deref(),
        args.update_existing,
    )
    .await
    .context("saving the user")?;
    match outcome {
        Upserted::Created => println!("superuser {username} created"),
        Upserted::Updated => println!("superuser {username} updated"),
        Upserted::AlreadyExists => {
            bail!("user {username} already exists (pass --update-existing to reset it)")
        }
    }
    Ok(())
}
