//! An in-process [`AgentRunner`] for simulations and controller tests: no processes, no clock.
//!
//! [`ScriptedRunner`] answers each request with a function of the request; results come back
//! from `poll_result` in submission order, one per call, so a single-threaded simulation stays
//! deterministic. Every request is recorded for assertions.

use std::collections::VecDeque;

use super::process::AgentRunner;
use super::types::{AgentRequest, ExecStatus, OcfExit, OpId, OpResult};

/// The function deciding each result.
pub type Script = Box<dyn FnMut(&AgentRequest) -> OpResult + Send>;

/// A scripted, deterministic runner.
pub struct ScriptedRunner {
    script: Script,
    next_id: u64,
    pending: VecDeque<(OpId, OpResult)>,
    /// Every request submitted, in order.
    pub history: Vec<(OpId, AgentRequest)>,
}

/// A finished result with `rc` (status done, no output).
pub fn done(rc: OcfExit) -> OpResult {
    OpResult {
        rc,
        status: ExecStatus::Done,
        exit_reason: None,
        raw_exit: Some(rc.code()),
        stdout: String::new(),
        stderr: String::new(),
        duration_ms: 0,
    }
}

impl ScriptedRunner {
    /// A runner answering with `script`.
    pub fn new(script: Script) -> ScriptedRunner {
        ScriptedRunner { script, next_id: 1, pending: VecDeque::new(), history: Vec::new() }
    }

    /// A runner under which every action succeeds and probes find nothing running (7).
    pub fn all_ok() -> ScriptedRunner {
        ScriptedRunner::new(Box::new(|r: &AgentRequest| {
            done(if r.is_probe() { OcfExit::NotRunning } else { OcfExit::Ok })
        }))
    }

    /// Number of results not yet polled.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }
}

impl AgentRunner for ScriptedRunner {
    fn start(&mut self, r: AgentRequest) -> OpId {
        let id = OpId(self.next_id);
        self.next_id += 1;
        let res = (self.script)(&r);
        self.history.push((id, r));
        self.pending.push_back((id, res));
        id
    }

    fn poll_result(&mut self) -> Option<(OpId, OpResult)> {
        self.pending.pop_front()
    }

    fn cancel(&mut self, id: OpId) -> bool {
        let Some(entry) = self.pending.iter_mut().find(|(i, _)| *i == id) else { return false };
        entry.1 = OpResult::synthetic(OcfExit::ErrGeneric, ExecStatus::Cancelled, "cancelled");
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::recurring::RecurringOps;

    #[test]
    fn scripted_results_in_order_and_recurring_reports_changes() {
        let mut healthy = true;
        let mut r = ScriptedRunner::new(Box::new(move |req: &AgentRequest| {
            if req.action == "stop" {
                healthy = false;
            }
            done(if healthy { OcfExit::Ok } else { OcfExit::NotRunning })
        }));
        let mon = AgentRequest::ocf("d", "heartbeat", "Dummy", "monitor").with_interval_ms(1_000);
        let mut rec = RecurringOps::new(4);
        rec.add(mon.clone(), 0).unwrap();
        let mut changes = Vec::new();
        for now in (0..5_000).step_by(500) {
            if now == 2_000 {
                let id = r.start(mon.for_action("stop", 0));
                assert_eq!(r.poll_result().map(|(i, _)| i), Some(id));
            }
            rec.tick(now, &mut r);
            while let Some((id, res)) = r.poll_result() {
                let up = rec.on_result(id, &res, now).unwrap();
                if up.changed {
                    changes.push((now, res.rc));
                }
            }
        }
        assert_eq!(changes, vec![(0, OcfExit::Ok), (2_000, OcfExit::NotRunning)]);
        assert_eq!(r.history.iter().filter(|(_, q)| q.action == "monitor").count(), 5);
        assert_eq!(rec.next_due_in_ms(4_500), Some(500));
    }
}
