//! Webhooks: a `rest` URL action run against a template context (upstream core/utils.py::_run_url_rest_action).
//! Placeholders in the URL, body and headers are expanded by the caller's function (trmm-ops' template
//! `Context::expand_text` for an alert, agent, site or client); the body is cleaned of control characters and
//! both are parsed as JSON, then sent with the action's method.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use serde_json::Value;

use crate::NotifyError;

/// Longest a webhook call may take, whatever the method (upstream: 8 s for post/put/patch, none for get/delete).
pub const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(8);

/// The methods a rest action may use (upstream URLActionRestMethod).
pub const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];

/// A rest action's templates, as stored.
#[derive(Debug, Clone, Copy)]
pub struct RestAction<'a> {
    /// URL template.
    pub pattern: &'a str,
    /// One of [`METHODS`].
    pub method: &'a str,
    /// JSON body template; empty for none.
    pub body: &'a str,
    /// JSON object of headers template; empty for none.
    pub headers: &'a str,
}

/// A rest action with its placeholders filled in, ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The URL.
    pub url: reqwest::Url,
    /// The method.
    pub method: reqwest::Method,
    /// The JSON body as sent (never for get and delete, as upstream).
    pub body: Option<String>,
    /// The headers.
    pub headers: HeaderMap,
}

/// What the endpoint answered.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// Response text.
    pub text: String,
}

impl Response {
    /// The answer as a delivery outcome: 2xx and 3xx are delivered, 408, 429 and 5xx may pass on a retry, any
    /// other 4xx will not.
    pub fn outcome(&self) -> Result<(), NotifyError> {
        let error = || {
            format!(
                "the webhook answered {}: {}",
                self.status,
                self.text.chars().take(200).collect::<String>()
            )
        };
        match self.status {
            200..=399 => Ok(()),
            408 | 429 | 500.. => Err(NotifyError::Transient(error())),
            _ => Err(NotifyError::Permanent(error())),
        }
    }
}

/// Fills in `action`'s placeholders with `expand` and parses the result; a bad method, URL, body or headers is
/// a permanent error that says which.
pub fn prepare(action: RestAction<'_>, expand: impl Fn(&str) -> String) -> Result<Request, NotifyError> {
    if !METHODS.contains(&action.method) {
        return Err(NotifyError::Permanent(format!(
            "\"{}\" is not a valid method.",
            action.method
        )));
    }
    let method = reqwest::Method::from_bytes(action.method.to_uppercase().as_bytes())
        .map_err(|e| NotifyError::Permanent(e.to_string()))?;
    let url_text = expand(action.pattern);
    let url = http_url(&url_text)
        .ok_or_else(|| NotifyError::Permanent(format!("the URL {url_text:?} is not a valid http or https URL")))?;
    let body = if matches!(action.method, "get" | "delete") || action.body.trim().is_empty() {
        None
    } else {
        let parsed: Value = serde_json::from_str(&escape_raw_controls(&sanitize(&expand(action.body))))
            .map_err(|e| NotifyError::Permanent(format!("the body is not valid JSON: {e}")))?;
        Some(parsed.to_string())
    };
    let mut headers = parse_headers(&expand(action.headers))?;
    // Upstream (requests' data=) sends no Content-Type; a JSON body says what it is unless the action says otherwise.
    if body.is_some() && !headers.contains_key(CONTENT_TYPE) {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    Ok(Request {
        url,
        method,
        body,
        headers,
    })
}

/// `text` as an absolute http or https URL (spaces and other unsafe characters percent-encoded, as upstream's
/// `requote_uri` does).
pub fn http_url(text: &str) -> Option<reqwest::Url> {
    reqwest::Url::parse(text.trim())
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
}

fn parse_headers(text: &str) -> Result<HeaderMap, NotifyError> {
    let mut headers = HeaderMap::new();
    if text.trim().is_empty() {
        return Ok(headers);
    }
    let bad = |why: String| NotifyError::Permanent(format!("the headers are not a JSON object of strings: {why}"));
    let parsed: serde_json::Map<String, Value> =
        serde_json::from_str(&escape_raw_controls(text)).map_err(|e| bad(e.to_string()))?;
    for (name, value) in parsed {
        let value = match value {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            other => return Err(bad(format!("{name} is {other}"))),
        };
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|e| bad(format!("{name:?}: {e}")))?;
        let value = HeaderValue::from_str(&value).map_err(|e| bad(format!("{name}: {e}")))?;
        headers.insert(name, value);
    }
    Ok(headers)
}

/// Sends the request; any HTTP answer is a [`Response`] (see [`Response::outcome`]), no answer is transient.
pub async fn send(http: &reqwest::Client, request: &Request) -> Result<Response, NotifyError> {
    let mut builder = http
        .request(request.method.clone(), request.url.clone())
        .headers(request.headers.clone())
        .timeout(WEBHOOK_TIMEOUT);
    if let Some(body) = &request.body {
        builder = builder.body(body.clone());
    }
    let response = builder
        .send()
        .await
        .map_err(|e| NotifyError::Transient(format!("the webhook did not answer: {e}")))?;
    let status = response.status().as_u16();
    let text = response
        .text()
        .await
        .map_err(|e| NotifyError::Transient(format!("reading the webhook's answer: {e}")))?;
    Ok(Response { status, text })
}

/// Upstream's `_sanitize_webhook`: control characters other than tab, newline and carriage return become spaces,
/// and a lone backslash that does not start `\\`, `\n`, `\r` or `\t` is doubled (Windows paths in JSON strings).
fn sanitize(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    for (i, &c) in chars.iter().enumerate() {
        let code = c as u32;
        if matches!(code, 0x00..=0x08 | 0x0b | 0x0c | 0x0e..=0x1f | 0x7f..=0x9f) {
            out.push(' ');
        } else if c == '\\'
            && (i == 0 || chars[i - 1] != '\\')
            && !matches!(chars.get(i + 1), Some('\\' | 'n' | 'r' | 't'))
        {
            out.push_str("\\\\");
        } else {
            out.push(c);
        }
    }
    out
}

/// Escapes raw tabs and line breaks inside JSON strings, which upstream's `json.loads(strict=False)` accepts.
fn escape_raw_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in text.chars() {
        match c {
            '\n' if in_string => out.push_str("\\n"),
            '\r' if in_string => out.push_str("\\r"),
            '\t' if in_string => out.push_str("\\t"),
            _ => out.push(c),
        }
        if in_string && !escaped && c == '"' {
            in_string = false;
        } else if !in_string && c == '"' {
            in_string = true;
        }
        escaped = in_string && !escaped && c == '\\';
    }
    out
}

#[cfg(test)]
mod tests;
