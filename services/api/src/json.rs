//! A JSON body extractor whose failures are DRF-shaped 400s: a parse error gives `{"detail": "JSON parse
//! error - ..."}`, a missing field `{"field": ["This field is required."]}`, a wrong type `{"field": [msg]}`,
//! a NUL character `{"field": ["Null characters are not allowed."]}` and a body over the limit a JSON 413.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use crate::auth::gate::Gate;
use crate::error::ApiError;
use crate::nul;

/// Largest JSON body accepted (upstream's TRMM_MAX_REQUEST_SIZE, 10 MiB).
pub const MAX_BODY: usize = 10 * 1024 * 1024;

/// A request body parsed as `T`.
pub struct Json<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = read_body(req, payload.take(), MAX_BODY);
        let req = req.clone();
        Box::pin(async move {
            let parsed = parse(&body.await?);
            if parsed.is_err() {
                // The caller's credentials answer first (see `Gate`).
                if let Some(gate) = Gate::existing(&req) {
                    gate.opened().await;
                }
            }
            parsed.map(Json)
        })
    }
}

/// A raw request body of at most `LIMIT` bytes, refused with JSON errors like [`Json`]'s.
pub struct Body<const LIMIT: usize = MAX_BODY>(pub web::Bytes);

impl<const LIMIT: usize> FromRequest for Body<LIMIT> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = read_body(req, payload.take(), LIMIT);
        Box::pin(async move { body.await.map(Body) })
    }
}

/// Reads a whole request body of at most `limit` bytes; a larger one (by `Content-Length` or as it streams in)
/// is a JSON 413, a broken one a JSON 400. Actix's own `Bytes` extractor answers those in plain text.
pub fn read_body(
    req: &HttpRequest,
    mut payload: Payload,
    limit: usize,
) -> impl Future<Output = Result<web::Bytes, ApiError>> + 'static {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    async move {
        if declared.is_some_and(|len| len > limit) {
            discard(&mut payload).await;
            return Err(ApiError::TooLarge(limit));
        }
        let mut body = web::BytesMut::with_capacity(declared.unwrap_or(0));
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| ApiError::Invalid(json!({ "detail": e.to_string() })))?;
            if body.len() + chunk.len() > limit {
                discard(&mut payload).await;
                return Err(ApiError::TooLarge(limit));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    }
}

/// Most of a refused body read and dropped, so that the client, still sending, gets the 413 rather than a
/// connection reset; a body larger still has the connection closed on it.
const MAX_DISCARD: usize = 256 * 1024 * 1024;

async fn discard(payload: &mut Payload) {
    let mut seen = 0;
    while let Some(Ok(chunk)) = payload.next().await {
        seen += chunk.len();
        if seen > MAX_DISCARD {
            break;
        }
    }
}

/// Parses a body as `T`, mapping serde errors to DRF's shapes.
/// A NUL in any string of the body is refused here, for every JSON endpoint, before a handler sees it.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if nul::json_has_nul(bytes) {
        if let Some(error) = serde_json::from_slice::<Value>(bytes)
            .ok()
            .as_ref()
            .and_then(nul::body_error)
        {
            return Err(error);
        }
    }
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
