//! HTTP client for the agent REST API (`/api/v3/...`, agent-protocol.md 3.1): JSON bodies,
//! `Authorization: Token <token>`, 15 s timeout, no kept-alive connections (the Go agent closes every one).

use std::time::Duration;

use reqwest::{header, Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Per-request timeout, as the Go agent's resty client.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(15);

/// Why a request failed; callers treat transport failures and HTTP statuses differently.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No HTTP answer: DNS, connect, TLS, timeout.
    #[error("request to {path} failed: {source}")]
    Transport {
        /// Request path.
        path: String,
        /// Underlying error.
        source: reqwest::Error,
    },
    /// The server answered with a non-success status.
    #[error("{path} answered {status}: {body}")]
    Status {
        /// Request path.
        path: String,
        /// HTTP status.
        status: StatusCode,
        /// Response body, for the log.
        body: String,
    },
    /// A 2xx answer whose body is not the expected JSON.
    #[error("{path} answered JSON the agent does not understand: {source}")]
    Decode {
        /// Request path.
        path: String,
        /// Underlying error.
        source: serde_json::Error,
    },
}

impl ApiError {
    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            ApiError::Status { status, .. } => Some(*status),
            ApiError::Transport { .. } => None,
            ApiError::Decode { .. } => None,
        }
    }
}

/// A client bound to one API base URL and token.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    /// Builds a client; `token` goes into every request as `Authorization: Token <token>`.
    pub fn new(base_url: &str, token: &str) -> anyhow::Result<Api> {
        let mut headers = header::HeaderMap::new();
        let mut auth = header::HeaderValue::from_str(&format!("Token {token}"))
            .map_err(|_| anyhow::anyhow!("the token contains characters not allowed in a header"))?;
        auth.set_sensitive(true);
        headers.insert(header::AUTHORIZATION, auth);
        let http = reqwest::Client::builder()
            .timeout(HTTP_TIMEOUT)
            .pool_max_idle_per_host(0)
            .user_agent(format!("trmm-agent/{}", crate::VERSION))
            .default_headers(headers)
            .build()?;
        Ok(Api {
            http,
            base: base_url.trim_end_matches('/').to_owned(),
        })
    }

    /// GET a JSON document.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ApiError> {
        let body = self.request(Method::GET, path, None::<&()>).await?;
        serde_json::from_slice(&body).map_err(|source| ApiError::Decode {
            path: path.to_owned(),
            source,
        })
    }

    /// POST a JSON body and decode the JSON answer.
    pub async fn post<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T, ApiError> {
        let answer = self.request(Method::POST, path, Some(body)).await?;
        serde_json::from_slice(&answer).map_err(|source| ApiError::Decode {
            path: path.to_owned(),
            source,
        })
    }

    /// Sends a JSON body and ignores a successful answer's content.
    pub async fn send<B: Serialize>(&self, method: Method, path: &str, body: &B) -> Result<(), ApiError> {
        self.request(method, path, Some(body)).await.map(drop)
    }

    async fn request<B: Serialize>(&self, method: Method, path: &str, body: Option<&B>) -> Result<Vec<u8>, ApiError> {
        let transport = |source| ApiError::Transport {
            path: path.to_owned(),
            source,
        };
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await.map_err(transport)?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(transport)?;
        if !status.is_success() {
            return Err(ApiError::Status {
                path: path.to_owned(),
                status,
                body: String::from_utf8_lossy(&bytes).chars().take(500).collect(),
            });
        }
        Ok(bytes.to_vec())
    }
}
