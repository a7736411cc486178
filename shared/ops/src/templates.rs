//! Template variables in script arguments and environment variables (server-api.md 5.3), and snippet
//! references in script bodies (server-api.md 1.8).
//!
//! * `{{agent.hostname}}`, `{{agent.site.client.name}}`, `{{client.name}}`, `{{site.name}}`: columns of the agent,
//!   its site and its client (walked like upstream's attribute lookup).
//! * `{{agent.<custom field>}}`, `{{client.<custom field>}}`, `{{site.<custom field>}}`: the custom field's value
//!   for this agent (or its client / site), else the field's default.
//! * `{{global.<name>}}`: the global key store.
//! * `{{alert.x}}`, `{{alert.get_result.x}}`: the alert a webhook runs for, and its check's result.
//!
//! The expansion itself is pure ([`Context`]); [`expand_args`], [`expand_env_vars`] and [`expand_script_inputs`]
//! load a context from the database only when some input contains `{{`.

use std::collections::HashMap;

use serde_json::{Map, Value};
use trmm_db::agents::AgentRef;
use trmm_db::custom_fields::{FieldModel, TemplateField};
use trmm_db::templates::TemplateObjects;
use trmm_db::{AlertId, ClientId, DbError, GenericClient, SiteId};

/// Shell names as scripts store them (TRMM ScriptShell).
pub const SHELLS: [&str; 6] = ["powershell", "cmd", "python", "shell", "nushell", "deno"];

/// Everything `{{...}}` can refer to for one agent.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// agent_id, for log lines about unknown variables.
    agent_id: String,
    /// `{{agent.x}}`: the agent's columns, plus nested `site` and `client` objects.
    agent: Value,
    /// `{{site.x}}`: the site's columns plus a nested `client`.
    site: Value,
    /// `{{client.x}}`: the client's columns.
    client: Value,
    /// Custom field values (or defaults) by (model, field name).
    fields: HashMap<(FieldModel, String), Value>,
    /// The global key store, values as JSON strings.
    globals: HashMap<String, Value>,
    /// `{{alert.x}}`: the alert's columns, when expanding for an alert.
    alert: Value,
}

/// What one `{{...}}` resolved to.
#[derive(Debug, PartialEq)]
enum Lookup<'a> {
    /// Not one of our prefixes: left in place verbatim.
    NotATemplate,
    /// A known prefix whose value does not exist: becomes "" and is logged.
    Unknown,
    /// A value.
    Found(&'a Value),
}

impl Context {
    /// Builds a context from plain values: the agent, site and client objects (their columns as JSON), custom
    /// field values already resolved against defaults, and the key store.
    pub fn new(
        agent_id: &str,
        mut agent: Map<String, Value>,
        mut site: Map<String, Value>,
        client: Map<String, Value>,
        fields: HashMap<(FieldModel, String), Value>,
        globals: HashMap<String, String>,
    ) -> Context {
        let client = Value::Object(client);
        site.insert("client".into(), client.clone());
        let site = Value::Object(site);
        agent.insert("site".into(), site.clone());
        agent.insert("client".into(), client.clone());
        Context {
            agent_id: agent_id.to_owned(),
            agent: Value::Object(agent),
            site,
            client,
            fields,
            globals: globals.into_iter().map(|(k, v)| (k, Value::String(v))).collect(),
            alert: Value::Null,
        }
    }

    /// Loads the context of one agent: its row, its site and client rows, every custom field that applies to
    /// them (value or default) and the key store.
    pub async fn load(db: &impl GenericClient, agent: &AgentRef) -> Result<Context, DbError> {
        let objects = trmm_db::templates::objects(db, agent.pk).await?.unwrap_or_default();
        let scope = (Some(agent.pk), Some(agent.site), agent.client);
        Context::assemble(db, &agent.agent_id, objects, scope).await
    }

    /// Loads the context of a site (`{{agent.x}}` has no values); `None` if the site does not exist.
    pub async fn load_site(db: &impl GenericClient, site: SiteId) -> Result<Option<Context>, DbError> {
        let Some((client, objects)) = trmm_db::templates::site_objects(db, site).await? else {
            return Ok(None);
        };
        Ok(Some(
            Context::assemble(db, "", objects, (None, Some(site), client)).await?,
        ))
    }

    /// Loads the context of a client (only `{{client.x}}` and `{{global.x}}` have values); `None` if the client
    /// does not exist.
    pub async fn load_client(db: &impl GenericClient, client: ClientId) -> Result<Option<Context>, DbError> {
        let Some(objects) = trmm_db::templates::client_objects(db, client).await? else {
            return Ok(None);
        };
        Ok(Some(Context::assemble(db, "", objects, (None, None, client)).await?))
    }

