//! MeshCentral integration on Linux (Go agent `SyncMeshNodeID`, `RecoverMesh`): report the mesh node id
//! and restart the mesh agent on request. Without a mesh agent the node id is "", as upstream sends it.

use std::path::Path;
use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::commands::exec::{self, Spec};
use crate::svc::Agent;

/// Attempts to read a node id; upstream polls forever, which would pin a task on a broken mesh install.
const NODE_ID_ATTEMPTS: usize = 10;

/// Output of `<meshagent> -nodeid`, or "" when there is no mesh agent or it never answers.
pub async fn node_id(mesh_agent: &Path, shutdown: &tokio_util::sync::CancellationToken) -> String {
    if !mesh_agent.exists() {
        return String::new();
    }
    let spec = Spec {
        argv: vec![mesh_agent.display().to_string(), "-nodeid".into()],
        env: Vec::new(),
        timeout_secs: 10,
    };
    for _ in 0..NODE_ID_ATTEMPTS {
        let out = exec::run(&spec, None, shutdown).await;
        let id: String = out.stdout.chars().filter(|c| !c.is_whitespace()).collect();
        // The desktop build answers with a complaint about its GUI instead of an id at first.
        if !id.is_empty() && !out.stdout.contains("graphical version") && !out.stdout.contains("zenity") {
            return id;
        }
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
    String::new()
}

/// `POST /api/v3/syncmesh/` with the current node id; failures are logged.
pub async fn sync_node_id(agent: &Agent) {
    let nodeid = node_id(&agent.config.mesh_agent, &agent.shutdown).await;
    let body = json!({"func": "syncmesh", "agent_id": agent.config.agent_id, "nodeid": nodeid});
    if let Err(e) = agent.api.send(Method::POST, "/api/v3/syncmesh/", &body).await {
        tracing::warn!(error = %e, "mesh node id not reported");
    }
}

/// `recover` with mode "mesh": restart the mesh agent service if one is installed, then report its node id.
pub async fn recover(agent: &Agent) {
    if !agent.config.mesh_agent.exists() {
        tracing::info!(path = %agent.config.mesh_agent.display(), "no mesh agent installed; nothing to recover");
        return;
    }
    let spec = Spec {
        argv: ["systemctl", "restart", "meshagent.service"].map(String::from).to_vec(),
        env: Vec::new(),
        timeout_secs: 60,
    };
    let out = exec::run(&spec, None, &agent.shutdown).await;
    if out.exit_code != 0 {
        tracing::warn!(output = %out.combined(), "restarting meshagent.service failed");
    }
    sync_node_id(agent).await;
}
