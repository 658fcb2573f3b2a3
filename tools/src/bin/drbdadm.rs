//! drbdadm: administers drbd-ublk resources with DRBD's command line.
//!
//! `drbdadm [-d] [-c FILE] [-v] COMMAND [OPTIONS] {all | RESOURCE[/VOLUME]...}`
//!
//! The configuration is read and validated for every command (exit 10 on errors, as
//! drbdadm's E_CONFIG_INVALID). `dump` and the `sh-*` queries are answered from the
//! configuration alone; `create-md` writes the metadata itself. Commands that act on a
//! running resource are sent to the drbd-ublkd daemon over its control socket
//! (`$DRBD_UBLK_RUN_DIR/ctl.sock`, default `/run/drbd-ublk/ctl.sock`, see
//! `drbd_ublk::ctl`); without it they fail with exit 20 (E_EXEC_ERROR, what drbdadm returns
//! when drbdsetup cannot reach the kernel module). A refused state change exits 11 with
//! DRBD's message (`State change failed: (-2) Need access to UpToDate data`).
//!
//! Queries: `status` (9.x layout, `done:` during resync; `--verbose` adds counters),
//! `role` / `cstate` / `dstate` (8.4 one-liners, `Unconfigured` when down), `get-gi` /
//! `show-gi`, `events2` (`--now`: the `exists` dump; without it the dump, then `create` /
//! `change` / `destroy` lines as the state changes, polled every 200 ms; `--timestamps`,
//! `--statistics` as drbdsetup). The 8.4 `/proc/drbd` text is
//! `drbd-overview --proc` (the daemon also keeps it in `$DRBD_UBLK_RUN_DIR/proc-drbd`).
//! `wait-connect` polls until connected, at most `wfc-timeout` seconds. `-d` prints the steps a command expands to
//! (in drbdsetup/drbdmeta notation) without running anything.
#![forbid(unsafe_code)]

use std::io::Write;
use std::path::PathBuf;

use drbd_ublk::config::{local_hostname, Config, MetaDisk, Resource};

/// drbdadm's exit codes.
const E_USAGE: i32 = 3;
const E_CONFIG_INVALID: i32 = 10;
const E_EXEC_ERROR: i32 = 20;

const DEFAULT_CONFIG: &str = "/etc/drbd.conf";

/// Commands answered from the configuration alone.
const QUERY_COMMANDS: &[&str] = &[
    "dump",
    "sh-resources",
    "sh-resource",
    "sh-dev",
    "sh-minor",
    "sh-ll-dev",
    "sh-md-dev",
    "sh-md-idx",
    "sh-ip",
    "sh-nop",
];

/// Commands carried out by the daemon.
const DAEMON_COMMANDS: &[&str] = &[
    "up",
    "down",
    "attach",
    "detach",
    "connect",
    "disconnect",
    "primary",
    "secondary",
    "create-md",
    "wipe-md",
    "invalidate",
    "invalidate-remote",
    "verify",
    "pause-sync",
    "resume-sync",
    "outdate",
    "adjust",
    "resize",
    "new-current-uuid",
    "wait-connect",
    "apply-al",
    "dump-md",
    "show-gi",
    "get-gi",
    "role",
    "cstate",
    "dstate",
    "status",
    "suspend-io",
    "resume-io",
    "net-options",
    "disk-options",
    "events2",
];

