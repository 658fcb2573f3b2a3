//! The agent executor: OCF, LSB, systemd and stonith classes, with the exact OCF environment.
