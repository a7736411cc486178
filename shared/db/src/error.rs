use tokio_postgres::error::SqlState;

/// A database failure, with the classifications callers need to turn it into an API answer.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The database URL could not be parsed or the pool could not be built.
    #[error("invalid database configuration: {0}")]
    Config(String),
    /// The database cannot be used right now: no connection could be opened or taken from the pool in time
    /// (Postgres down, refusing connections, or every pooled connection busy), or the connection broke.
    /// Retrying later may succeed.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A statement failed; the message carries Postgres' own severity, SQLSTATE and text.
    #[error("database query failed: {}", describe(.0))]
    Query(tokio_postgres::Error),
    /// A permission flag name that is not a `can_*` column of `roles`.
    #[error("unknown permission flag {0}")]
    UnknownPermission(String),
    /// A migration file failed to apply.
    #[error("migration {version} failed: {}", describe(.source))]
    Migration {
        /// The migration that failed.
        version: i32,
        /// Why it failed.
        source: tokio_postgres::Error,
    },
}

impl From<deadpool_postgres::PoolError> for DbError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        use deadpool_postgres::PoolError;
        match e {
            PoolError::Backend(pg) => DbError::Unavailable(format!("cannot connect: {}", describe(&pg))),
            PoolError::Timeout(kind) => DbError::Unavailable(format!("pool timed out ({kind:?}): no connection free")),
            PoolError::Closed => DbError::Unavailable("the pool is closed".to_owned()),
            other => DbError::Config(other.to_string()),
        }
    }
}

impl From<tokio_postgres::Error> for DbError {
    fn from(e: tokio_postgres::Error) -> Self {
        if is_connection_failure(&e) {
            DbError::Unavailable(format!("connection lost: {}", describe(&e)))
        } else {
            DbError::Query(e)
        }
    }
}

/// True when the statement failed because the server or the link to it went away, not because of the
/// statement: a closed or broken connection, or a server shutting down or refusing connections.
fn is_connection_failure(e: &tokio_postgres::Error) -> bool {
    if let Some(code) = e.code() {
        return code.code().starts_with("08")
            || [
                SqlState::ADMIN_SHUTDOWN,
                SqlState::CRASH_SHUTDOWN,
                SqlState::CANNOT_CONNECT_NOW,
                SqlState::TOO_MANY_CONNECTIONS,
            ]
            .contains(code);
    }
    e.is_closed() || std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>())
}

/// The real cause of a tokio-postgres error: its own text says only "db error" for a server error, so the
/// server's severity, SQLSTATE, message, detail and hint are spelled out; other errors get their source chain.
pub fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut out = format!("{} {}: {}", db.severity(), db.code().code(), db.message());
        if let Some(detail) = db.detail() {
            out.push_str(&format!(" (detail: {detail})"));
        }
        if let Some(hint) = db.hint() {
            out.push_str(&format!(" (hint: {hint})"));
        }
        return out;
    }
    let mut out = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out.push_str(&format!(": {s}"));
        source = s.source();
    }
    out
}

impl DbError {
    fn sql_state(&self) -> Option<&SqlState> {
        match self {
            DbError::Query(e) => e.code(),
            _ => None,
        }
    }

    /// True when the database could not be used at all (down, unreachable, or no pooled connection free in
    /// time): a dependency outage, not a fault of the request.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, DbError::Unavailable(_))
    }

    /// True when a UNIQUE constraint rejected the write.
    pub fn is_unique_violation(&self) -> bool {
        self.sql_state() == Some(&SqlState::UNIQUE_VIOLATION)
    }

    /// True when a foreign key (for example `agents.site_id ON DELETE RESTRICT`) rejected the write.
    pub fn is_foreign_key_violation(&self) -> bool {
        self.sql_state() == Some(&SqlState::FOREIGN_KEY_VIOLATION)
    }
}
