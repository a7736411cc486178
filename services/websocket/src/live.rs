//! What `/ws/dashinfo/` and `/ws/events/` share: the `?access_token=` check at the upgrade, the heartbeat, a
//! check every [`TICK`] that the session still stands (a user logged out, blocked or deleted loses the socket, a
//! changed role takes effect), and the end of the socket at shutdown.

use std::future::Future;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use actix_web::{web, HttpRequest, HttpResponse};
use actix_ws::{CloseCode, CloseReason, Message, MessageStream, Session};
use futures_util::StreamExt;
use tokio::time::Interval;
use trmm_authz::Identity;

use crate::auth;
use crate::Ctx;

/// How often the session is checked again (and `/ws/dashinfo/` sends its counts, as upstream).
pub const TICK: Duration = Duration::from_secs(30);
/// How often the server pings the browser, and how long it may stay silent.
const HEARTBEAT: Duration = Duration::from_secs(10);
const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

/// An accepted socket of an authenticated user.
pub struct Live {
    /// Frames go out here.
    pub session: Session,
    messages: MessageStream,
    query: String,
    ip: Option<IpAddr>,
    heard: Instant,
    heartbeat: Interval,
    recheck: Interval,
    /// Re-checks in a row that Postgres could not answer.
    unchecked: u8,
}

/// What woke the socket's loop.
pub enum Next<T> {
    /// A [`TICK`] passed; the session still stands, with this identity.
    Tick(Box<Identity>),
    /// The loop's own source produced this.
    Item(T),
    /// The socket is done (closed, timed out, refused or shutting down).
    End,
}

/// Upgrades the request, authenticates its token and runs `serve`; a refused socket gets an error frame and is
/// closed with 4401 (no valid token) or 4003 (refused), as upstream.
pub fn upgrade<F, Fut>(
    req: &HttpRequest,
    body: web::Payload,
    ctx: &web::Data<Ctx>,
    serve: F,
) -> actix_web::Result<HttpResponse>
where
    F: FnOnce(Ctx, Live, Identity) -> Fut + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let (response, session, messages) = actix_ws::handle(req, body)?;
    let ip = trmm_authz::client_ip(req, ctx.trust_proxy_headers);
    let (ctx, query) = (ctx.get_ref().clone(), req.query_string().to_owned());
    actix_web::rt::spawn(async move {
        match auth::authenticate(&ctx.pool, &query, ip, ctx.clock.now()).await {
            Ok(who) => {
                let live = Live {
                    session,
                    messages,
                    query,
                    ip,
                    heard: Instant::now(),
                    heartbeat: tokio::time::interval(HEARTBEAT),
                    recheck: tokio::time::interval_at(tokio::time::Instant::now() + TICK, TICK),
                    unchecked: 0,
                };
                serve(ctx, live, who).await;
            }
            Err(refusal) => auth::refuse(session, &refusal).await,
        }
    });
    Ok(response)
}

impl Live {
    /// Waits for the next tick, for `item`, or for the socket's end, answering the browser's pings meanwhile.
    pub async fn next<T>(&mut self, ctx: &Ctx, item: impl Future<Output = T>) -> Next<T> {
        tokio::pin!(item);
        loop {
            tokio::select! {
                () = ctx.shutdown.cancelled() => {
                    let away = CloseReason { code: CloseCode::Away, description: None };
                    let _ = self.session.clone().close(Some(away)).await;
                    return Next::End;
                }
                msg = self.messages.next() => {
                    self.heard = Instant::now();
                    match msg {
                        Some(Ok(Message::Ping(bytes))) if self.session.pong(&bytes).await.is_err() => return Next::End,
                        Some(Ok(Message::Close(_)) | Err(_)) | None => return Next::End,
                        // Upstream ignores what the browser sends.
                        Some(Ok(_)) => {}
                    }
                }
                _ = self.heartbeat.tick() => {
                    if self.heard.elapsed() > CLIENT_TIMEOUT || self.session.ping(b"").await.is_err() {
                        return Next::End;
                    }
                }
                _ = self.recheck.tick() => {
                    match auth::authenticate(&ctx.pool, &self.query, self.ip, ctx.clock.now()).await {
                        Ok(who) => {
                            self.unchecked = 0;
                            return Next::Tick(Box::new(who));
                        }
                        // Postgres blinked: the user keeps the socket until the next check, but not for long,
                        // or a revoked session would outlive an outage.
                        Err(refusal) if refusal.status == 500 && self.unchecked < 1 => self.unchecked += 1,
                        Err(refusal) => {
                            auth::refuse(self.session.clone(), &refusal).await;
                            return Next::End;
                        }
                    }
                }
                item = &mut item => return Next::Item(item),
            }
        }
    }

    /// Sends a text frame; false when the browser is gone.
    pub async fn send(&mut self, frame: String) -> bool {
        self.session.text(frame).await.is_ok()
    }

    /// Closes the socket normally.
    pub async fn close(self) {
        let _ = self.session.close(None).await;
    }
}