/// Per-command options accepted (flags, and options taking a value).
fn command_options(cmd: &str) -> (&'static [&'static str], &'static [&'static str]) {
    match cmd {
        "primary" => (&["--force", "--overwrite-data-of-peer"], &[]),
        "connect" | "adjust" => (&["--discard-my-data", "--tentative", "--dry-run"], &[]),
        "create-md" => (&["--force"], &["--max-peers", "--peer-max-bio-size"]),
        "verify" => (&[], &["--start", "--stop"]),
        "resize" => (&["--assume-peer-has-space", "--assume-clean"], &["--size"]),
        "new-current-uuid" => (&["--clear-bitmap"], &[]),
        "down" | "detach" => (&["--force"], &[]),
        "status" => (&["--verbose", "--statistics"], &["--color"]),
        "events2" => (&["--now", "--timestamps", "--statistics", "--full"], &["--color"]),
        _ => (&[], &[]),
    }
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Args {
    config: Option<PathBuf>,
    dry_run: bool,
    verbose: bool,
    command: String,
    options: Vec<String>,
    resources: Vec<String>,
}

fn usage() -> String {
    format!(
        "USAGE: drbdadm [-d] [-c FILE] [-v] COMMAND [OPTIONS] {{all|RESOURCE...}}\n\n\
         GENERAL OPTIONS:\n  -d, --dry-run\n  -c, --config-file FILE\n  -v, --verbose\n\n\
         COMMANDS:\n  {}\n  {}\n",
        QUERY_COMMANDS.join(" "),
        DAEMON_COMMANDS.join(" ")
    )
}

/// Parse the command line; `Err` carries a message for a usage error.
fn parse_args(argv: &[String]) -> Result<Args, String> {
    let mut a = Args::default();
    let mut it = argv.iter().peekable();
    // General options come before the command.
    while let Some(arg) = it.peek() {
        let arg = arg.as_str();
        if !arg.starts_with('-') || arg == "-" {
            break;
        }
        it.next();
        match arg {
            "-d" | "--dry-run" => a.dry_run = true,
            "-v" | "--verbose" => a.verbose = true,
            "-c" | "--config-file" => {
                let f = it.next().ok_or("option '-c' needs a file name")?;
                a.config = Some(PathBuf::from(f));
            }
            _ if arg.starts_with("--config-file=") => {
                a.config = Some(PathBuf::from(&arg["--config-file=".len()..]));
            }
            _ if arg.starts_with("-c") && arg.len() > 2 => {
                a.config = Some(PathBuf::from(&arg[2..]))
            }
            "--" => break,
            _ => return Err(format!("unknown option '{arg}'")),
        }
    }
    a.command = it.next().ok_or("no command given")?.clone();
    let known = QUERY_COMMANDS.contains(&a.command.as_str())
        || DAEMON_COMMANDS.contains(&a.command.as_str());
    if !known {
        return Err(format!("Unknown command '{}'", a.command));
    }
    let (flags, valued) = command_options(&a.command);
    while let Some(arg) = it.next() {
        let general_dry_run = arg == "-d" || (arg == "--dry-run" && !flags.contains(&"--dry-run"));
        if general_dry_run {
            a.dry_run = true;
        } else if arg == "--" {
            a.options.extend(it.by_ref().cloned()); // backend options, passed on verbatim
        } else if arg.starts_with("--") {
            let name = arg.split('=').next().unwrap_or(arg);
            if flags.contains(&name) {
                a.options.push(arg.clone());
            } else if valued.contains(&name) {
                if arg.contains('=') {
                    a.options.push(arg.clone());
                } else {
                    let v = it.next().ok_or_else(|| format!("option '{name}' needs a value"))?;
                    a.options.push(format!("{name}={v}"));
                }
            } else {
                return Err(format!("unknown option '{arg}' for command '{}'", a.command));
            }
        } else if arg.starts_with('-') {
            return Err(format!("unknown option '{arg}' for command '{}'", a.command));
        } else {
            a.resources.push(arg.clone());
        }
    }
    Ok(a)
}

/// Resolve the resource arguments (`all`, names, `name/volume`).
fn select<'c>(cfg: &'c Config, names: &[String]) -> Result<Vec<&'c Resource>, String> {
    if names.is_empty() || names.iter().any(|n| n == "all") {
        return Ok(cfg.resources.iter().collect());
    }
    names
        .iter()
        .map(|n| {
            let name = n.split('/').next().unwrap_or(n);
            cfg.resource(name)
                .ok_or_else(|| format!("'{name}' not defined in your config (for this host)."))
        })
        .collect()
}

