//! Simulated network between two nodes with TCP semantics: while a connection lives, messages
//! arrive in order and none is lost; a fault breaks the connection (both ends are told, and
//! whatever was in flight is gone). Partitions keep new connections from forming. Delays vary
//! per message but never reorder within a connection.

use super::prng::Prng;
use drbd_ublk::repl::PeerMsg;
use std::collections::VecDeque;

/// The link between node 0 and node 1.
#[derive(Debug, Default)]
pub struct SimNet {
    /// A connection exists.
    pub up: bool,
    /// Connection generation (increments on every new connection).
    pub generation: u64,
    /// No connection can form.
    pub partitioned: bool,
    /// In flight, per direction (index = sender): (delivery time, message).
    queues: [VecDeque<(u64, PeerMsg)>; 2],
    /// Delay range in ms.
    pub delay_ms: (u64, u64),
    /// Messages delivered (statistics).
    pub delivered: u64,
}

impl SimNet {
    /// New network, links down.
    pub fn new(delay_ms: (u64, u64)) -> Self {
        SimNet { delay_ms, ..SimNet::default() }
    }

    /// Open a new connection.
    pub fn connect(&mut self) {
        self.up = true;
        self.generation += 1;
        self.queues = Default::default();
    }

    /// Break the connection; everything in flight is lost.
    pub fn break_link(&mut self) {
        self.up = false;
        self.queues = Default::default();
    }

    /// Queue a message from `from`.
    pub fn send(&mut self, from: usize, now: u64, m: PeerMsg, rng: &mut Prng) {
        if !self.up {
            return;
        }
        let q = &mut self.queues[from];
        let last = q.back().map_or(0, |e| e.0);
        let t = (now + rng.range(self.delay_ms.0, self.delay_ms.1)).max(last);
        q.push_back((t, m));
    }

    /// Next message due at or before `now`: (receiver, message).
    pub fn poll(&mut self, now: u64, rng: &mut Prng) -> Option<(usize, PeerMsg)> {
        let first = rng.below(2) as usize;
        for k in 0..2 {
            let from = (first + k) % 2;
            if self.queues[from].front().is_some_and(|e| e.0 <= now) {
                let (_, m) = self.queues[from].pop_front().expect("non-empty");
                self.delivered += 1;
                return Some((1 - from, m));
            }
        }
        None
    }

    /// Earliest pending delivery time.
    pub fn next_due(&self) -> Option<u64> {
        self.queues.iter().filter_map(|q| q.front().map(|e| e.0)).min()
    }

    /// Messages in flight.
    pub fn in_flight(&self) -> usize {
        self.queues[0].len() + self.queues[1].len()
    }
}
