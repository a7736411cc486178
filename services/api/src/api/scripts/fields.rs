//! Validation of script bodies sent to `POST/PUT /scripts/` and `POST /scripts/import/`.

use serde_json::{Map, Value};
use trmm_db::scripts::ScriptFields;

use crate::api::form::Form;
use trmm_ops::templates::SHELLS;

/// Platforms a script may declare support for.
const PLATFORMS: [&str; 3] = ["windows", "linux", "darwin"];

/// Rejects anything but `KEY=VALUE` with a non-empty key free of whitespace.
fn env_var_error(s: &str) -> Option<String> {
    match s.split_once('=') {
        Some((key, _)) if !key.is_empty() && !key.chars().any(char::is_whitespace) => None,
        _ => Some(format!("\"{s}\" is not a KEY=VALUE environment variable.")),
    }
}

fn platform_error(s: &str) -> Option<String> {
    (!PLATFORMS.contains(&s)).then(|| format!("\"{s}\" is not a valid choice."))
}

/// Applies the fields present in `map` onto `base`, validating each with DRF's messages; `creating` makes
/// `name` required. Unknown keys (`id`, `script_type`, `script_hash`, ...) are ignored, as DRF ignores them.
pub(super) fn apply(
    map: &Map<String, Value>,
    mut base: ScriptFields,
    creating: bool,
) -> Result<ScriptFields, Map<String, Value>> {
    let mut f = Form::new(map);
    if creating {
        f.require("name");
    }
    if let Some(v) = f.string("name", 255, false) {
        base.name = v;
    }
    if let Some(v) = f.text("description", usize::MAX, true, true) {
        base.description = v;
    }
    if let Some(v) = f.text("filename", 255, true, true) {
        base.filename = v;
    }
    if let Some(v) = f.choice("shell", &SHELLS) {
        base.shell = v;
    }
    if let Some(v) = f.string_list("args", |_| None) {
        base.args = v;
    }
    if let Some(v) = f.string_list("env_vars", env_var_error) {
        base.env_vars = v;
    }
    if let Some(v) = f.text("syntax", usize::MAX, true, true) {
        base.syntax = v;
    }
    if let Some(v) = f.boolean("favorite") {
        base.favorite = v;
    }
    if let Some(v) = f.text("category", 100, true, true) {
        base.category = v;
    }
    // Bodies are kept byte for byte (upstream sets trim_whitespace=False on script_body).
    if let Some(v) = f.string("script_body", usize::MAX, true) {
        base.script_body = v;
    }
    if let Some(v) = f.integer("default_timeout", 1) {
        base.default_timeout = v;
    }
    if let Some(v) = f.boolean("hidden") {
        base.hidden = v;
    }
    if let Some(v) = f.string_list("supported_platforms", platform_error) {
        base.supported_platforms = v;
    }
    if let Some(v) = f.boolean("run_as_user") {
        base.run_as_user = v;
    }
    f.finish()?;
    Ok(base)
}
