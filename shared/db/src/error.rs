/// A database failure, with the classifications callers need to turn it into an API answer.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The database URL could not be parsed or the pool could not be built.
    #[error("invalid database configuration: {0}")]
    Config(String),
    /// No connection could be taken from the pool (database down or pool exhausted).
    #[error("database unavailable: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    /// A statement failed.
    #[error("database query failed: {0}")]
    Query(#[from] tokio_postgres::Error),
    /// A permission flag name that is not a `can_*` column of `roles`.
    #[error("unknown permission flag {0}")]
    UnknownPermission(String),
    /// A migration file failed to apply.
    #[error("migration {version} failed: {source}")]
    Migration {
        /// The migration that failed.
        version: i32,
        /// Why it failed.
        source: tokio_postgres::Error,
    },
}

impl DbError {
    fn sql_state(&self) -> Option<&tokio_postgres::error::SqlState> {
        match self {
            DbError::Query(e) => e.code(),
            _ => None,
        }
    }

    /// True when a UNIQUE constraint rejected the write.
    pub fn is_unique_violation(&self) -> bool {
        self.sql_state() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION)
    }

    /// True when a foreign key (for example `agents.site_id ON DELETE RESTRICT`) rejected the write.
    pub fn is_foreign_key_violation(&self) -> bool {
        self.sql_state() == Some(&tokio_postgres::error::SqlState::FOREIGN_KEY_VIOLATION)
    }
}
