//! Where dashboard credentials travel: the `Authorization` header (sessions) or `X-API-KEY` (API keys) for REST,
//! the query string (sessions only) for websockets.

use actix_web::HttpRequest;

/// The header an API key travels in (TRMM tacticalrmm/auth.py::APIAuthentication).
pub const API_KEY_HEADER: &str = "X-API-KEY";

/// What a REST request presents to say who it is. Not `Debug`, so that no log line can hold a token or a key.
#[derive(Clone, Copy)]
pub enum Credentials<'a> {
    /// A dashboard session token.
    Session(&'a str),
    /// An API key.
    ApiKey(&'a str),
}

/// The request's credentials: `Authorization: Token` if present, else `X-API-KEY`, the order of upstream's
/// DEFAULT_AUTHENTICATION_CLASSES (knox first, then APIAuthentication).
pub fn credentials(req: &HttpRequest) -> Option<Credentials<'_>> {
    bearer_token(req)
        .map(Credentials::Session)
        .or_else(|| api_key(req).map(Credentials::ApiKey))
}

/// The value of `X-API-KEY` (an empty one is none, as upstream).
fn api_key(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(API_KEY_HEADER)?.to_str().ok()?.trim();
    (!value.is_empty()).then_some(value)
}

/// The value of `Authorization: Token <key>` (keyword case-insensitive, as DRF).
pub fn bearer_token(req: &HttpRequest) -> Option<&str> {
    let value = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (keyword, token) = value.trim().split_once(' ')?;
    keyword
        .eq_ignore_ascii_case("token")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// The token of a websocket URL: upstream (KnoxAuthMiddlewareInstance) takes what follows `access_token=`; a
/// later `&param` is not part of it.
pub fn query_token(query: &str) -> Option<&str> {
    let (_, rest) = query.split_once("access_token=")?;
    let token = rest.split('&').next().unwrap_or_default();
    (!token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn token_is_taken_from_the_query() {
        assert_eq!(query_token("access_token=abc"), Some("abc"));
        assert_eq!(query_token("x=1&access_token=abc&y=2"), Some("abc"));
        assert_eq!(query_token("access_token="), None);
        assert_eq!(query_token(""), None);
    }

    #[test]
    fn token_is_taken_from_the_authorization_header() {
        let with = |value: &str| {
            TestRequest::default()
                .insert_header(("Authorization", value))
                .to_http_request()
        };
        assert_eq!(bearer_token(&with("token abc")), Some("abc"));
        assert_eq!(bearer_token(&with("Token  abc ")), Some("abc"));
        assert_eq!(bearer_token(&with("Bearer abc")), None);
        assert_eq!(bearer_token(&with("Token ")), None);
    }

    #[test]
    fn a_session_token_wins_over_an_api_key() {
        let key = |req: &HttpRequest| match credentials(req) {
            Some(Credentials::ApiKey(k)) => Some(k.to_owned()),
            _ => None,
        };
        let only_key = TestRequest::default()
            .insert_header(("X-Api-Key", " KEY "))
            .to_http_request();
        assert_eq!(key(&only_key).as_deref(), Some("KEY"));
        let both = TestRequest::default()
            .insert_header(("X-API-KEY", "KEY"))
            .insert_header(("Authorization", "Token abc"))
            .to_http_request();
        assert!(matches!(credentials(&both), Some(Credentials::Session("abc"))));
        assert!(credentials(&TestRequest::default().to_http_request()).is_none());
    }
}
