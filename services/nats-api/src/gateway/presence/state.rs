//! Which agents hold a NATS connection, kept per connection (server id + client id), so that an agent that
//! briefly holds two connections (a reconnect racing the old connection's close) stays connected until the last
//! one closes. Fed by nats-server's CONNECT/DISCONNECT events and reconciled against CONNZ snapshots.

use std::collections::{HashMap, HashSet};

/// One client connection: the server that holds it and its client id there (cids are unique per server).
pub type ConnKey = (String, u64);

/// An agent whose connectedness changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// The agent.
    pub agent_id: String,
    /// Whether it now holds at least one connection.
    pub connected: bool,
}

#[derive(Debug)]
struct Conn {
    agent_id: String,
    /// Generation at which the connection was learnt; a snapshot only removes connections learnt before it began.
    generation: u64,
}

/// A snapshot being gathered: what happened to connections while CONNZ pages were in flight.
#[derive(Debug, Default)]
struct Pending {
    generation: u64,
    /// Connections that closed after the snapshot began: a CONNZ page may still list them.
    closed: HashSet<ConnKey>,
}

/// Connections by key, and how many each agent holds.
#[derive(Debug, Default)]
pub struct Connections {
    conns: HashMap<ConnKey, Conn>,
    per_agent: HashMap<String, u32>,
    generation: u64,
    pending: Option<Pending>,
}

impl Connections {
    /// Whether the agent holds at least one connection.
    pub fn is_connected(&self, agent_id: &str) -> bool {
        self.per_agent.contains_key(agent_id)
    }

    /// Every connected agent.
    pub fn agents(&self) -> impl Iterator<Item = &str> {
        self.per_agent.keys().map(String::as_str)
    }

    /// How many connections are tracked.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.conns.len()
    }

    /// Whether no connection is tracked.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    /// A connection opened (CONNECT event, or a snapshot entry).
    pub fn connect(&mut self, key: ConnKey, agent_id: &str) -> Option<Transition> {
        if self.conns.contains_key(&key) {
            return None;
        }
        let conn = Conn {
            agent_id: agent_id.to_owned(),
            generation: self.generation,
        };
        self.conns.insert(key, conn);
        let count = self.per_agent.entry(agent_id.to_owned()).or_default();
        *count += 1;
        (*count == 1).then(|| Transition {
            agent_id: agent_id.to_owned(),
            connected: true,
        })
    }

    /// A connection closed (DISCONNECT event). Unknown connections are remembered while a snapshot is gathered.
    pub fn disconnect(&mut self, key: ConnKey) -> Option<Transition> {
        if let Some(pending) = &mut self.pending {
            pending.closed.insert(key.clone());
        }
        let conn = self.conns.remove(&key)?;
        self.release(conn.agent_id)
    }

    fn release(&mut self, agent_id: String) -> Option<Transition> {
        let count = self.per_agent.get_mut(&agent_id)?;
        *count -= 1;
        if *count > 0 {
            return None;
        }
        self.per_agent.remove(&agent_id);
        Some(Transition {
            agent_id,
            connected: false,
        })
    }

    /// Starts a snapshot: connections learnt from now on are newer than it. Call before the CONNZ request.
    pub fn begin_snapshot(&mut self) {
        self.generation += 1;
        self.pending = Some(Pending {
            generation: self.generation,
            closed: HashSet::new(),
        });
    }

    /// Reconciles with the open connections CONNZ listed (all servers, all pages): connections learnt before the
    /// snapshot began and not listed are gone (their DISCONNECT was missed, or their server is); listed ones are
    /// added unless they closed meanwhile. Without a pending snapshot nothing is removed.
    pub fn finish_snapshot(&mut self, listed: impl IntoIterator<Item = (ConnKey, String)>) -> Vec<Transition> {
        let pending = self.pending.take();
        let mut transitions = Vec::new();
        let mut seen = HashSet::new();
        for (key, agent_id) in listed {
            seen.insert(key.clone());
            let closed = pending.as_ref().is_some_and(|p| p.closed.contains(&key));
            if !closed {
                transitions.extend(self.connect(key, &agent_id));
            }
        }
        if let Some(pending) = pending {
            let stale: Vec<ConnKey> = self
                .conns
                .iter()
                .filter(|(key, conn)| conn.generation < pending.generation && !seen.contains(*key))
                .map(|(key, _)| key.clone())
                .collect();
            for key in stale {
                transitions.extend(self.disconnect(key));
            }
        }
        // An agent that both lost a stale connection and gained a listed one reports both; keep only its net change.
        net(transitions, |agent| self.is_connected(agent))
    }
}

