//! The policy engine: placement, roles and the transition graph, as Pacemaker decides them.