fn run(argv: &[String], out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let a = match parse_args(argv) {
        Ok(a) => a,
        Err(msg) => {
            let _ = writeln!(err, "drbdadm: {msg}\n\n{}", usage());
            return E_USAGE;
        }
    };
    let path = a.config.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG));
    let cfg = match Config::load(&path, &local_hostname()) {
        Ok(c) => c,
        Err(e) => {
            let _ = writeln!(err, "{e}");
            return E_CONFIG_INVALID;
        }
    };
    if a.command != "dump"
        && a.command != "sh-resources"
        && a.command != "sh-nop"
        && a.resources.is_empty()
    {
        let _ = writeln!(err, "drbdadm: '{}' needs a resource name or 'all'", a.command);
        return E_USAGE;
    }
    let res = match select(&cfg, &a.resources) {
        Ok(r) => r,
        Err(msg) => {
            let _ = writeln!(err, "{msg}");
            return E_USAGE;
        }
    };
    if QUERY_COMMANDS.contains(&a.command.as_str()) {
        let text = query(&cfg, &a, &res);
        let _ = out.write_all(text.as_bytes());
        return 0;
    }
    if a.dry_run {
        for r in &res {
            for line in expand(&a.command, &a.options, &cfg, r) {
                let _ = writeln!(out, "{line}");
            }
        }
        return 0;
    }
    daemon_command(&a, &res, out, err)
}

/// Carries out a daemon command for each selected resource; the exit code is the first
/// failure's.
fn daemon_command(a: &Args, res: &[&Resource], out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    use drbd_ublk::ctl::{self, render, Request, Response};
    let has = |o: &str| a.options.iter().any(|x| x == o);
    let mut code = 0;
    if a.command == "create-md" {
        for r in res {
            if let Err(msg) = create_md(r, has("--force"), out) {
                let _ = writeln!(err, "{}: {msg}", r.name);
                code = E_EXEC_ERROR;
            }
        }
        return code;
    }
    if a.command == "events2" && !has("--now") {
        return events2_stream(a, res, out, err);
    }
    let sock = ctl::socket_path();
    let mut first = true;
    for r in res {
        let name = r.name.clone();
        let req = match a.command.as_str() {
            "up" => Request::Up(name),
            "down" => Request::Down { res: name, force: has("--force") },
            "attach" => Request::Attach(name),
            "detach" => Request::Detach { res: name, force: has("--force") },
            "connect" => Request::Connect { res: name, discard_my_data: has("--discard-my-data") },
            "disconnect" => Request::Disconnect(name),
            "primary" => Request::Primary {
                res: name,
                force: has("--force") || has("--overwrite-data-of-peer"),
            },
            "secondary" => Request::Secondary(name),
            "invalidate" => Request::Invalidate(name),
            "invalidate-remote" => Request::InvalidateRemote(name),
            "verify" => {
                let start = a
                    .options
                    .iter()
                    .find_map(|o| o.strip_prefix("--start="))
                    .map(|v| v.parse::<u64>())
                    .unwrap_or(Ok(0));
                match start {
                    Ok(start) => Request::Verify { res: name, start },
                    Err(_) => {
                        let _ = writeln!(err, "drbdadm: --start needs a sector number");
                        return E_USAGE;
                    }
                }
            }
            "pause-sync" => Request::PauseSync(name),
            "resume-sync" => Request::ResumeSync(name),
            "outdate" => Request::Outdate(name),
            "new-current-uuid" => {
                Request::NewCurrentUuid { res: name, clear_bitmap: has("--clear-bitmap") }
            }
            "adjust" => Request::Adjust(name),
            "resume-io" => Request::ResumeIo(name),
            "wait-connect" => {
                let code = wait_connect(r, err);
                if code != 0 {
                    return code;
                }
                continue;
            }
            "status" | "role" | "cstate" | "dstate" | "events2" | "get-gi" | "show-gi" => {
                Request::Status(Some(name))
            }
            other => {
                let _ = writeln!(err, "drbdadm: '{other}' is not implemented by drbd-ublkd yet");
                return E_EXEC_ERROR;
            }
        };
        match ctl::call_at(&sock, &req) {
            Ok(Response::Text(t)) => {
                let _ = out.write_all(t.as_bytes());
            }
            Ok(Response::Status(list)) => {
                for st in &list {
                    let text = match a.command.as_str() {
                        "role" => format!("{}\n", render::role(st)),
                        "cstate" => format!("{}\n", render::cstate(st)),
                        "dstate" => format!("{}\n", render::dstate(st)),
                        "events2" => {
                            let mut t = render::events2_exists(std::slice::from_ref(st));
                            // One terminating line after the last resource.
                            if !std::ptr::eq(*r, *res.last().expect("non-empty")) {
                                t.truncate(t.len() - "exists -\n".len());
                            }
                            t
                        }
                        "get-gi" => render::get_gi(st),
                        "show-gi" => render::show_gi(st),
                        _ => {
                            let verbose = a.verbose || has("--verbose") || has("--statistics");
                            let sep = if first { "" } else { "\n" };
                            format!("{sep}{}", render::status9(st, verbose))
                        }
                    };
                    first = false;
                    let _ = out.write_all(text.as_bytes());
                }
            }
            Err(ctl::CtlError::Unreachable { path, reason }) => {
                let _ = writeln!(
                    err,
                    "drbdadm: cannot {} {}: drbd-ublkd is not running (no control socket at {}: {reason})",
                    a.command,
                    r.name,
                    path.display()
                );
                return E_EXEC_ERROR;
            }
            Err(e)
                if matches!(a.command.as_str(), "role" | "cstate" | "dstate")
                    && e.to_string().contains("not up") =>
            {
                let _ = writeln!(out, "Unconfigured");
            }
            Err(e) => {
                let _ = writeln!(err, "{}: {e}", r.name);
                let _ = writeln!(
                    err,
                    "Command 'drbdsetup {} {}' terminated with exit code {}",
                    a.command,
                    r.name,
                    e.exit_code()
                );
                if code == 0 {
                    code = e.exit_code();
                }
            }
        }
    }
    code
}

