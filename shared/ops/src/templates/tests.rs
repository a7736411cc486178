use std::collections::HashMap;

use serde_json::{json, Map, Value};
use trmm_db::custom_fields::{FieldModel, TemplateField};

use super::*;

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => unreachable!(),
    }
}

fn ctx() -> Context {
    let mut fields = HashMap::new();
    fields.insert((FieldModel::Agent, "Owner".to_owned()), json!("O'Brien"));
    fields.insert((FieldModel::Agent, "Tags".to_owned()), json!(["a", "b", "c"]));
    fields.insert((FieldModel::Agent, "Managed".to_owned()), json!(true));
    fields.insert((FieldModel::Client, "Contract".to_owned()), json!("gold"));
    fields.insert((FieldModel::Site, "Floor".to_owned()), json!("3"));
    fields.insert((FieldModel::Agent, "Empty".to_owned()), Value::Null);
    let mut globals = HashMap::new();
    globals.insert("api_key".to_owned(), "s3cr3t".to_owned());
    Context::new(
        "AGENTID",
        obj(
            json!({"id": 7, "hostname": "web-01", "site_id": 2, "maintenance_mode": false,
                   "offline_time": 4, "description": null, "disks": {"c": 1}}),
        ),
        obj(json!({"id": 2, "name": "HQ", "client_id": 1})),
        obj(json!({"id": 1, "name": "Acme"})),
        fields,
        globals,
    )
}

#[test]
fn script_arguments_by_shell() {
    let c = ctx();
    let cases = [
        // Columns of the agent, its site and its client.
        ("shell", "-h {{agent.hostname}}", "-h 'web-01'"),
        ("cmd", "{{agent.hostname}}", "web-01"),
        ("python", "{{client.name}}/{{site.name}}", "'Acme'/'HQ'"),
        ("cmd", "{{ agent.site.client.name }}", "Acme"),
        ("cmd", "{{agent.client.name}}", "Acme"),
        ("cmd", "{{site.client.name}}", "Acme"),
        ("cmd", "{{agent.pk}}", "7"),
        ("shell", "{{agent.offline_time}}", "4"),
        ("shell", "{{agent.disks}}", r#"{"c":1}"#),
        // Quoting per shell.
        ("powershell", "-Owner {{agent.Owner}}", "-Owner 'O''Brien'"),
        ("shell", "{{agent.Owner}}", "'O'Brien'"),
        ("cmd", "{{agent.Owner}}", "O'Brien"),
        ("powershell", "{{agent.Tags}}", "'a,b,c'"),
        ("cmd", "{{agent.Tags}}", "a,b,c"),
        ("powershell", "{{agent.Managed}}", "$True"),
        ("shell", "{{agent.Managed}}", "1"),
        ("powershell", "{{agent.maintenance_mode}}", "$False"),
        ("deno", "{{agent.maintenance_mode}}", "0"),
        // Custom fields and globals.
        ("cmd", "{{client.Contract}}-{{site.Floor}}", "gold-3"),
        ("powershell", "{{global.api_key}}", "'s3cr3t'"),
        // Unknown lookups become empty; other braces stay.
        ("shell", "-x {{agent.nope}}", "-x "),
        ("shell", "{{global.missing}}", ""),
        ("shell", "{{agent.description}}", ""),
        ("shell", "{{agent.Empty}}", ""),
        ("shell", "{{agent.hostname.deeper}}", ""),
        ("shell", "{{foo}} {{other.x}} {{", "{{foo}} {{other.x}} {{"),
        ("shell", "plain", "plain"),
    ];
    for (shell, template, expected) in cases {
        assert_eq!(c.expand_arg(shell, template), expected, "{shell}: {template}");
    }
}

#[test]
fn environment_variables_expand_their_values_unquoted() {
    let c = ctx();
    assert_eq!(c.expand_env_var("powershell", "KEY={{global.api_key}}"), "KEY=s3cr3t");
    assert_eq!(
        c.expand_env_var("powershell", "OWNER={{agent.Owner}}"),
        "OWNER=O''Brien"
    );
    assert_eq!(c.expand_env_var("shell", "A=x=y {{agent.hostname}}"), "A=x=y web-01");
    assert_eq!(c.expand_env_var("shell", "NOEQUALS"), "NOEQUALS");
}

#[test]
fn field_defaults_apply_when_no_value() {
    let field = |field_type: &str, has_value: bool| TemplateField {
        model: FieldModel::Agent,
        name: "F".into(),
        field_type: field_type.into(),
        has_value,
        string_value: has_value.then(String::new),
        bool_value: false,
        multiple_value: has_value.then(Vec::new),
        default_value_string: Some("dflt".into()),
        default_value_bool: true,
        default_values_multiple: vec!["x".into()],
    };
    assert_eq!(resolve_field(field("text", false)).1, json!("dflt"));
    // Upstream treats an empty stored string as unset.
    assert_eq!(resolve_field(field("text", true)).1, json!("dflt"));
    assert_eq!(resolve_field(field("checkbox", false)).1, json!(true));
    // A stored checkbox keeps its value even when false.
    assert_eq!(resolve_field(field("checkbox", true)).1, json!(false));
    assert_eq!(resolve_field(field("multiple", true)).1, json!(["x"]));
    let mut stored = field("multiple", true);
    stored.multiple_value = Some(vec!["y".into(), "z".into()]);
    assert_eq!(resolve_field(stored).1, json!(["y", "z"]));
}

#[test]
fn snippets_replace_known_names_only() {
    let mut snippets = HashMap::new();
    snippets.insert("Log".to_owned(), "function Log {}".to_owned());
    snippets.insert("a\\b".to_owned(), "C:\\path".to_owned());
    let code = "{{Log}}\nLog {{ Log }} {{agent.hostname}}\n{{unknown}} {{a\\b}} {{\nnot}}";
    assert_eq!(
        replace_snippets(code, &snippets),
        "function Log {}\nLog function Log {} {{agent.hostname}}\n{{unknown}} C:\\path {{\nnot}}"
    );
    assert_eq!(replace_snippets("no refs", &snippets), "no refs");
}

#[test]
fn url_action_text_is_never_quoted_and_sees_the_alert() {
    let mut c = ctx();
    c.alert = json!({"id": 9, "severity": "error", "get_result": {"stdout": "C:\\temp", "retcode": 2}});
    assert_eq!(
        c.expand_text("https://x/{{agent.hostname}}?o={{agent.Owner}}&k={{global.api_key}}"),
        "https://x/web-01?o=O'Brien&k=s3cr3t"
    );
    assert_eq!(
        c.expand_text(r#"{"a": "{{alert.severity}}", "rc": {{alert.get_result.retcode}}, "id": {{alert.pk}}}"#),
        r#"{"a": "error", "rc": 2, "id": 9}"#
    );
    assert_eq!(c.expand_text("{{alert.get_result.stdout}}|{{alert.nope}}"), "C:\\temp|");
    assert_eq!(ctx().expand_text("{{alert.severity}}"), "", "no alert: empty");
}
