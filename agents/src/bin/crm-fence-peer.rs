//! `crm-fence-peer`: DRBD handler for Pacemaker clusters (see `agents::drbd_fence`).
#![forbid(unsafe_code)]

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let env = |k: &str| std::env::var(k).ok();
    std::process::exit(agents::drbd_fence::fence_main(&args, &env, &mut std::io::stderr()));
}
