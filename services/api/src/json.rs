//! A JSON body extractor whose failures are DRF-shaped 400s: a parse error gives `{"detail": "JSON parse
//! error - ..."}`, a missing field `{"field": ["This field is required."]}`, a wrong type `{"field": [msg]}`.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::error::ApiError;

/// Largest JSON body accepted (upstream TRMM_MAX_REQUEST_SIZE is 10 MiB).
const MAX_BODY: usize = 10 * 1024 * 1024;

/// A request body parsed as `T`.
pub struct Json<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let bytes = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let bytes = bytes
                .await
                .map_err(|e| ApiError::Invalid(json!({ "detail": e.to_string() })))?;
            if bytes.len() > MAX_BODY {
                return Err(ApiError::Invalid(json!({ "detail": "Request body too large." })));
            }
            parse(&bytes).map(Json)
        })
    }
}

/// Parses a body as `T`, mapping serde errors to DRF's shapes.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            return ApiError::Invalid(json!({ "detail": format!("JSON parse error - {inner}") }));
        }
        let msg = inner.to_string();
        if let Some(field) = msg.strip_prefix("missing field `").and_then(|r| r.split('`').next()) {
            let key = if path == "." {
                field.to_owned()
            } else {
                format!("{path}.{field}")
            };
            return ApiError::field(&key, "This field is required.");
        }
        let msg = msg.split(" at line ").next().unwrap_or(&msg).to_owned();
        // A top-level list where an object was expected has no field to blame.
        let key = if path == "." || path.starts_with('[') {
            "non_field_errors".to_owned()
        } else {
            path
        };
        ApiError::field(&key, msg)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        count: i32,
    }

    fn body(e: ApiError) -> serde_json::Value {
        match e {
            ApiError::Invalid(v) => v,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn drf_shapes() {
        assert_eq!(
            body(parse::<Body>(br#"{"name": "x"}"#).unwrap_err()),
            json!({"count": ["This field is required."]})
        );
        let wrong = body(parse::<Body>(br#"{"name": "x", "count": "many"}"#).unwrap_err());
        assert!(wrong["count"][0].as_str().unwrap().contains("invalid type"));
        let broken = body(parse::<Body>(b"{not json").unwrap_err());
        assert!(broken["detail"].as_str().unwrap().starts_with("JSON parse error"));
        assert!(body(parse::<Body>(b"[1]").unwrap_err())
            .get("non_field_errors")
            .is_some());
    }
}
