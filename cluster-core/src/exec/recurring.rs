//! Recurring operations (monitors with an interval), sans-IO.
//!
//! [`RecurringOps`] holds each registered operation with its next due time in milliseconds of a
//! [`Clock`]. [`RecurringOps::tick`] submits the due ones to an [`AgentRunner`]; when a result
//! comes back, [`RecurringOps::on_result`] schedules the next run one interval after that
//! completion (as Pacemaker's executor does) and says whether the result differs from the
//! previous one: like Pacemaker, callers report a recurring result only when it changed.
//! Invariants: at most one run per operation is in flight; the table holds at most `max_ops`.

use std::collections::BTreeMap;
use std::time::Instant;

use super::process::AgentRunner;
use super::types::{AgentRequest, ExecStatus, OcfExit, OpId, OpResult};

/// A monotonic millisecond clock.
pub trait Clock {
    /// Milliseconds since an arbitrary fixed origin; never decreases.
    fn now_ms(&self) -> u64;
}

/// The real clock: milliseconds since the value was created.
#[derive(Debug, Clone, Copy)]
pub struct SystemClock {
    origin: Instant,
}

impl SystemClock {
    /// A clock starting at 0 now.
    #[allow(clippy::disallowed_methods)] // the real effect implementation reads the clock
    pub fn new() -> SystemClock {
        SystemClock { origin: Instant::now() }
    }
}

impl Default for SystemClock {
    fn default() -> SystemClock {
        SystemClock::new()
    }
}

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        self.origin.elapsed().as_millis() as u64
    }
}

/// Errors of [`RecurringOps::add`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecurringError {
    /// A recurring operation needs an interval > 0.
    #[error("operation {op_key} has interval 0 and cannot recur")]
    ZeroInterval {
        /// The operation key.
        op_key: String,
    },
    /// The table is full.
    #[error("cannot add {op_key}: already {limit} recurring operations")]
    Full {
        /// The operation key.
        op_key: String,
        /// The configured limit.
        limit: usize,
    },
}

#[derive(Debug)]
struct Entry {
    req: AgentRequest,
    next_due_ms: u64,
    in_flight: Option<OpId>,
    last: Option<(OcfExit, ExecStatus)>,
}

/// What a recurring result means for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecurringUpdate {
    /// Operation key (`rsc_monitor_10000`).
    pub op_key: String,
    /// True for the first result and whenever rc or status differ from the previous result.
    pub changed: bool,
}

/// The table of recurring operations.
#[derive(Debug)]
pub struct RecurringOps {
    entries: BTreeMap<String, Entry>,
    max_ops: usize,
}

impl RecurringOps {
    /// An empty table holding at most `max_ops` operations.
    pub fn new(max_ops: usize) -> RecurringOps {
        RecurringOps { entries: BTreeMap::new(), max_ops }
    }

    /// Registers (or replaces) a recurring operation; its first run is due at `now_ms`.
    ///
    /// # Errors
    /// Interval 0, or the table is full.
    pub fn add(&mut self, req: AgentRequest, now_ms: u64) -> Result<(), RecurringError> {
        let op_key = req.op_key();
        if req.interval_ms == 0 {
            return Err(RecurringError::ZeroInterval { op_key });
        }
        if !self.entries.contains_key(&op_key) && self.entries.len() >= self.max_ops {
            return Err(RecurringError::Full { op_key, limit: self.max_ops });
        }
        let entry = Entry { req, next_due_ms: now_ms, in_flight: None, last: None };
        self.entries.insert(op_key, entry);
        Ok(())
    }

    /// Removes an operation; returns its in-flight run, which the caller should cancel.
    pub fn remove(&mut self, op_key: &str) -> Option<OpId> {
        self.entries.remove(op_key).and_then(|e| e.in_flight)
    }

    /// Number of registered operations.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is registered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Milliseconds until the next run is due (`None` when nothing is waiting).
    pub fn next_due_in_ms(&self, now_ms: u64) -> Option<u64> {
        self.entries
            .values()
            .filter(|e| e.in_flight.is_none())
            .map(|e| e.next_due_ms.saturating_sub(now_ms))
            .min()
    }

    /// Submits every due operation that is not already running. Returns how many were started.
    pub fn tick<R: AgentRunner + ?Sized>(&mut self, now_ms: u64, runner: &mut R) -> usize {
        let mut started = 0;
        for e in self.entries.values_mut() {
            if e.in_flight.is_none() && e.next_due_ms <= now_ms {
                e.in_flight = Some(runner.start(e.req.clone()));
                started += 1;
            }
        }
        started
    }

    /// Feeds a result from the runner. Returns `None` if `id` is not a recurring run.
    pub fn on_result(&mut self, id: OpId, res: &OpResult, now_ms: u64) -> Option<RecurringUpdate> {
        let (key, e) = self.entries.iter_mut().find(|(_, e)| e.in_flight == Some(id))?;
        e.in_flight = None;
        e.next_due_ms = now_ms + e.req.interval_ms;
        let now = (res.rc, res.status);
        let changed = e.last != Some(now);
        e.last = Some(now);
        Some(RecurringUpdate { op_key: key.clone(), changed })
    }
}
