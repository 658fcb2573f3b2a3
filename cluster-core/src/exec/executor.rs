//! [`Executor`]: one-shot and recurring operations over any [`AgentRunner`], with results
//! interpreted the way Pacemaker's controller reads them.
//!
//! The executor owns a runner and a [`RecurringOps`] table and is driven by the caller's clock:
//! [`Executor::poll`] takes `now_ms`, starts due recurring runs and returns at most one
//! [`ExecEvent`]. One-shot results are always reported; recurring results only when rc or
//! status changed (Pacemaker records a recurring monitor in the CIB only on change). Each event
//! carries its [`Outcome`], judged against the expected rc: 7 for probes, 8 for monitors with
//! meta `role=Promoted` (or `Master`), else 0.

use std::collections::BTreeMap;

use super::interpret::{classify, expected_rc, Outcome};
use super::process::AgentRunner;
use super::recurring::{RecurringError, RecurringOps};
use super::types::{AgentRequest, OpId, OpResult};

/// A finished operation worth reporting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecEvent {
    /// The runner's id of this run.
    pub id: OpId,
    /// Operation key (`rsc_monitor_10000`).
    pub op_key: String,
    /// The request that ran.
    pub request: AgentRequest,
    /// Its result.
    pub result: OpResult,
    /// What the result means.
    pub outcome: Outcome,
    /// True for a run of a recurring operation.
    pub recurring: bool,
}

/// One-shot and recurring operations over a runner.
pub struct Executor<R: AgentRunner> {
    runner: R,
    recurring: RecurringOps,
    /// Requests of runs in flight (one-shot and recurring), by id.
    in_flight: BTreeMap<OpId, (AgentRequest, bool)>,
}

fn promoted_role(r: &AgentRequest) -> bool {
    matches!(r.meta.get("role").map(String::as_str), Some("Promoted" | "Master"))
}

impl<R: AgentRunner> Executor<R> {
    /// An executor over `runner` holding at most `max_recurring` recurring operations.
    pub fn new(runner: R, max_recurring: usize) -> Executor<R> {
        Executor { runner, recurring: RecurringOps::new(max_recurring), in_flight: BTreeMap::new() }
    }

    /// The runner (e.g. to inspect a simulated runner's history).
    pub fn runner(&self) -> &R {
        &self.runner
    }

    /// Mutable access to the runner.
    pub fn runner_mut(&mut self) -> &mut R {
        &mut self.runner
    }

    /// Starts a one-shot operation (any interval is ignored for scheduling: it runs once).
    pub fn execute(&mut self, r: AgentRequest) -> OpId {
        let id = self.runner.start(r.clone());
        self.in_flight.insert(id, (r, false));
        id
    }

    /// Registers a recurring operation; its first run starts at the next [`Executor::poll`].
    ///
    /// # Errors
    /// Interval 0 or table full (see [`RecurringOps::add`]).
    pub fn add_recurring(&mut self, r: AgentRequest, now_ms: u64) -> Result<(), RecurringError> {
        self.recurring.add(r, now_ms)
    }

    /// Stops a recurring operation, cancelling its run in flight. Returns false if unknown.
    pub fn cancel_recurring(&mut self, op_key: &str) -> bool {
        let known = self.recurring.len();
        if let Some(id) = self.recurring.remove(op_key) {
            self.runner.cancel(id);
            self.in_flight.remove(&id);
        }
        self.recurring.len() < known
    }

    /// Number of registered recurring operations.
    pub fn recurring_count(&self) -> usize {
        self.recurring.len()
    }

    /// Milliseconds until the next recurring run is due.
    pub fn next_due_in_ms(&self, now_ms: u64) -> Option<u64> {
        self.recurring.next_due_in_ms(now_ms)
    }

