//! NUL characters are refused before anything reaches Postgres, which cannot store them in text or jsonb:
//! in JSON bodies (see [`body_error`], called by the one JSON parser) and in the path and query of every
//! request (the [`reject_in_url`] middleware around the whole app). Upstream answers a 400 "Null characters are
//! not allowed." (DRF's `ProhibitNullCharactersValidator`) on the field that holds one.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::ResponseError;
use serde_json::{json, Map, Value};

use crate::error::ApiError;

/// DRF's message for a NUL in a field.
pub const MESSAGE: &str = "Null characters are not allowed.";

/// Whether a JSON text holds a `\u0000` escape inside a string (a raw NUL byte is not valid JSON at all).
/// One pass without allocating, so bodies without a NUL (all of them, normally) cost almost nothing.
pub fn json_has_nul(bytes: &[u8]) -> bool {
    let mut i = 0;
    let mut in_string = false;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => in_string = !in_string,
            b'\\' if in_string => {
                if bytes[i + 1..].starts_with(b"u0000") {
                    return true;
                }
                // Skips the escaped character, so `\\u0000` (a backslash, then text) is not a NUL.
                i += 1;
            }
            _ => {}
        }
        i += 1;
    }
    false
}

/// The 400 for a JSON body holding a NUL: `{field: [msg]}` nested like DRF's serializer errors (list items by
/// index), or `{"detail": msg}` when no field holds it (a key, or a bare string body).
pub fn body_error(value: &Value) -> Option<ApiError> {
    let path = nul_path(value)?;
    let Some((last, parents)) = path.split_last() else {
        return Some(ApiError::Invalid(json!({ "detail": MESSAGE })));
    };
    let mut body = json!({ last: [MESSAGE] });
    for key in parents.iter().rev() {
        let mut outer = Map::new();
        outer.insert(key.clone(), body);
        body = Value::Object(outer);
    }
    Some(ApiError::Invalid(body))
}

/// The path of the first string holding a NUL; an empty path when it is the body itself or a key.
fn nul_path(value: &Value) -> Option<Vec<String>> {
    match value {
        Value::String(s) => s.contains('\0').then(Vec::new),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
            let mut path = nul_path(item)?;
            path.insert(0, i.to_string());
            Some(path)
        }),
        Value::Object(map) => map.iter().find_map(|(key, item)| {
            if key.contains('\0') {
                return Some(Vec::new());
            }
            let mut path = nul_path(item)?;
            path.insert(0, key.clone());
            Some(path)
        }),
        _ => None,
    }
}

/// Middleware: a `%00` in the path is a 400 `{"detail": msg}`; in a query parameter a 400 `{param: [msg]}`.
pub async fn reject_in_url(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if let Some(error) = url_error(req.uri().path(), req.uri().query().unwrap_or("")) {
        tracing::info!(path = req.uri().path(), "NUL character in the URL refused");
        let response = error.error_response();
        return Ok(req.into_response(response).map_into_right_body());
    }
    next.call(req).await.map(ServiceResponse::map_into_left_body)
}

fn url_error(path: &str, query: &str) -> Option<ApiError> {
    if path.contains("%00") {
        return Some(ApiError::Invalid(json!({ "detail": MESSAGE })));
    }
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if key.contains("%00") {
            Some(ApiError::Invalid(json!({ "detail": MESSAGE })))
        } else if value.contains("%00") {
            Some(ApiError::field(&percent_decode(key), MESSAGE))
        } else {
            None
        }
    })
}

/// Decodes a form-encoded query key for the error body (`+` is a space, `%XX` a byte).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(e: ApiError) -> Value {
        match e {
            ApiError::Invalid(v) => v,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn finds_escaped_nuls_only_inside_strings() {
        assert!(json_has_nul(br#"{"a": "x\u0000y"}"#));
        assert!(json_has_nul(br#"{"a\u0000": 1}"#));
        assert!(!json_has_nul(br#"{"a": "x\\u0000y"}"#));
        assert!(json_has_nul(br#"{"a": "x\\\u0000y"}"#));
        assert!(!json_has_nul(br#"{"a": "\u0001", "b": 0}"#));
        assert!(!json_has_nul(br#"{"a": "trailing\"#));
    }

    #[test]
    fn nuls_in_bodies_name_their_field() {
        let value = json!({"client": {"name": "a\u{0}"}, "ok": "b"});
        assert_eq!(
            body(body_error(&value).unwrap()),
            json!({"client": {"name": [MESSAGE]}})
        );
        let value = json!({"tags": ["ok", "b\u{0}"]});
        assert_eq!(body(body_error(&value).unwrap()), json!({"tags": {"1": [MESSAGE]}}));
        assert_eq!(body(body_error(&json!("\u{0}")).unwrap()), json!({"detail": MESSAGE}));
        assert_eq!(
            body(body_error(&json!({"k\u{0}": 1})).unwrap()),
            json!({"detail": MESSAGE})
        );
        assert!(body_error(&json!({"a": ["x", 1, null, {"b": "c"}]})).is_none());
    }

    #[test]
    fn nuls_in_urls() {
        assert_eq!(
            body(url_error("/agents/a%00b/", "").unwrap()),
            json!({"detail": MESSAGE})
        );
        assert_eq!(
            body(url_error("/agents/", "page=1&client%5Fid=x%00").unwrap()),
            json!({"client_id": [MESSAGE]})
        );
        assert_eq!(
            body(url_error("/agents/", "a%00=1").unwrap()),
            json!({"detail": MESSAGE})
        );
        assert!(url_error("/agents/%01/", "q=%2500").is_none());
    }
}
