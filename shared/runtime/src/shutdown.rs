//! Process shutdown on SIGTERM / SIGINT.

use tokio_util::sync::CancellationToken;

/// Token cancelled on SIGTERM or SIGINT (spawns the listener task; call inside a tokio runtime).
///
/// The handlers are registered before this returns, so a signal that arrives right after
/// startup is not lost.
pub fn signal_token() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    let signal = wait_for_signal();
    tokio::spawn(async move {
        let name = signal.await;
        tracing::info!(signal = name, "shutdown requested; stopping");
        cancel.cancel();
    });
    token
}

#[cfg(unix)]
fn wait_for_signal() -> impl std::future::Future<Output = &'static str> {
    use tokio::signal::unix::{signal, SignalKind};

    let terminate = signal(SignalKind::terminate());
    let interrupt = signal(SignalKind::interrupt());
    async move {
        match (terminate, interrupt) {
            (Ok(mut terminate), Ok(mut interrupt)) => tokio::select! {
                _ = terminate.recv() => "SIGTERM",
                _ = interrupt.recv() => "SIGINT",
            },
            (Err(e), _) | (_, Err(e)) => {
                tracing::error!(error = %e, "cannot install SIGTERM/SIGINT handlers; only Ctrl-C will stop the service");
                ctrl_c().await
            }
        }
    }
}

#[cfg(not(unix))]
fn wait_for_signal() -> impl std::future::Future<Output = &'static str> {
    ctrl_c()
}

async fn ctrl_c() -> &'static str {
    if let Err(e) = tokio::signal::ctrl_c().await {
        tracing::error!(error = %e, "cannot listen for Ctrl-C; the service must be killed to stop");
        std::future::pending::<()>().await;
    }
    "Ctrl-C"
}
