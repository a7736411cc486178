//! Alert templates through the API, and assigning them, for the template suites.

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{find, TestApi};

pub const LIST: &str = "/alerts/templates/";

/// Creates a template and returns its id.
pub async fn create(api: &TestApi, token: &str, body: Value) -> i64 {
    assert_eq!(
        api.post(LIST, token, body.clone()).await,
        (StatusCode::OK, json!("ok")),
        "{body}"
    );
    let (_, all) = api.get(LIST, token).await;
    find(&all, "name", body["name"].as_str().unwrap())["id"]
        .as_i64()
        .unwrap()
}

/// `GET /alerts/templates/<id>/`, which must answer.
pub async fn get(api: &TestApi, token: &str, id: i64) -> Value {
    let (status, body) = api.get(&format!("{LIST}{id}/"), token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// `PUT /alerts/templates/<id>/`, which must succeed.
pub async fn edit(api: &TestApi, token: &str, id: i64, body: Value) {
    let answer = api.put(&format!("{LIST}{id}/"), token, body.clone()).await;
    assert_eq!(answer, (StatusCode::OK, json!("ok")), "{body}");
}

/// Makes template `id` the core default through `PUT /core/settings/`.
pub async fn make_default(api: &TestApi, token: &str, id: i64) {
    let answer = api.put("/core/settings/", token, json!({ "alert_template": id })).await;
    assert_eq!(answer.0, StatusCode::OK, "{answer:?}");
}