    /// Loads the context of an alert: the alert itself plus its agent's context; `None` if the alert does not
    /// exist.
    pub async fn load_alert(db: &impl GenericClient, alert: AlertId) -> Result<Option<Context>, DbError> {
        let Some((object, agent)) = trmm_db::templates::alert_object(db, alert).await? else {
            return Ok(None);
        };
        let agent = match agent {
            Some(pk) => trmm_db::agents::find_by_pk(db, pk).await?,
            None => None,
        };
        let mut ctx = match agent {
            Some(agent) => Context::load(db, &agent).await?,
            None => {
                let globals = globals(db).await?;
                Context::new("", Map::new(), Map::new(), Map::new(), HashMap::new(), globals)
            }
        };
        ctx.alert = Value::Object(object);
        Ok(Some(ctx))
    }

    async fn assemble(
        db: &impl GenericClient,
        agent_id: &str,
        objects: TemplateObjects,
        (agent, site, client): (Option<trmm_db::AgentPk>, Option<SiteId>, ClientId),
    ) -> Result<Context, DbError> {
        let fields = trmm_db::custom_fields::template_fields(db, agent, site, client).await?;
        let globals = globals(db).await?;
        Ok(Context::new(
            agent_id,
            objects.agent,
            objects.site,
            objects.client,
            fields.into_iter().map(resolve_field).collect(),
            globals,
        ))
    }

    fn lookup(&self, inner: &str) -> Lookup<'_> {
        let Some((prefix, path)) = inner.split_once('.') else {
            return Lookup::NotATemplate;
        };
        let (model, root) = match prefix {
            "global" => {
                return self.globals.get(path).map_or(Lookup::Unknown, Lookup::Found);
            }
            "alert" => return walk(&self.alert, path),
            "agent" => (FieldModel::Agent, &self.agent),
            "site" => (FieldModel::Site, &self.site),
            "client" => (FieldModel::Client, &self.client),
            _ => return Lookup::NotATemplate,
        };
        // Custom fields win over columns, as upstream (tacticalrmm/utils.py::get_db_value) looks them up first.
        if let Some(v) = self.fields.get(&(model, path.to_owned())) {
            return found(v);
        }
        walk(root, path)
    }

    /// Replaces every `{{...}}` in `text`; `quotes` wraps strings and lists in single quotes.
    fn expand(&self, text: &str, shell: &str, quotes: bool) -> String {
        if !text.contains("{{") {
            return text.to_owned();
        }
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            let after = &rest[start + 2..];
            let Some(end) = after.find("}}") else { break };
            out.push_str(&rest[..start]);
            let inner = after[..end].trim();
            match self.lookup(inner) {
                Lookup::NotATemplate => out.push_str(&rest[start..start + end + 4]),
                // Upstream passes such an argument on with the literal `{{...}}` (and drops such an env var);
                // we substitute "" as server-api.md 5.3 describes, so scripts never see template syntax.
                Lookup::Unknown => {
                    tracing::warn!(agent_id = %self.agent_id, variable = inner,
                        "template variable has no value; substituting an empty string");
                }
                Lookup::Found(v) => out.push_str(&format_value(v, shell, quotes)),
            }
            rest = &after[end + 2..];
        }
        out.push_str(rest);
        out
    }

    /// Expands one script argument. Strings and lists are single-quoted except for cmd (upstream
    /// Script.parse_script_args passes `quotes=shell != cmd`).
    pub fn expand_arg(&self, shell: &str, arg: &str) -> String {
        self.expand(arg, shell, shell != "cmd")
    }

    /// Expands a URL action's URL, body or headers: values as plain text, never quoted (upstream
    /// core/utils.py::find_and_replace_db_values_str).
    pub fn expand_text(&self, text: &str) -> String {
        self.expand(text, "", false)
    }

    /// Expands the value of one `KEY=VALUE` environment variable; values are never quoted. Everything after the
    /// first `=` is the value (upstream keeps only the text up to a second `=`).
    pub fn expand_env_var(&self, shell: &str, env_var: &str) -> String {
        match env_var.split_once('=') {
            Some((key, value)) => format!("{key}={}", self.expand(value, shell, false)),
            None => env_var.to_owned(),
        }
    }
}

async fn globals(db: &impl GenericClient) -> Result<HashMap<String, String>, DbError> {
    let entries = trmm_db::keystore::list(db).await?;
    Ok(entries.into_iter().map(|k| (k.name, k.value)).collect())
}

/// Follows a dotted path through an object, as upstream's attribute lookup does (`pk` is the id).
fn walk<'a>(root: &'a Value, path: &str) -> Lookup<'a> {
    let mut value = root;
    for segment in path.split('.') {
        let key = if segment == "pk" { "id" } else { segment };
        match value.get(key) {
            Some(v) => value = v,
            None => return Lookup::Unknown,
        }
    }
    found(value)
}

