//! What becomes of a script run's result. It arrives twice, as the agent's reply and as its `histresult`
//! report, in either order; the first to store it also fills the collector's custom field and writes the
//! note, so that happens exactly once whichever copy came first (Tactical RMM does it in
//! agents/views.py::run_script for the reply and in apiv3/views.py::AgentHistoryResult for histresult).

use crate::GenericClient;
use serde_json::Value;

use crate::agents::AgentRef;
use crate::custom_fields::{self, FieldModel, Parent, ValueInput};
use crate::{history, notes, CustomFieldId, DbError};

/// Stores `results` (`{stdout, stderr, retcode, execution_time, id}`) on history entry `id` of `agent` unless a
/// result is already there, then fills the entry's custom field and note; `Some` when this call stored it.
/// Run it inside a transaction so the result and what it feeds are written together; a concurrent second
/// copy then waits on the row lock and finds the result stored.
pub async fn record(
    db: &impl GenericClient,
    agent: &AgentRef,
    id: i64,
    results: &Value,
) -> Result<Option<history::Finished>, DbError> {
    let Some(finished) = history::record_script_results(db, id, agent.pk, results).await? else {
        return Ok(None);
    };
    let Some(handling) = history::output_handling(db, id, agent.pk).await? else {
        return Ok(Some(finished));
    };
    let stdout = results.get("stdout").and_then(Value::as_str).unwrap_or_default();
    if let Some(field_id) = handling.custom_field {
        if let Some(field) = custom_fields::get(db, field_id).await? {
            let parent = match field.spec.model {
                FieldModel::Agent => Parent::Agent(agent.pk),
                FieldModel::Client => Parent::Client(agent.client),
                FieldModel::Site => Parent::Site(agent.site),
            };
            let value = collector_value(stdout, handling.collector_all_output);
            custom_fields::set_value(db, parent, &field_input(field_id, &field.spec.field_type, value)).await?;
        }
    }
    if handling.save_to_agent_note {
        notes::create_as(db, agent.pk, &handling.username, &note_text(results)).await?;
    }
    Ok(Some(finished))
}

/// Stdout trimmed, or only its last line (TRMM: `r.strip()` or `r.strip().split("\n")[-1].strip()`).
fn collector_value(stdout: &str, all_output: bool) -> String {
    let trimmed = stdout.trim();
    if all_output {
        trimmed.to_owned()
    } else {
        trimmed.rsplit('\n').next().unwrap_or_default().trim().to_owned()
    }
}

/// The write TRMM's `save_to_field` makes for a field type: lists are comma-split, checkboxes take the
/// truthiness of the text, everything else the text itself.
fn field_input(field: CustomFieldId, field_type: &str, value: String) -> ValueInput {
    let mut input = ValueInput {
        field,
        string_value: None,
        bool_value: None,
        multiple_value: None,
    };
    match field_type {
        "multiple" => input.multiple_value = Some(value.split(',').map(str::to_owned).collect()),
        "checkbox" => input.bool_value = Some(!value.is_empty()),
        _ => input.string_value = Some(value),
    }
    input
}

/// A note holds what the dashboard run shows: stdout, then stderr (the agent's `runscript` reply string).
fn note_text(results: &Value) -> String {
    let part = |k: &str| results.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
    part("stdout") + &part("stderr")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn collector_keeps_the_last_line_or_everything() {
        assert_eq!(collector_value("a\nb\n  last  \n\n", false), "last");
        assert_eq!(collector_value("\n a\nb \n", true), "a\nb");
        assert_eq!(collector_value("", false), "");
    }

    #[test]
    fn values_follow_the_field_type() {
        let id = CustomFieldId(1);
        let list = field_input(id, "multiple", "a,b".into()).multiple_value;
        assert_eq!(list, Some(vec!["a".to_owned(), "b".to_owned()]));
        assert_eq!(field_input(id, "checkbox", String::new()).bool_value, Some(false));
        assert_eq!(field_input(id, "text", "x".into()).string_value.as_deref(), Some("x"));
        assert_eq!(note_text(&json!({"stdout": "out\n", "stderr": "err"})), "out\nerr");
    }
}
