//! Keep-alive and expulsion timers of a connection, as a sans-IO state machine.
//!
//! The owner feeds it what happened on the meta socket and the current time in milliseconds
//! (from whatever clock it uses) and asks [`Keepalive::poll`] what to do. Rules (§10.6):
//! after `ping-int` without anything received on the meta socket, send a ping; if no answer
//! arrives within `ping-timeout`, the peer is dead; a request that stays unanswered for
//! `ko-count × timeout` expels the peer (0 disables it).

use crate::config::NetOptions;

/// Timer values of one connection, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    /// Idle time on the meta socket before a ping (`ping-int`).
    pub ping_int_ms: u64,
    /// Time allowed for the ping answer (`ping-timeout`).
    pub ping_timeout_ms: u64,
    /// Time allowed for an expected answer or a send (`timeout`).
    pub timeout_ms: u64,
    /// Number of `timeout`s a request may stay unanswered (`ko-count`, 0 = off).
    pub ko_count: u32,
    /// Interval between connection attempts (`connect-int`).
    pub connect_int_ms: u64,
}

impl Timers {
    /// Timer values from a resource's `net` options (converting DRBD's units).
    pub fn from_net(n: &NetOptions) -> Timers {
        Timers {
            ping_int_ms: u64::from(n.ping_int_s) * 1000,
            ping_timeout_ms: u64::from(n.ping_timeout_ds) * 100,
            timeout_ms: u64::from(n.timeout_ds) * 100,
            ko_count: n.ko_count,
            connect_int_ms: u64::from(n.connect_int_s) * 1000,
        }
    }

    /// Socket timeout during the handshake: 4 × ping-timeout.
    pub fn handshake_timeout_ms(&self) -> u64 {
        4 * self.ping_timeout_ms
    }
}

impl Default for Timers {
    fn default() -> Self {
        Timers::from_net(&NetOptions::default())
    }
}

/// What the owner of a [`Keepalive`] must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepaliveAction {
    /// Send a ping on the meta socket now.
    SendPing,
    /// The peer is gone: drop the connection.
    PeerDead(DeadReason),
}

/// Why a peer was declared dead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadReason {
    /// No ping answer within ping-timeout.
    PingTimeout,
    /// A request stayed unanswered for ko-count × timeout.
    KoCount,
}

/// The keep-alive state of one connection.
#[derive(Debug, Clone)]
pub struct Keepalive {
    timers: Timers,
    last_rx_ms: u64,
    ping_sent_ms: Option<u64>,
    dead: bool,
}

impl Keepalive {
    /// Start at `now_ms` (the connection was just established).
    pub fn new(timers: Timers, now_ms: u64) -> Keepalive {
        Keepalive { timers, last_rx_ms: now_ms, ping_sent_ms: None, dead: false }
    }

    /// Anything arrived on the meta socket.
    pub fn on_receive(&mut self, now_ms: u64) {
        self.last_rx_ms = self.last_rx_ms.max(now_ms);
    }

    /// A ping answer arrived.
    pub fn on_ping_ack(&mut self, now_ms: u64) {
        self.ping_sent_ms = None;
        self.on_receive(now_ms);
    }

    /// What to do at `now_ms`. `oldest_unanswered_ms` is the send time of the oldest request
    /// still waiting for its answer, if any. Returns each action once.
    pub fn poll(
        &mut self,
        now_ms: u64,
        oldest_unanswered_ms: Option<u64>,
    ) -> Option<KeepaliveAction> {
        if self.dead {
            return None;
        }
        let t = &self.timers;
        if let Some(sent) = self.ping_sent_ms {
            if now_ms.saturating_sub(sent) >= t.ping_timeout_ms {
                self.dead = true;
                return Some(KeepaliveAction::PeerDead(DeadReason::PingTimeout));
            }
        }
        if let Some(oldest) = oldest_unanswered_ms {
            let limit = u64::from(t.ko_count) * t.timeout_ms;
            if t.ko_count > 0 && now_ms.saturating_sub(oldest) >= limit {
                self.dead = true;
                return Some(KeepaliveAction::PeerDead(DeadReason::KoCount));
            }
        }
        if self.ping_sent_ms.is_none() && now_ms.saturating_sub(self.last_rx_ms) >= t.ping_int_ms {
            self.ping_sent_ms = Some(now_ms);
            return Some(KeepaliveAction::SendPing);
        }
        None
    }

    /// The next time `poll` may have something to say (for sleeping until then).
    pub fn next_deadline_ms(&self, oldest_unanswered_ms: Option<u64>) -> u64 {
        let t = &self.timers;
        let mut d = match self.ping_sent_ms {
            Some(sent) => sent + t.ping_timeout_ms,
            None => self.last_rx_ms + t.ping_int_ms,
        };
        if let (Some(o), true) = (oldest_unanswered_ms, t.ko_count > 0) {
            d = d.min(o + u64::from(t.ko_count) * t.timeout_ms);
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_timer_values() {
        let t = Timers::default();
        assert_eq!(
            t,
            Timers {
                ping_int_ms: 10_000,
                ping_timeout_ms: 500,
                timeout_ms: 6_000,
                ko_count: 7,
                connect_int_ms: 10_000
            }
        );
        assert_eq!(t.handshake_timeout_ms(), 2_000);
    }

    #[test]
    fn ping_after_idle_then_dead_without_answer() {
        let mut k = Keepalive::new(Timers::default(), 1_000);
        assert_eq!(k.poll(10_999, None), None);
        assert_eq!(k.next_deadline_ms(None), 11_000);
        assert_eq!(k.poll(11_000, None), Some(KeepaliveAction::SendPing));
        assert_eq!(k.poll(11_100, None), None, "one ping only");
        assert_eq!(k.poll(11_500, None), Some(KeepaliveAction::PeerDead(DeadReason::PingTimeout)));
        assert_eq!(k.poll(20_000, None), None);
    }

    #[test]
    fn answer_and_traffic_keep_alive() {
        let mut k = Keepalive::new(Timers::default(), 0);
        assert_eq!(k.poll(10_000, None), Some(KeepaliveAction::SendPing));
        k.on_ping_ack(10_200);
        assert_eq!(k.poll(10_600, None), None);
        k.on_receive(15_000);
        assert_eq!(k.poll(24_999, None), None);
        assert_eq!(k.poll(25_000, None), Some(KeepaliveAction::SendPing));
    }

    #[test]
    fn ko_count_expels_and_zero_disables() {
        let mut k = Keepalive::new(Timers::default(), 0);
        k.on_receive(41_000);
        assert_eq!(k.poll(41_999, Some(0)), None);
        assert_eq!(k.poll(42_000, Some(0)), Some(KeepaliveAction::PeerDead(DeadReason::KoCount)));
        let t = Timers { ko_count: 0, ..Timers::default() };
        let mut k = Keepalive::new(t, 0);
        k.on_receive(1_000_000);
        assert_eq!(k.poll(1_000_000, Some(0)), None);
    }
}