    /// Starts due recurring runs and returns the next reportable event, if any.
    pub fn poll(&mut self, now_ms: u64) -> Option<ExecEvent> {
        let runner = &mut self.runner;
        let in_flight = &mut self.in_flight;
        let recurring = &mut self.recurring;
        // Record which recurring runs start, so their requests are known on completion.
        let mut started = Vec::new();
        {
            let mut tracker = Tracker { inner: runner, started: &mut started };
            recurring.tick(now_ms, &mut tracker);
        }
        for (id, r) in started {
            in_flight.insert(id, (r, true));
        }
        // Bounded: each result is either returned or dropped as an unchanged recurring run.
        while let Some((id, result)) = self.runner.poll_result() {
            let Some((request, is_recurring)) = self.in_flight.remove(&id) else { continue };
            if is_recurring {
                match self.recurring.on_result(id, &result, now_ms) {
                    Some(up) if up.changed => {}
                    _ => continue,
                }
            }
            let expected =
                expected_rc(&request.action, request.interval_ms, promoted_role(&request));
            let outcome = classify(&request.action, request.interval_ms, expected, &result);
            let op_key = request.op_key();
            return Some(ExecEvent {
                id,
                op_key,
                request,
                result,
                outcome,
                recurring: is_recurring,
            });
        }
        None
    }
}

/// Wraps a runner to learn the requests [`RecurringOps::tick`] submits.
struct Tracker<'a, R: AgentRunner> {
    inner: &'a mut R,
    started: &'a mut Vec<(OpId, AgentRequest)>,
}

impl<R: AgentRunner> AgentRunner for Tracker<'_, R> {
    fn start(&mut self, r: AgentRequest) -> OpId {
        let id = self.inner.start(r.clone());
        self.started.push((id, r));
        id
    }

    fn poll_result(&mut self) -> Option<(OpId, OpResult)> {
        self.inner.poll_result()
    }

    fn cancel(&mut self, id: OpId) -> bool {
        self.inner.cancel(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::interpret::Severity;
    use crate::exec::sim::{done, ScriptedRunner};
    use crate::exec::types::OcfExit;

    #[test]
    fn events_interpreted_and_recurring_only_on_change() {
        let mut promoted = false;
        let runner = ScriptedRunner::new(Box::new(move |r: &AgentRequest| {
            match r.action.as_str() {
                "promote" => promoted = true,
                "demote" => promoted = false,
                _ => {}
            }
            done(match (r.action.as_str(), promoted) {
                ("monitor", true) => OcfExit::RunningPromoted,
                ("monitor", false) if r.interval_ms == 0 => OcfExit::NotRunning,
                _ => OcfExit::Ok,
            })
        }));
        let mut ex = Executor::new(runner, 8);
        let base = AgentRequest::ocf("st", "pacemaker", "Stateful", "monitor");
        ex.execute(base.clone());
        let ev = ex.poll(0).unwrap();
        assert_eq!((ev.op_key.as_str(), ev.outcome), ("st_monitor_0", Outcome::Inactive));
        ex.execute(base.for_action("promote", 0));
        assert_eq!(ex.poll(0).unwrap().outcome, Outcome::Success);
        let mon = base.for_action("monitor", 10_000).with_meta("role", "Promoted");
        ex.add_recurring(mon, 0).unwrap();
        let ev = ex.poll(0).unwrap();
        assert!(ev.recurring);
        assert_eq!((ev.result.rc, ev.outcome), (OcfExit::RunningPromoted, Outcome::Success));
        for t in [5_000, 10_000, 20_000] {
            assert_eq!(ex.poll(t), None, "unchanged at {t}");
        }
        ex.execute(base.for_action("demote", 0));
        assert_eq!(ex.poll(25_000).unwrap().outcome, Outcome::Success);
        let ev = ex.poll(30_000).unwrap();
        assert_eq!((ev.result.rc, ev.outcome), (OcfExit::Ok, Outcome::Failed(Severity::Soft)));
        assert!(ex.cancel_recurring("st_monitor_10000"));
        assert!(!ex.cancel_recurring("st_monitor_10000"));
        assert_eq!(ex.poll(40_000), None);
        assert_eq!(
            ex.runner().history.len(),
            7,
            "probe, promote, monitors at 0/10/20 s, demote, 30 s"
        );
    }
}
