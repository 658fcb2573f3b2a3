//! The controller: a per-node state machine (sans-IO) that elects the DC, keeps the CIB in step across nodes, runs transitions and records results.