/// At most one transition per agent, ending in its current state; agents whose state did not change are dropped.
fn net(transitions: Vec<Transition>, now: impl Fn(&str) -> bool) -> Vec<Transition> {
    let mut first: HashMap<String, bool> = HashMap::new();
    let mut order = Vec::new();
    for t in transitions {
        if !first.contains_key(&t.agent_id) {
            // The state before the first transition was the opposite of it.
            first.insert(t.agent_id.clone(), !t.connected);
            order.push(t.agent_id);
        }
    }
    order
        .into_iter()
        .filter_map(|agent_id| {
            let connected = now(&agent_id);
            (first[&agent_id] != connected).then_some(Transition { agent_id, connected })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(server: &str, cid: u64) -> ConnKey {
        (server.to_owned(), cid)
    }

    fn t(agent_id: &str, connected: bool) -> Transition {
        Transition {
            agent_id: agent_id.to_owned(),
            connected,
        }
    }

    #[test]
    fn connect_and_disconnect_report_transitions() {
        let mut c = Connections::default();
        assert_eq!(c.connect(key("s1", 1), "a"), Some(t("a", true)));
        assert!(c.is_connected("a"));
        assert_eq!(c.connect(key("s1", 1), "a"), None, "a repeated event changes nothing");
        assert_eq!(c.disconnect(key("s1", 1)), Some(t("a", false)));
        assert!(!c.is_connected("a"));
        assert_eq!(
            c.disconnect(key("s1", 1)),
            None,
            "an unknown connection changes nothing"
        );
        assert!(c.is_empty());
    }

    #[test]
    fn an_agent_with_two_connections_stays_connected_until_the_last_closes() {
        let mut c = Connections::default();
        assert_eq!(c.connect(key("s1", 1), "a"), Some(t("a", true)));
        // The agent reconnected (to another server of the cluster) before its old connection was closed.
        assert_eq!(c.connect(key("s2", 1), "a"), None);
        assert_eq!(c.disconnect(key("s1", 1)), None);
        assert!(c.is_connected("a"));
        assert_eq!(c.disconnect(key("s2", 1)), Some(t("a", false)));
    }

    #[test]
    fn same_cid_on_two_servers_are_two_connections() {
        let mut c = Connections::default();
        c.connect(key("s1", 7), "a");
        assert_eq!(c.connect(key("s2", 7), "b"), Some(t("b", true)));
        assert_eq!(c.disconnect(key("s1", 7)), Some(t("a", false)));
        assert!(c.is_connected("b"));
    }

    #[test]
    fn a_snapshot_adds_listed_and_removes_missed_connections() {
        let mut c = Connections::default();
        c.connect(key("s1", 1), "gone");
        c.connect(key("s1", 2), "stays");
        c.begin_snapshot();
        let mut got = c.finish_snapshot([(key("s1", 2), "stays".into()), (key("s1", 3), "new".into())]);
        got.sort_by(|a, b| a.agent_id.cmp(&b.agent_id));
        assert_eq!(got, [t("gone", false), t("new", true)]);
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn events_during_a_snapshot_win_over_it() {
        let mut c = Connections::default();
        c.begin_snapshot();
        // Connected after CONNZ answered: not listed, yet connected.
        assert_eq!(c.connect(key("s1", 9), "late"), Some(t("late", true)));
        // Listed by CONNZ, then closed before the answer was processed.
        assert_eq!(c.disconnect(key("s1", 4)), None);
        let got = c.finish_snapshot([(key("s1", 4), "closed".into()), (key("s1", 5), "open".into())]);
        assert_eq!(got, [t("open", true)]);
        assert!(c.is_connected("late"));
        assert!(!c.is_connected("closed"));
    }

    #[test]
    fn a_snapshot_after_a_lost_server_drops_its_connections() {
        let mut c = Connections::default();
        c.connect(key("s1", 1), "a");
        c.connect(key("s2", 1), "b");
        c.connect(key("s2", 2), "a");
        // s2 died: its connections never produced DISCONNECT events; only s1 answers CONNZ.
        c.begin_snapshot();
        let got = c.finish_snapshot([(key("s1", 1), "a".into())]);
        assert_eq!(got, [t("b", false)]);
        assert!(c.is_connected("a"));
    }

    #[test]
    fn an_agent_that_moved_during_the_outage_reports_no_change() {
        let mut c = Connections::default();
        c.connect(key("s1", 1), "a");
        c.begin_snapshot();
        // nats-server restarted: cid 1 is gone, the agent came back as cid 3.
        let got = c.finish_snapshot([(key("s1-new", 3), "a".into())]);
        assert!(got.is_empty(), "{got:?}");
        assert!(c.is_connected("a"));
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn finishing_without_beginning_removes_nothing() {
        let mut c = Connections::default();
        c.connect(key("s1", 1), "a");
        let got = c.finish_snapshot([(key("s1", 2), "b".into())]);
        assert_eq!(got, [t("b", true)]);
        assert!(c.is_connected("a"));
    }
}
