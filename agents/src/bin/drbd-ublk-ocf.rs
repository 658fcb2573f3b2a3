//! `drbd-ublk-ocf`: the `ocf:drbd-ublk:drbd` resource agent (see `agents::drbd_ublk`).
#![forbid(unsafe_code)]

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(agents::drbd_ublk::main_with(&args));
}
