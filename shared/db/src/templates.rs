//! The rows `{{agent.x}}`, `{{site.x}}` and `{{client.x}}` template variables read (server-api.md 5.3).

use crate::GenericClient;
use serde_json::{Map, Value};

use crate::{AgentPk, AlertId, ClientId, DbError, SiteId};

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

/// A site's columns and its client's (the agent object stays empty), with the client's id; `None` if the site
/// does not exist.
pub async fn site_objects(
    db: &impl GenericClient,
    site: SiteId,
) -> Result<Option<(ClientId, TemplateObjects)>, DbError> {
    let row = db
        .query_opt(
            "SELECT c.id, to_jsonb(s) AS site, to_jsonb(c) AS client
             FROM sites s JOIN clients c ON c.id = s.client_id WHERE s.id = $1",
            &[&site.0],
        )
        .await?;
    Ok(row.map(|r| {
        let objects = TemplateObjects {
            agent: Map::new(),
            site: object(r.get("site")),
            client: object(r.get("client")),
        };
        (ClientId(r.get(0)), objects)
    }))
}

/// A client's columns (agent and site objects stay empty); `None` if the client does not exist.
pub async fn client_objects(db: &impl GenericClient, client: ClientId) -> Result<Option<TemplateObjects>, DbError> {
    let row = db
        .query_opt("SELECT to_jsonb(c) FROM clients c WHERE c.id = $1", &[&client.0])
        .await?;
    Ok(row.map(|r| TemplateObjects {
        client: object(r.get(0)),
        ..TemplateObjects::default()
    }))
}

/// An alert's columns for `{{alert.x}}`, with the result of its check as `get_result` (upstream's
/// `Alert.get_result`), and its agent; `None` if the alert does not exist.
pub async fn alert_object(
    db: &impl GenericClient,
    alert: AlertId,
) -> Result<Option<(Map<String, Value>, Option<AgentPk>)>, DbError> {
    let row = db
        .query_opt(
            "SELECT to_jsonb(al) || jsonb_build_object('get_result', to_jsonb(cr)), al.agent_id
             FROM alerts al
             LEFT JOIN check_results cr ON cr.agent_id = al.agent_id AND cr.assigned_check_id = al.assigned_check_id
             WHERE al.id = $1",
            &[&alert.0],
        )
        .await?;
    Ok(row.map(|r| (object(r.get(0)), r.get::<_, Option<i32>>(1).map(AgentPk))))
}
