//! Credentials before content. Actix runs a handler's extractors together, so a body that fails to parse
//! could answer 400 before the caller's credentials were checked, telling a stranger or an unprivileged user
//! what the endpoint expects (DRF checks permissions first). The auth extractors open this gate when they
//! succeed, and [`crate::json::Json`] holds a parse error back until it opens: a failing auth answers first.

use std::cell::Cell;
use std::rc::Rc;

use actix_web::{HttpMessage, HttpRequest};
use tokio::sync::Notify;

/// Whether the request's credentials have been accepted.
#[derive(Default)]
pub struct Gate {
    opened: Cell<bool>,
    notify: Notify,
}

impl Gate {
    /// The request's gate, created by the first extractor that asks.
    pub(crate) fn of(req: &HttpRequest) -> Rc<Gate> {
        if let Some(gate) = Gate::existing(req) {
            return gate;
        }
        let gate = Rc::new(Gate::default());
        req.extensions_mut().insert(gate.clone());
        gate
    }

    /// The request's gate, if an auth extractor takes part in it.
    pub(crate) fn existing(req: &HttpRequest) -> Option<Rc<Gate>> {
        req.extensions().get::<Rc<Gate>>().cloned()
    }

    /// The credentials were accepted.
    pub(crate) fn open(&self) {
        self.opened.set(true);
        self.notify.notify_waiters();
    }

    /// Waits until the gate opens; never returns if the credentials are refused (the refusal answers).
    pub(crate) async fn opened(&self) {
        loop {
            let notified = self.notify.notified();
            if self.opened.get() {
                return;
            }
            notified.await;
        }
    }
}
