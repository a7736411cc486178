//! Where dashboard tokens travel: the `Authorization` header for REST, the query string for websockets.

use actix_web::HttpRequest;

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
}
