//! The policy engine: placement, roles and the transition graph, as Pacemaker decides them.
//!
//! [`schedule`] is a pure function of a [`SchedulerInput`]: it unpacks the status section
//! (where each resource instance runs, in which role, what failed), assigns every resource
//! instance a node and a next role with Pacemaker's scoring, and derives the actions that move
//! the cluster from the current to the wanted state, ordered into an acyclic graph. Maps are
//! `BTreeMap`s and every iteration follows configuration order, so the output is deterministic.

pub mod engine;
pub mod input;
pub mod score;

pub use engine::{schedule, schedule_with_scores, Action, Transition};
pub use input::{InputError, Role, SchedulerInput};