/// `wait-connect`: waits until the resource is connected, at most `wfc-timeout` seconds
/// (0: forever). Exit 5 on timeout, as drbdsetup's wait-connect.
#[allow(clippy::disallowed_methods)] // waits on the real clock
fn wait_connect(r: &Resource, err: &mut dyn Write) -> i32 {
    use drbd_ublk::ctl::{self, Request, Response};
    let limit = r.options.startup.wfc_timeout_s;
    let t0 = std::time::Instant::now();
    loop {
        match ctl::call(&Request::Status(Some(r.name.clone()))) {
            Ok(Response::Status(l)) if l.iter().all(|s| s.cstate.is_connected()) => return 0,
            Ok(_) => {}
            Err(e) => {
                let _ = writeln!(err, "{}: {e}", r.name);
                return e.exit_code();
            }
        }
        if limit > 0 && t0.elapsed().as_secs() >= u64::from(limit) {
            let _ = writeln!(err, "{}: wait-connect: timeout after {limit} s", r.name);
            return 5;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Poll period of `events2`.
const EVENTS_POLL: std::time::Duration = std::time::Duration::from_millis(200);

/// `events2` without `--now`: the `exists` dump, then a `create` / `change` / `destroy` line
/// for every change the daemon reports, until killed or stdout closes. A resource that is
/// taken down has its objects destroyed; one brought up is created. The daemon is polled
/// every [`EVENTS_POLL`]; while it is unreachable its resources count as gone.
#[allow(clippy::disallowed_methods)] // wall-clock stamps for --timestamps
fn events2_stream(a: &Args, res: &[&Resource], out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    use drbd_ublk::ctl::{self, render, Request, Response};
    let has = |o: &str| a.options.iter().any(|x| x == o);
    let statistics = has("--statistics") || has("--full");
    let timestamps = has("--timestamps");
    let names: Vec<&str> = res.iter().map(|r| r.name.as_str()).collect();
    let snapshot = |first: bool| -> Result<Vec<render::EventObject>, ctl::CtlError> {
        let list = match ctl::call(&Request::Status(None)) {
            Ok(Response::Status(list)) => list,
            Ok(_) => Vec::new(),
            Err(e) if first => return Err(e),
            Err(_) => Vec::new(),
        };
        let mut objs = Vec::new();
        for name in &names {
            if let Some(st) = list.iter().find(|st| st.name == *name) {
                objs.extend(render::events2_objects(st, statistics));
            }
        }
        Ok(objs)
    };
    let emit = |out: &mut dyn Write, text: &str| -> bool {
        let mut s = String::new();
        for line in text.lines() {
            if timestamps {
                s.push_str(&iso_timestamp(std::time::SystemTime::now()));
                s.push(' ');
            }
            s.push_str(line);
            s.push('\n');
        }
        out.write_all(s.as_bytes()).and_then(|()| out.flush()).is_ok()
    };
    let mut prev = match snapshot(true) {
        Ok(o) => o,
        Err(e) => {
            let _ = writeln!(err, "{e}");
            return e.exit_code();
        }
    };
    let dump = render::events2_dump(&prev);
    if !emit(out, &dump) {
        return 0;
    }
    loop {
        std::thread::sleep(EVENTS_POLL);
        let Ok(cur) = snapshot(false) else { continue };
        let text = render::events2_changes(&prev, &cur);
        if !text.is_empty() && !emit(out, &text) {
            return 0; // the reader went away
        }
        prev = cur;
    }
}

/// `2026-11-24T22:50:01.123456+00:00`, the stamp `events2 --timestamps` puts before a line.
fn iso_timestamp(t: std::time::SystemTime) -> String {
    let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = cluster_core::cib::ops::civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}+00:00",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        d.subsec_micros()
    )
}

/// `create-md` done locally with the metadata library (the daemon is not involved).
fn create_md(r: &Resource, force: bool, out: &mut dyn Write) -> Result<(), String> {
    use drbd_ublk::meta;
    for v in &r.local().volumes {
        let disk =
            v.disk.as_deref().filter(|d| *d != "none").ok_or("no backing disk (diskless)")?;
        let md = match &v.meta_disk {
            MetaDisk::Internal => meta::MetaDisk::Internal,
            MetaDisk::External { path, index: None } => meta::MetaDisk::External(path.into()),
            MetaDisk::External { path, index: Some(i) } => meta::MetaDisk::Indexed(path.into(), *i),
        };
        let mut id = [0u8; 8];
        drbd_ublk::net::auth::random_bytes(&mut id).map_err(|e| e.to_string())?;
        let opts = meta::CreateOptions {
            force,
            device_uuid: u64::from_le_bytes(id),
            ..Default::default()
        };
        let _ = writeln!(out, "Writing meta data...");
        meta::create_md(std::path::Path::new(disk), &md, &opts).map_err(|e| e.to_string())?;
        let _ = writeln!(out, "New drbd meta data block successfully created.");
    }
    let _ = writeln!(out, "success");
    Ok(())
}

fn query(cfg: &Config, a: &Args, res: &[&Resource]) -> String {
    let mut s = String::new();
    let each_volume =
        |s: &mut String, f: &dyn Fn(&Resource, &drbd_ublk::config::Volume) -> String| {
            for r in res {
                for v in &r.local().volumes {
                    s.push_str(&f(r, v));
                    s.push('\n');
                }
            }
        };
    match a.command.as_str() {
        "dump" if a.resources.is_empty() || a.resources.iter().any(|r| r == "all") => {
            s = cfg.dump();
        }
        "dump" => {
            s = format!("# {}\n", cfg.path.display());
            for r in res {
                s.push_str(&r.dump());
            }
        }
        "sh-resources" => {
            let names: Vec<&str> = res.iter().map(|r| r.name.as_str()).collect();
            s = format!("{}\n", names.join(" "));
        }
        "sh-resource" => res.iter().for_each(|r| s.push_str(&format!("{}\n", r.name))),
        "sh-dev" => each_volume(&mut s, &|_, v| v.device.clone()),
        "sh-minor" => each_volume(&mut s, &|_, v| v.minor.to_string()),
        "sh-ll-dev" => each_volume(&mut s, &|_, v| v.disk.clone().unwrap_or("none".into())),
        "sh-md-dev" => each_volume(&mut s, &|_, v| match &v.meta_disk {
            MetaDisk::Internal => v.disk.clone().unwrap_or("none".into()),
            MetaDisk::External { path, .. } => path.clone(),
        }),
        "sh-md-idx" => each_volume(&mut s, &|_, v| match &v.meta_disk {
            MetaDisk::Internal => "internal".into(),
            MetaDisk::External { index: Some(i), .. } => i.to_string(),
            MetaDisk::External { index: None, .. } => "flexible".into(),
        }),
        "sh-ip" => {
            res.iter().for_each(|r| s.push_str(&format!("{}\n", r.local().address.addr.ip())))
        }
        _ => {} // sh-nop: the configuration parsed
    }
    s
}

fn addr(h: &drbd_ublk::config::Host) -> String {
    let a = h.address.addr;
    match h.address.family {
        drbd_ublk::config::AddressFamily::Ipv4 => format!("ipv4:{a}"),
        drbd_ublk::config::AddressFamily::Ipv6 => format!("ipv6:[{}]:{}", a.ip(), a.port()),
    }
}

fn opts(list: &[&drbd_ublk::config::Setting]) -> String {
    list.iter()
        .map(|s| match &s.value {
            Some(v) => format!(" --{}={v}", s.key),
            None => format!(" --{}", s.key),
        })
        .collect()
}

/// The steps `command` expands to, in drbdsetup/drbdmeta notation (for `-d`).
fn expand(command: &str, extra: &[String], cfg: &Config, r: &Resource) -> Vec<String> {
    let me = r.local();
    let peer = r.peers().next().unwrap_or(me);
    let extra: String = extra.iter().map(|o| format!(" {o}")).collect();
    let net: Vec<_> = cfg.common.net.iter().chain(&r.settings.net).collect();
    let disk: Vec<_> = cfg.common.disk.iter().chain(&r.settings.disk).collect();
    let connect =
        format!("drbdsetup connect {} {} {}{}{extra}", r.name, addr(me), addr(peer), opts(&net));
    let mut lines = Vec::new();
    let md = |v: &drbd_ublk::config::Volume| -> (String, String) {
        let ll = v.disk.clone().unwrap_or("none".into());
        match &v.meta_disk {
            MetaDisk::Internal => (ll.clone(), "internal".into()),
            MetaDisk::External { path, index: Some(i) } => (path.clone(), i.to_string()),
            MetaDisk::External { path, index: None } => (path.clone(), "flexible".into()),
        }
    };
    let per_volume = |lines: &mut Vec<String>,
                      f: &dyn Fn(&drbd_ublk::config::Volume) -> Vec<String>| {
        for v in &me.volumes {
            lines.extend(f(v));
        }
    };
    let attach = |v: &drbd_ublk::config::Volume| {
        let (mdev, idx) = md(v);
        let ll = v.disk.clone().unwrap_or("none".into());
        vec![
            format!("drbdmeta {} v08 {mdev} {idx} apply-al", v.minor),
            format!("drbdsetup attach {} {ll} {mdev} {idx}{}", v.minor, opts(&disk)),
        ]
    };
    match command {
        "up" => {
            lines.push(format!("drbdsetup new-resource {}", r.name));
            per_volume(&mut lines, &|v| {
                vec![format!("drbdsetup new-minor {} {} {}", r.name, v.minor, v.number)]
            });
            per_volume(&mut lines, &|v| attach(v));
            lines.push(connect);
        }
        "attach" => per_volume(&mut lines, &|v| attach(v)),
        "connect" => lines.push(connect),
        "disconnect" => lines.push(format!("drbdsetup disconnect {} {}", addr(me), addr(peer))),
        "down" => lines.push(format!("drbdsetup down {}", r.name)),
        "create-md" | "apply-al" | "dump-md" | "wipe-md" | "show-gi" | "get-gi" => {
            per_volume(&mut lines, &|v| {
                let (mdev, idx) = md(v);
                vec![format!("drbdmeta {} v08 {mdev} {idx} {command}{extra}", v.minor)]
            })
        }
        "primary" | "secondary" | "detach" | "invalidate" | "invalidate-remote" | "verify"
        | "pause-sync" | "resume-sync" | "outdate" | "resize" | "new-current-uuid"
        | "suspend-io" | "resume-io" | "role" | "cstate" | "dstate" => {
            per_volume(&mut lines, &|v| vec![format!("drbdsetup {command} {}{extra}", v.minor)])
        }
        _ => lines.push(format!("drbdsetup {command} {}{extra}", r.name)),
    }
    lines
}

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.iter().any(|a| a == "--help") || argv.is_empty() {
        print!("{}", usage());
        std::process::exit(if argv.is_empty() { E_USAGE } else { 0 });
    }
    let code = run(&argv, &mut std::io::stdout(), &mut std::io::stderr());
    std::process::exit(code);
}

