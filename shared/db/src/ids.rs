use serde::{Deserialize, Serialize};
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type};

macro_rules! id_type {
    ($(#[$doc:meta] $name:ident),* $(,)?) => {$(
        #[$doc]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i32);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl<'a> FromSql<'a> for $name {
            fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
                i32::from_sql(ty, raw).map($name)
            }

            fn accepts(ty: &Type) -> bool {
                <i32 as FromSql>::accepts(ty)
            }
        }

        impl ToSql for $name {
            fn to_sql(
                &self,
                ty: &Type,
                out: &mut tokio_postgres::types::private::BytesMut,
            ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
                self.0.to_sql(ty, out)
            }

            fn accepts(ty: &Type) -> bool {
                <i32 as ToSql>::accepts(ty)
            }

            tokio_postgres::types::to_sql_checked!();
        }

        impl std::str::FromStr for $name {
            type Err = std::num::ParseIntError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse().map($name)
            }
        }
    )*};
}

/// Primary key of `check_results`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ResultId(pub i64);

/// Primary key of `alert_notifications`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NotificationId(pub i64);

/// Primary key of `jobs` (a job payload kept in Postgres; the queue entry in Redis carries it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(pub i64);

id_type!(
    /// Primary key of `users`.
    UserId,
    /// Primary key of `checks`.
    CheckId,
    /// Primary key of `alerts`.
    AlertId,
    /// Primary key of `alert_templates`.
    AlertTemplateId,
    /// Primary key of `roles`.
    RoleId,
    /// Primary key of `clients`.
    ClientId,
    /// Primary key of `sites`.
    SiteId,
    /// Integer primary key of `agents` (the `pk` returned by newagent; not the string `agent_id`).
    AgentPk,
    /// Primary key of `scripts`.
    ScriptId,
    /// Primary key of `script_snippets`.
    SnippetId,
    /// Primary key of `custom_fields` (a field definition, not a value).
    CustomFieldId,
    /// Primary key of `global_kv_store`.
    KeyStoreId,
    /// Primary key of `agent_notes`.
    NoteId,
);

id_type!(
    /// Primary key of `url_actions`.
    UrlActionId,
    /// Primary key of `api_keys`.
    ApiKeyId,
);
