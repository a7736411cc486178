use actix_web::test::{call_service, init_service, read_body, read_body_json, TestRequest};
use actix_web::App;
use prometheus_client::metrics::counter::Counter;
use serde_json::Value;

use super::*;

#[test]
fn ready_flips_with_its_dependencies() {
    let health = Health::new("test");
    assert!(health.is_ready(), "a service without dependencies is ready");

    health.set_ready("postgres", false);
    health.set_ready("redis", true);
    assert!(!health.is_ready());

    health.set_ready("postgres", true);
    assert!(health.is_ready());

    health.set_ready("redis", false);
    assert!(!health.is_ready());
}

#[actix_web::test]
async fn healthz_is_ok_even_when_not_ready() {
    let health = Health::new("test");
    health.set_ready("postgres", false);
    let app = init_service(App::new().configure(configure(health))).await;

    let response = call_service(&app, TestRequest::get().uri("/healthz").to_request()).await;

    assert_eq!(response.status(), 200);
    let body: Value = read_body_json(response).await;
    assert_eq!(body, serde_json::json!({ "status": "ok" }));
}

#[actix_web::test]
async fn readyz_names_the_dependency_that_is_down() {
    let health = Health::new("test");
    health.set_ready("postgres", true);
    health.set_ready("redis", false);
    let app = init_service(App::new().configure(configure(health.clone()))).await;

    let response = call_service(&app, TestRequest::get().uri("/readyz").to_request()).await;
    assert_eq!(response.status(), 503);
    let body: Value = read_body_json(response).await;
    assert_eq!(body["down"], serde_json::json!(["redis"]));
    assert_eq!(body["dependencies"]["postgres"], "up");

    health.set_ready("redis", true);
    let response = call_service(&app, TestRequest::get().uri("/readyz").to_request()).await;
    assert_eq!(response.status(), 200);
    let body: Value = read_body_json(response).await;
    assert_eq!(body["status"], "ready");
}

#[actix_web::test]
async fn metrics_renders_registered_counters_and_dependency_gauges() {
    let health = Health::new("test");
    let jobs: Counter = Counter::default();
    health.register("trmm_test_jobs", "Jobs run by the test", jobs.clone());
    jobs.inc_by(3);
    health.set_ready("nats", false);
    let app = init_service(App::new().configure(configure(health))).await;

    let response = call_service(&app, TestRequest::get().uri("/metrics").to_request()).await;

    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers().get(header::CONTENT_TYPE).unwrap(),
        METRICS_CONTENT_TYPE
    );
    let body = String::from_utf8(read_body(response).await.to_vec()).unwrap();
    assert!(body.contains("trmm_test_jobs_total 3"), "{body}");
    assert!(body.contains("trmm_dependency_up{dependency=\"nats\"} 0"), "{body}");
}

#[tokio::test(start_paused = true)]
async fn watch_records_check_results_until_shutdown() {
    let health = Health::new("test");
    let shutdown = CancellationToken::new();
    let (tx, rx) = tokio::sync::watch::channel(false);
    health.watch("redis", Duration::from_millis(100), shutdown.clone(), move || {
        let up = *rx.borrow();
        async move { up }
    });

    wait_for(|| health.dependencies().get("redis") == Some(&false)).await;
    tx.send(true).unwrap();
    wait_for(|| health.is_ready()).await;

    shutdown.cancel();
    // The loop owns the check (and with it the receiver); dropping it proves the loop ended.
    wait_for(|| tx.is_closed()).await;
    assert!(health.is_ready());
}

#[tokio::test(start_paused = true)]
async fn watch_counts_a_hanging_check_as_down() {
    let health = Health::new("test");
    health.set_ready("postgres", true);
    let shutdown = CancellationToken::new();
    health.watch(
        "postgres",
        Duration::from_millis(100),
        shutdown.clone(),
        std::future::pending::<bool>,
    );

    wait_for(|| !health.is_ready()).await;
    shutdown.cancel();
}

/// Polls `condition` on the paused clock; each step auto-advances time, so this is not a fixed sleep.
async fn wait_for(mut condition: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("condition not met within 10 s of (paused) time");
}

#[tokio::test]
async fn serve_answers_until_shutdown() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let health = Health::new("test");
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(serve(addr, health, shutdown.clone()));

    let url = format!("http://{addr}/healthz");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let status = loop {
        match reqwest::get(&url).await {
            Ok(response) => break response.status(),
            Err(e) if tokio::time::Instant::now() > deadline => {
                panic!("health server never answered: {e}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    };
    assert_eq!(status, 200);

    shutdown.cancel();
    let result = tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("server did not stop");
    result.unwrap().unwrap();
}

#[tokio::test]
async fn serve_fails_when_the_port_is_taken() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();

    let result = serve(
        taken.local_addr().unwrap(),
        Health::new("test"),
        CancellationToken::new(),
    )
    .await;

    assert!(result.is_err());
}
