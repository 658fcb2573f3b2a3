//! Serves one file through the loop-over-FUSE front-end for `benches/fuse-vs-loop.sh`.
//!
//! `fuse_loop_serve BACKING RUN_DIR DEV_FILE [THREADS]`: starts the device for resource
//! `bench`, writes `/dev/loopN` to DEV_FILE, then serves until its standard input reaches
//! end of file, prints the counters and tears the device down.

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use drbd_ublk::fuse::{FileBackend, FileBackendOptions, FuseLoopDevice, FuseLoopOptions};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 || args.len() > 5 {
        eprintln!("usage: fuse_loop_serve BACKING RUN_DIR DEV_FILE [THREADS]");
        std::process::exit(2);
    }
    let threads = match args.get(4).map(|t| t.parse::<usize>()) {
        None => 8,
        Some(Ok(t)) => t,
        Some(Err(e)) => {
            eprintln!("fuse_loop_serve: bad THREADS {:?}: {e}", args[4]);
            std::process::exit(2);
        }
    };
    let backend = match FileBackend::open(args[1].as_ref(), FileBackendOptions::default()) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("fuse_loop_serve: open {}: {e}", args[1]);
            std::process::exit(1);
        }
    };
    let run_dir = PathBuf::from(&args[2]);
    let opts = FuseLoopOptions {
        dev_root: run_dir.join("dev-drbd"),
        run_dir,
        threads,
        ..FuseLoopOptions::default()
    };
    let dev = match FuseLoopDevice::start("bench", 0, Arc::new(backend), &opts) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("fuse_loop_serve: start: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = std::fs::write(&args[3], format!("{}\n", dev.device().display())) {
        eprintln!("fuse_loop_serve: write {}: {e}", args[3]);
        std::process::exit(1);
    }
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    eprintln!("fuse_loop_serve: {:?}", dev.stats());
    if let Err(e) = dev.stop(true) {
        eprintln!("fuse_loop_serve: stop: {e}");
        std::process::exit(1);
    }
}
