//! Runs simulator seeds: `vopr --seed N` replays one, `vopr --seeds N` runs many.
fn main() {}
