//! drbd-overview: one line per running resource (8.4 style), from the drbd-ublkd daemon.
//!
//! `drbd-overview` prints `minor:res/vol cstate role/peer disk/peer [mount fs]`, with the
//! resync progress line under a syncing resource. `drbd-overview --proc` prints the 8.4
//! `/proc/drbd` text (which the daemon also keeps in `$DRBD_UBLK_RUN_DIR/proc-drbd`).
//! Exit 20 when the daemon is not running.
#![forbid(unsafe_code)]

use drbd_ublk::ctl::{self, render, Request, Response};

fn mounts() -> Vec<(String, String, String)> {
    std::fs::read_to_string("/proc/self/mounts")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut f = l.split(' ');
            Some((f.next()?.to_string(), f.next()?.to_string(), f.next()?.to_string()))
        })
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let proc = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        [] => false,
        ["--proc"] => true,
        _ => {
            eprintln!("USAGE: drbd-overview [--proc]");
            std::process::exit(3);
        }
    };
    let list = match ctl::call(&Request::Status(None)) {
        Ok(Response::Status(l)) => l,
        Ok(Response::Text(_)) => Vec::new(),
        Err(e) => {
            eprintln!("drbd-overview: {e}");
            std::process::exit(e.exit_code());
        }
    };
    if proc {
        print!("{}", render::proc_drbd(&list));
        return;
    }
    let mounts = mounts();
    for st in &list {
        let usage = mounts
            .iter()
            .find(|(dev, _, _)| !st.device.is_empty() && *dev == st.device)
            .map(|(_, mp, fs)| format!("{mp} {fs}"));
        print!("{}", render::overview_line(st, usage.as_deref()));
    }
}
