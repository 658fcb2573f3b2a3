//! The replication state machine (sans-IO): roles, connection and disk states, protocols A/B/C,
//! resync and split-brain handling.
