//! The agent executor: OCF, LSB, systemd and stonith classes, with the exact OCF environment.
//!
//! * [`types`]: [`OcfExit`], [`ExecStatus`], [`AgentRequest`], [`OpResult`].
//! * [`env`](mod@env): how a request becomes program + argv + environment + stdin ([`plan`]), pure.
//! * [`interpret`]: per-class exit-code mapping and Pacemaker's reading of results (probes,
//!   expected rc, degraded codes, severity).
//! * [`process`]: [`ProcessRunner`], the real [`AgentRunner`] (process groups, timeouts that
//!   kill the whole group, bounded output capture, a concurrency limit with a bounded queue).
//! * [`metadata`]: parsing agents' meta-data XML, a bounded cache.
//! * [`recurring`]: recurring monitors re-run at their interval from a [`recurring::Clock`].
//! * [`executor`]: [`Executor`], one-shot + recurring operations with interpreted events.
//! * [`sim`]: [`sim::ScriptedRunner`], an in-process deterministic runner for simulations.
//!
//! ```no_run
//! use cluster_core::exec::{AgentRequest, ExecConfig, OcfExit, ProcessRunner};
//!
//! let mut runner = ProcessRunner::new(ExecConfig::default());
//! let probe = AgentRequest::ocf("vip", "heartbeat", "IPaddr2", "monitor")
//!     .with_param("ip", "10.213.91.50")
//!     .with_netns("lab1");
//! let res = runner.run(probe.clone());
//! if res.rc == OcfExit::NotRunning {
//!     let start = runner.run(probe.for_action("start", 0).with_timeout_ms(20_000));
//!     assert_eq!(start.rc, OcfExit::Ok, "{:?}", start.exit_reason);
//! }
//! ```

pub mod env;
pub mod executor;
pub mod interpret;
pub mod metadata;
pub mod process;
pub mod recurring;
pub mod sim;
pub mod types;

pub use env::{plan, ExecConfig, Invocation};
pub use executor::{ExecEvent, Executor};
pub use interpret::{classify, expected_rc, Outcome, Severity};
pub use process::{AgentRunner, ProcessRunner};
pub use types::{
    AgentClass, AgentRequest, CloneInstance, ExecStatus, NotifyVars, OcfExit, OpId, OpResult,
};
