//! drbd-ublkd: the node daemon of drbd-ublk.
//!
//! `drbd-ublkd [--config FILE] [--hostname NAME] [--foreground]`
//!
//! Serves the control socket `$DRBD_UBLK_RUN_DIR/ctl.sock` (default
//! `/run/drbd-ublk/ctl.sock`, mode 0600) and runs the resources brought `up` by drbdadm.
//! The node name is `uname -n` unless `--hostname` (or `DRBD_UBLK_HOSTNAME`) says otherwise.
//! The daemon always stays in the foreground (systemd `Type=simple`); `--foreground` is
//! accepted for compatibility. `drbd-ublkd --shutdown` asks a running daemon to take every
//! resource down (forced) and exit.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};
use drbd_ublk::ctl;
use drbd_ublk::daemon::{Daemon, DaemonConfig};

const USAGE: &str =
    "USAGE: drbd-ublkd [--config FILE] [--hostname NAME] [--foreground] | --shutdown\n";

fn main() {
    if let Err(e) = run() {
        eprintln!("drbd-ublkd: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> anyhow::Result<()> {
    let mut config = PathBuf::from("/etc/drbd.conf");
    let mut hostname = None;
    let mut shutdown = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--config" | "-c" => config = args.next().context("--config needs a file")?.into(),
            "--hostname" => hostname = Some(args.next().context("--hostname needs a name")?),
            "--foreground" | "-f" => {}
            "--shutdown" => shutdown = true,
            "--help" | "-h" => {
                print!("{USAGE}");
                return Ok(());
            }
            _ => {
                eprint!("{USAGE}");
                bail!("unknown argument '{a}'");
            }
        }
    }
    if shutdown {
        ctl::call(&ctl::Request::Shutdown)?;
        return Ok(());
    }
    // The configuration must parse before anything starts.
    let cfg = DaemonConfig::from_env(config, hostname);
    drbd_ublk::config::Config::load(&cfg.config, &cfg.hostname)
        .with_context(|| format!("configuration {}", cfg.config.display()))?;
    let daemon = Arc::new(Daemon::new(cfg));
    let listener = daemon.bind().context("control socket")?;
    eprintln!("drbd-ublkd: listening on {}", ctl::socket_path().display());
    daemon.serve(listener)?;
    Ok(())
}