fn found(v: &Value) -> Lookup<'_> {
    if v.is_null() {
        Lookup::Unknown
    } else {
        Lookup::Found(v)
    }
}

/// A custom field's effective value: the stored value, or the field's default when there is no value
/// (or an empty one, as upstream treats "" as unset). Checkboxes with a stored row keep their stored bool.
fn resolve_field(f: TemplateField) -> ((FieldModel, String), Value) {
    let value = match f.field_type.as_str() {
        "checkbox" => Value::Bool(if f.has_value {
            f.bool_value
        } else {
            f.default_value_bool
        }),
        "multiple" => {
            let list = match f.multiple_value {
                Some(v) if f.has_value && !v.is_empty() => v,
                _ => f.default_values_multiple,
            };
            Value::from(list)
        }
        _ => match f.string_value {
            Some(s) if f.has_value && !s.is_empty() => Value::String(s),
            _ => f.default_value_string.map_or(Value::Null, Value::String),
        },
    };
    ((f.model, f.name), value)
}

/// Renders a value for a shell (upstream tacticalrmm/utils.py::replace_arg_db_values).
pub fn format_value(value: &Value, shell: &str, quotes: bool) -> String {
    let quote = |s: String| {
        let s = if shell == "powershell" {
            s.replace('\'', "''")
        } else {
            s
        };
        if quotes {
            format!("'{s}'")
        } else {
            s
        }
    };
    match value {
        Value::Null => String::new(),
        Value::String(s) => quote(s.clone()),
        Value::Bool(b) => match (shell == "powershell", b) {
            (true, true) => "$True".into(),
            (true, false) => "$False".into(),
            (false, true) => "1".into(),
            (false, false) => "0".into(),
        },
        Value::Number(n) => n.to_string(),
        Value::Array(items) => {
            let joined: Vec<String> = items
                .iter()
                .map(|i| match i {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect();
            quote(joined.join(","))
        }
        Value::Object(_) => value.to_string(),
    }
}

/// Expands `{{...}}` in script arguments for `agent`, as sent to the agent in `script_args`.
pub async fn expand_args(
    db: &impl GenericClient,
    agent: &AgentRef,
    shell: &str,
    args: &[String],
) -> Result<Vec<String>, DbError> {
    Ok(expand_script_inputs(db, agent, shell, args, &[]).await?.0)
}

/// Expands `{{...}}` in the values of `KEY=VALUE` environment variables for `agent`.
pub async fn expand_env_vars(
    db: &impl GenericClient,
    agent: &AgentRef,
    shell: &str,
    env_vars: &[String],
) -> Result<Vec<String>, DbError> {
    Ok(expand_script_inputs(db, agent, shell, &[], env_vars).await?.1)
}

/// Expands arguments and environment variables together, loading the agent's context at most once
/// (and not at all when nothing contains `{{`). Returns `(args, env_vars)`.
pub async fn expand_script_inputs(
    db: &impl GenericClient,
    agent: &AgentRef,
    shell: &str,
    args: &[String],
    env_vars: &[String],
) -> Result<(Vec<String>, Vec<String>), DbError> {
    if !args.iter().chain(env_vars).any(|s| s.contains("{{")) {
        return Ok((args.to_vec(), env_vars.to_vec()));
    }
    let ctx = Context::load(db, agent).await?;
    Ok((
        args.iter().map(|a| ctx.expand_arg(shell, a)).collect(),
        env_vars.iter().map(|e| ctx.expand_env_var(shell, e)).collect(),
    ))
}

/// Replaces `{{snippet name}}` in a script body with that snippet's code; names without a snippet stay as
/// they are (upstream Script.replace_with_snippets). Pure: `snippets` maps name to code.
pub fn replace_snippets(code: &str, snippets: &HashMap<String, String>) -> String {
    let mut out = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        // A reference never spans lines (upstream's regex `{{(.*)}}` has no DOTALL).
        let Some(end) = after.find("}}").filter(|e| !after[..*e].contains('\n')) else {
            out.push_str(&rest[..start + 2]);
            rest = after;
            continue;
        };
        out.push_str(&rest[..start]);
        match snippets.get(after[..end].trim()) {
            Some(snippet) => out.push_str(snippet),
            None => out.push_str(&rest[start..start + end + 4]),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// A script body with its snippet references expanded, as sent to agents and returned by
/// `/scripts/<pk>/download/`.
pub async fn expand_snippets(db: &impl GenericClient, code: &str) -> Result<String, DbError> {
    if !code.contains("{{") {
        return Ok(code.to_owned());
    }
    let snippets = trmm_db::snippets::code_by_name(db).await?;
    Ok(replace_snippets(code, &snippets))
}

#[cfg(test)]
mod tests;
