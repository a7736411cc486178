use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::Context;
use tokio_postgres::NoTls;

/// Admin URL able to CREATE DATABASE (env `TRMM_TEST_DATABASE_URL`).
fn admin_url() -> String {
    std::env::var("TRMM_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

fn url_for(db: &str) -> String {
    let admin = admin_url();
    let (without_query, query) = admin.split_at(admin.find('?').unwrap_or(admin.len()));
    let host_start = without_query.find("://").map_or(0, |i| i + 3);
    let base = match without_query[host_start..].find('/') {
        Some(i) => &without_query[..host_start + i],
        None => without_query,
    };
    format!("{base}/{db}{query}")
}

async fn admin() -> anyhow::Result<tokio_postgres::Client> {
    let url = admin_url();
    let (client, conn) = tokio_postgres::connect(&url, NoTls)
        .await
        .with_context(|| format!("connecting to {url}: run scripts/test.sh, or set TRMM_TEST_DATABASE_URL"))?;
    tokio::spawn(conn);
    Ok(client)
}

/// Builds (once per schema version) a migrated template database and returns its name.
async fn template(admin: &tokio_postgres::Client) -> anyhow::Result<String> {
    let name = format!("trmm_tmpl_{}", trmm_db::migrate::fingerprint());
    // Serialise template creation across concurrently running test binaries.
    admin.execute("SELECT pg_advisory_lock(7472666)", &[]).await?;
    let result = async {
        let exists = admin
            .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
            .await?
            .is_some();
        if !exists {
            let building = format!("{name}_building");
            admin
                .batch_execute(&format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)"))
                .await?;
            admin.batch_execute(&format!("CREATE DATABASE {building}")).await?;
            let pool = trmm_db::connect(&url_for(&building))?;
            trmm_db::migrate::run(&pool)
                .await
                .context("migrating the template database")?;
            pool.close();
            admin
                .batch_execute(&format!("ALTER DATABASE {building} RENAME TO {name}"))
                .await?;
        }
        anyhow::Ok(())
    }
    .await;
    admin.execute("SELECT pg_advisory_unlock(7472666)", &[]).await?;
    result.map(|()| name)
}

/// A fresh, migrated database for one test, dropped when the value is dropped.
pub struct TestDb {
    name: String,
    url: String,
    pool: trmm_db::Pool,
}

impl TestDb {
    /// Creates the database from the migrated template.
    pub async fn new() -> TestDb {
        Self::try_new().await.expect("creating a test database")
    }

    async fn try_new() -> anyhow::Result<TestDb> {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let admin = admin().await?;
        let template = template(&admin).await?;
        let name = format!(
            "trmm_test_{}_{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await?;
        admin
            .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {template}"))
            .await?;
        let url = url_for(&name);
        let pool = trmm_db::connect(&url)?;
        Ok(TestDb { name, url, pool })
    }

    /// Connection URL of this database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A pool on this database.
    pub fn pool(&self) -> &trmm_db::Pool {
        &self.pool
    }

    /// Takes the database away as a Postgres restart would, until [`TestDb::end_outage`]: new connections are
    /// refused and every open one is closed.
    pub async fn begin_outage(&self) {
        let admin = admin().await.expect("an admin connection");
        let sql = format!("ALTER DATABASE {} ALLOW_CONNECTIONS false", self.name);
        admin.batch_execute(&sql).await.expect("disallowing connections");
        let kill = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1";
        admin
            .execute(kill, &[&self.name])
            .await
            .expect("terminating connections");
    }

    /// Lets connections in again after [`TestDb::begin_outage`].
    pub async fn end_outage(&self) {
        let admin = admin().await.expect("an admin connection");
        let sql = format!("ALTER DATABASE {} ALLOW_CONNECTIONS true", self.name);
        admin.batch_execute(&sql).await.expect("allowing connections again");
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        self.pool.close();
        let name = self.name.clone();
        // Drop may run inside or outside a runtime; a plain thread with its own runtime works in both.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let admin = admin().await.ok()?;
                admin
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await
                    .ok()
            })
        })
        .join();
    }
}
