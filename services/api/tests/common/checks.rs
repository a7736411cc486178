//! The checks suites' fixture: the API with client Acme, site HQ and one enrolled agent, and the agent's side of
//! the check endpoints as the Go agent calls them.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::{api_with_acme_hq, TestApi};

pub struct Fixture {
    pub api: TestApi,
    pub admin: String,
    pub agent: String,
    pub token: String,
}

pub async fn fixture() -> Fixture {
    let (api, admin, _, site, installer) = api_with_acme_hq().await;
    let agent = super::agent_id(1);
    let (_, token) = api.enroll(&installer, &agent, "alpha", site).await;
    Fixture {
        api,
        admin,
        agent,
        token,
    }
}

impl Fixture {
    pub async fn add(&self, body: Value) -> (StatusCode, Value) {
        let mut body = body;
        body["agent"] = json!(self.agent);
        self.api.post("/checks/", &self.admin, body).await
    }

    pub async fn checks(&self) -> Vec<Value> {
        let (status, list) = self
            .api
            .get(&format!("/agents/{}/checks/", self.agent), &self.admin)
            .await;
        assert_eq!(status, StatusCode::OK, "{list}");
        list.as_array().unwrap().clone()
    }

    pub async fn check_id(&self, kind: &str) -> i64 {
        let all = self.checks().await;
        all.iter().find(|c| c["check_type"] == kind).unwrap()["id"]
            .as_i64()
            .unwrap()
    }

    /// The agent's GET of `checkrunner/` (due) or `runchecks/` (all).
    pub async fn runner(&self, endpoint: &str) -> Value {
        let path = format!("/api/v3/{}/{endpoint}/", self.agent);
        let (status, body) = self.api.call(Method::GET, &path, Some(&self.token), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// The agent's PATCH of one result, with the fields the Go agent sends.
    pub async fn report(&self, id: i64, fields: Value) -> (StatusCode, Value) {
        let mut body = json!({"id": id, "agent_id": self.agent});
        body.as_object_mut()
            .unwrap()
            .extend(fields.as_object().unwrap().clone());
        self.api
            .call(Method::PATCH, "/api/v3/checkrunner/", Some(&self.token), Some(body))
            .await
    }
}

pub const DISK: &str =
    r#"{"check_type":"diskspace","disk":"/","warning_threshold":25,"error_threshold":10,"email_alert":true}"#;