#[cfg(test)]
mod tests {
    #[test]
    fn timestamps_are_iso_8601_utc() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_micros(1_795_993_801_123_456);
        assert_eq!(super::iso_timestamp(t), "2026-11-29T23:10:01.123456+00:00");
        assert_eq!(super::iso_timestamp(std::time::UNIX_EPOCH), "1970-01-01T00:00:00.000000+00:00");
        let leap = std::time::UNIX_EPOCH + std::time::Duration::from_secs(951_782_400);
        assert_eq!(super::iso_timestamp(leap), "2000-02-29T00:00:00.000000+00:00");
    }

    use super::*;

    /// A temp dir with the walkthrough's configuration, removed on drop.
    struct Etc(PathBuf);

    impl Etc {
        fn new(tag: &str) -> Etc {
            let dir =
                std::env::temp_dir().join(format!("drbdnet-adm-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(dir.join("drbd.d")).unwrap();
            std::fs::write(
                dir.join("drbd.conf"),
                "include \"drbd.d/global_common.conf\";\ninclude \"drbd.d/*.res\";\n",
            )
            .unwrap();
            std::fs::write(
                dir.join("drbd.d/global_common.conf"),
                "global { usage-count no; }\ncommon { protocol C; net { after-sb-0pri discard-zero-changes; after-sb-1pri discard-secondary; after-sb-2pri disconnect; } }\n",
            )
            .unwrap();
            std::fs::write(
                dir.join("drbd.d/r0.res"),
                "resource r0 {\n on node1 { device /dev/drbd1; disk /dev/sdb1; address 192.168.1.101:7789; meta-disk internal; }\n on node2 { device /dev/drbd1; disk /dev/sdb1; address 192.168.1.102:7789; meta-disk internal; }\n}\n",
            )
            .unwrap();
            Etc(dir)
        }

        fn conf(&self) -> String {
            self.0.join("drbd.conf").display().to_string()
        }
    }

    impl Drop for Etc {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn drbdadm(args: &[&str]) -> (i32, String, String) {
        // Tests in this binary all use the node name node1.
        std::env::set_var(drbd_ublk::config::HOSTNAME_ENV, "node1");
        std::env::set_var("DRBD_UBLK_RUN_DIR", "/nonexistent-drbd-ublk-adm-test");
        let argv: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = run(&argv, &mut out, &mut err);
        (code, String::from_utf8(out).unwrap(), String::from_utf8(err).unwrap())
    }

    #[test]
    fn parses_general_and_command_options() {
        let a = parse_args(&[
            "-d".into(),
            "-c".into(),
            "/x".into(),
            "primary".into(),
            "--force".into(),
            "r0".into(),
        ])
        .unwrap();
        assert!(a.dry_run);
        assert_eq!(a.config, Some(PathBuf::from("/x")));
        assert_eq!(
            (a.command.as_str(), a.options.clone(), a.resources.clone()),
            ("primary", vec!["--force".to_string()], vec!["r0".to_string()])
        );
        let a = parse_args(&[
            "--config-file=/y".into(),
            "verify".into(),
            "--start".into(),
            "8".into(),
            "all".into(),
        ])
        .unwrap();
        assert_eq!(a.options, vec!["--start=8"]);
        assert_eq!(a.config, Some(PathBuf::from("/y")));
        assert_eq!(parse_args(&["frob".into()]).unwrap_err(), "Unknown command 'frob'");
        assert!(parse_args(&["-x".into(), "up".into()])
            .unwrap_err()
            .contains("unknown option '-x'"));
        assert!(parse_args(&["up".into(), "--force".into()])
            .unwrap_err()
            .contains("unknown option '--force' for command 'up'"));
        assert!(parse_args(&["-c".into()]).unwrap_err().contains("needs a file"));
    }

    #[test]
    fn dump_prints_normalised_config() {
        let etc = Etc::new("dump");
        let (code, out, _) = drbdadm(&["-c", &etc.conf(), "dump"]);
        assert_eq!(code, 0);
        assert!(
            out.starts_with(&format!("# {}\nglobal {{\n    usage-count      no;", etc.conf())),
            "{out}"
        );
        assert!(out.contains("        address          ipv4 192.168.1.102:7789;"), "{out}");
        let (code, one, _) = drbdadm(&["-c", &etc.conf(), "dump", "r0"]);
        assert_eq!(code, 0);
        assert!(one.contains("# resource r0 on node1: not ignored, not stacked"), "{one}");
        assert!(!one.contains("global {"));
    }

    #[test]
    fn sh_queries() {
        let etc = Etc::new("sh");
        let c = etc.conf();
        assert_eq!(drbdadm(&["-c", &c, "sh-resources"]).1, "r0\n");
        assert_eq!(drbdadm(&["-c", &c, "sh-dev", "r0"]).1, "/dev/drbd1\n");
        assert_eq!(drbdadm(&["-c", &c, "sh-minor", "r0"]).1, "1\n");
        assert_eq!(drbdadm(&["-c", &c, "sh-ll-dev", "r0"]).1, "/dev/sdb1\n");
        assert_eq!(drbdadm(&["-c", &c, "sh-md-dev", "r0"]).1, "/dev/sdb1\n");
        assert_eq!(drbdadm(&["-c", &c, "sh-md-idx", "all"]).1, "internal\n");
        assert_eq!(drbdadm(&["-c", &c, "sh-ip", "r0"]).1, "192.168.1.101\n");
    }

    #[test]
    fn daemon_commands_fail_clearly_without_daemon() {
        let etc = Etc::new("daemon");
        let (code, out, err) = drbdadm(&["-c", &etc.conf(), "up", "r0"]);
        assert_eq!(code, E_EXEC_ERROR);
        assert!(out.is_empty());
        assert!(err.contains("cannot up r0: drbd-ublkd is not running"), "{err}");
        let (code, _, err) = drbdadm(&["-c", &etc.conf(), "primary", "r9"]);
        assert_eq!(code, E_USAGE);
        assert_eq!(err, "'r9' not defined in your config (for this host).\n");
        let (code, _, err) = drbdadm(&["-c", &etc.conf(), "primary"]);
        assert_eq!(code, E_USAGE);
        assert!(err.contains("needs a resource name"), "{err}");
    }

    #[test]
    fn dry_run_expands_up() {
        let etc = Etc::new("dry");
        let (code, out, _) = drbdadm(&["-c", &etc.conf(), "-d", "up", "r0"]);
        assert_eq!(code, 0);
        let want = "drbdsetup new-resource r0\n\
                    drbdsetup new-minor r0 1 0\n\
                    drbdmeta 1 v08 /dev/sdb1 internal apply-al\n\
                    drbdsetup attach 1 /dev/sdb1 /dev/sdb1 internal\n\
                    drbdsetup connect r0 ipv4:192.168.1.101:7789 ipv4:192.168.1.102:7789 --protocol=C --after-sb-0pri=discard-zero-changes --after-sb-1pri=discard-secondary --after-sb-2pri=disconnect\n";
        assert_eq!(out, want);
        let (_, out, _) = drbdadm(&["-c", &etc.conf(), "-d", "primary", "--force", "r0"]);
        assert_eq!(out, "drbdsetup primary 1 --force\n");
        let (_, out, _) = drbdadm(&["-c", &etc.conf(), "-d", "connect", "--discard-my-data", "r0"]);
        assert!(out.ends_with("--discard-my-data\n"), "{out}");
    }

    #[test]
    fn config_errors_exit_10_and_usage_errors_3() {
        let etc = Etc::new("err");
        std::fs::write(etc.0.join("drbd.d/bad.res"), "resource r1 {\n net { protocoll C; }\n}\n")
            .unwrap();
        let (code, _, err) = drbdadm(&["-c", &etc.conf(), "dump"]);
        assert_eq!(code, E_CONFIG_INVALID);
        assert!(err.contains("bad.res:2: unknown keyword 'protocoll' in net section"), "{err}");
        let (code, _, err) = drbdadm(&["-c", "/nonexistent-drbdnet.conf", "dump"]);
        assert_eq!(code, E_CONFIG_INVALID);
        assert!(err.contains("/nonexistent-drbdnet.conf"), "{err}");
        let (code, _, err) = drbdadm(&["frobnicate", "r0"]);
        assert_eq!(code, E_USAGE);
        assert!(err.starts_with("drbdadm: Unknown command 'frobnicate'"), "{err}");
    }
}
