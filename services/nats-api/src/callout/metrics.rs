//! Prometheus counters of the auth callout, exposed on `/metrics` through [`Health::register`].

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use trmm_runtime::health::Health;

use super::authorize::Denial;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

/// Cheaply cloneable handles to the callout's counters.
#[derive(Clone, Default)]
pub struct Metrics {
    allowed: Counter,
    denied: Family<ReasonLabel, Counter>,
    invalid: Counter,
}

impl Metrics {
    /// Registers the counters, with every denial reason present (at zero) from the start.
    pub fn register(&self, health: &Health) {
        for denial in Denial::ALL {
            let _ = self.denied.get_or_create(&ReasonLabel { reason: denial.label() });
        }
        trmm_runtime::register_metrics! { health;
            "trmm_nats_auth_allowed", "Agent connections the NATS auth callout let in" => self.allowed;
            "trmm_nats_auth_denied", "Connections the NATS auth callout refused, by reason" => self.denied;
            "trmm_nats_auth_invalid_requests",
                "Auth callout requests left unanswered because they were not a valid request from the server"
                => self.invalid;
        }
    }

    /// Counts a connection let in.
    pub fn allowed(&self) {
        self.allowed.inc();
    }

    /// Counts a refused connection.
    pub fn denied(&self, denial: Denial) {
        self.denied.get_or_create(&ReasonLabel { reason: denial.label() }).inc();
    }

    /// Counts a request that could not be trusted or decoded.
    pub fn invalid(&self) {
        self.invalid.inc();
    }
}
