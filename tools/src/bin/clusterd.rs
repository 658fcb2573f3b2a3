//! clusterd: the per-node cluster daemon (controller + executor + local CIB socket) on
//! Corosync 3.
//!
//! `clusterd [-n|--name NODE] [-g|--group GROUP] [-f|--foreground]`
//! `clusterd --shutdown [-t|--timeout SECONDS]`
//!
//! * `--shutdown`: ask the running daemon (through its socket) to leave the cluster cleanly:
//!   its resources move away first; returns when it left (exit 0), 1 on refusal or timeout
//!   (default 1800 s).
//! * `--name`: this node's name (default: corosync's `nodelist.node.N.name` for the local
//!   node id). It must be the name the other nodes see for this node.
//! * `--group`: the CPG group (default `clusterd`).
//!
//! Environment: `CLUSTERD_STATE_DIR` (saved CIB, default `/var/lib/pacemaker/cib`),
//! `CLUSTERD_RUN_DIR` (socket, default `/run/clusterd`), `HA_RSCTMP` (agents' state
//! directory, default `/run/resource-agents`). Agents run with the directory of this binary in
//! front of their `PATH`, so our `drbdadm` & co. win over other packages' tools. Logs go to stderr as `clusterd[NODE]: ...`.
//! Exits 1 when corosync goes away.
#![forbid(unsafe_code)]

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use std::time::Duration;

use cluster_core::daemon::{proto, Daemon, Paths};
use cluster_core::exec::{ExecConfig, ProcessRunner};
use cluster_core::membership::corosync::CorosyncMembership;
use cluster_core::membership::Membership;

const USAGE: &str = "usage: clusterd [-n|--name NODE] [-g|--group GROUP] [-f|--foreground]\n       clusterd --shutdown [-t|--timeout SECONDS]";

fn main() {
    if let Err(e) = real_main() {
        eprintln!("clusterd: {e:#}");
        std::process::exit(1);
    }
}

fn real_main() -> Result<()> {
    let mut name: Option<String> = None;
    let mut group = "clusterd".to_string();
    let mut shutdown = false;
    let mut timeout_s: u64 = 1800;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let (key, inline) = match a.split_once('=') {
            Some((k, v)) if k.starts_with("--") => (k.to_string(), Some(v.to_string())),
            _ => (a.clone(), None),
        };
        let mut value = |what: &str| -> Result<String> {
            match inline.clone().or_else(|| args.next()) {
                Some(v) if !v.is_empty() => Ok(v),
                _ => bail!("option {what} needs a value\n{USAGE}"),
            }
        };
        match key.as_str() {
            "-n" | "--name" => name = Some(value("--name")?),
            "-g" | "--group" => group = value("--group")?,
            "-f" | "--foreground" => {}
            "--shutdown" => shutdown = true,
            "-t" | "--timeout" => {
                let v = value("--timeout")?;
                timeout_s = v.parse().with_context(|| format!("invalid --timeout {v:?}"))?;
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            _ => bail!("unknown option {a:?}\n{USAGE}"),
        }
    }
    if shutdown {
        let sock = proto::socket_path();
        proto::call_timeout(&sock, &proto::Request::Shutdown, Duration::from_secs(timeout_s))
            .with_context(|| "clean shutdown failed".to_string())?;
        return Ok(());
    }
    let mut mem = CorosyncMembership::connect(&group)
        .with_context(|| format!("cannot join CPG group {group:?} (is corosync running?)"))?;
    let local = mem.local_node_id();
    let name = name.unwrap_or_else(|| mem.node_name(local));
    // Our own tools (drbdadm, crm_attribute, ...) sit next to this binary: agents find them
    // first, ahead of any other package's binaries of the same name.
    let own_dir = std::env::current_exe().ok().and_then(|p| p.parent().map(PathBuf::from));
    let mut exec = ExecConfig {
        node_name: Some(name.clone()),
        node_id: Some(local.to_string()),
        sbin_dir: own_dir.clone(),
        path_prefix: own_dir.into_iter().collect(),
        ..ExecConfig::default()
    };
    if let Some(d) = std::env::var_os("HA_RSCTMP").filter(|v| !v.is_empty()) {
        exec.rsctmp = PathBuf::from(d);
    }
    let runner = ProcessRunner::new(exec);
    let mut d = Daemon::new(mem, &name, Paths::from_env(), runner)?;
    let r = d.run();
    d.shutdown();
    r.map_err(Into::into)
}
