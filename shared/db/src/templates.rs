//! The rows `{{agent.x}}`, `{{site.x}}` and `{{client.x}}` template variables read (server-api.md 5.3).

use serde_json::{Map, Value};
use tokio_postgres::GenericClient;

use crate::{AgentPk, DbError};

/// An agent's row and the rows of its site and client, each as a JSON object of its columns.
#[derive(Debug, Clone, Default)]
pub struct TemplateObjects {
    /// Every column of the agent.
    pub agent: Map<String, Value>,
    /// Every column of its site.
    pub site: Map<String, Value>,
    /// Every column of its client.
    pub client: Map<String, Value>,
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// The agent's, site's and client's columns; `None` if the agent does not exist.
pub async fn objects(db: &impl GenericClient, agent: AgentPk) -> Result<Option<TemplateObjects>, DbError> {
    let row = db
        .query_opt(
            "SELECT to_jsonb(a) AS agent, to_jsonb(s) AS site, to_jsonb(c) AS client
             FROM agents a JOIN sites s ON s.id = a.site_id JOIN clients c ON c.id = s.client_id
             WHERE a.id = $1",
            &[&agent.0],
        )
        .await?;
    Ok(row.map(|r| TemplateObjects {
        agent: object(r.get("agent")),
        site: object(r.get("site")),
        client: object(r.get("client")),
    }))
}
