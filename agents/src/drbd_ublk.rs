//! `ocf:drbd-ublk:drbd` (also installed as `ocf:linbit:drbd`): the promotable OCF resource
//! agent of a drbd-ublk replicated device.
//!
//! Mechanism: every action reads the OCF environment through an [`Env`] lookup, checks the
//! parameters against the DRBD configuration (parsed with [`drbd_ublk::config`] for this
//! host, the same way `drbdadm` does), and drives the device with `drbdadm` sub-commands run
//! through a [`CommandRunner`] (`up`, `down`, `primary`, `secondary`, `connect`, and the queries
//! `role`, `dstate`, `cstate`). The runner is injectable so the whole decision logic runs in
//! unit tests without processes; the binary uses [`SystemRunner`].
//!
//! Invariants:
//! * The state is always read back from `drbdadm` after a change; the agent keeps no state
//!   file of its own. A `drbdadm role` that fails (daemon not running, resource not up) means
//!   "stopped": monitor answers 7, stop answers 0.
//! * Promotion is offered only for UpToDate or Consistent local data: the promotion score
//!   (`master-<instance>` node attribute, set with `crm_attribute --promotion`, or
//!   `crm_master` for a CRM feature set older than 3.10) is removed for Inconsistent,
//!   Outdated, Diskless or Failed disks, and `promote` refuses such data with an exit reason.
//! * The score is written only when it changes (read first with `-G -q`), and removed on stop.
//! * `notify` never fails (Pacemaker ignores notify results anyway).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use drbd_ublk::config::{local_hostname, Config, ConfigError};

/// OCF exit codes used by the agent.
pub mod rc {
    /// OCF_SUCCESS.
    pub const SUCCESS: i32 = 0;
    /// OCF_ERR_GENERIC.
    pub const ERR_GENERIC: i32 = 1;
    /// OCF_ERR_ARGS.
    pub const ERR_ARGS: i32 = 2;
    /// OCF_ERR_UNIMPLEMENTED.
    pub const ERR_UNIMPLEMENTED: i32 = 3;
    /// OCF_ERR_INSTALLED.
    pub const ERR_INSTALLED: i32 = 5;
    /// OCF_ERR_CONFIGURED.
    pub const ERR_CONFIGURED: i32 = 6;
    /// OCF_NOT_RUNNING.
    pub const NOT_RUNNING: i32 = 7;
    /// OCF_RUNNING_PROMOTED (OCF_RUNNING_MASTER).
    pub const RUNNING_PROMOTED: i32 = 8;
}

/// Default DRBD configuration file (`drbdconf` parameter).
pub const DEFAULT_DRBDCONF: &str = "/etc/drbd.conf";
/// Default `adjust_master_score`: only-consistent, only-remote, local-ok, as-good-as-it-gets.
pub const DEFAULT_SCORES: &str = "0 10 1000 10000";
/// How many times a state change is re-read before giving up (see `SETTLE_INTERVAL`).
pub const SETTLE_POLLS: u32 = 50;
/// Pause between two reads while waiting for a state change to show.
pub const SETTLE_INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);
/// Exit code of a program that could not be started (as a shell reports it).
pub const EXIT_NOT_FOUND: i32 = 127;

/// What a finished command printed and returned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CmdOutput {
    /// Exit code; [`EXIT_NOT_FOUND`] when the program could not be started, -1 on a signal.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Runs external programs (`drbdadm`, `crm_attribute`, `crm_master`).
pub trait CommandRunner {
    /// Runs `program args...` to completion.
    fn run(&mut self, program: &str, args: &[String]) -> CmdOutput;
}

/// Runs programs as child processes. `crm_*` tools are looked up in `HA_SBIN_DIR` first
/// (agents call them by absolute path there), everything else through `PATH`.
#[derive(Debug, Clone, Default)]
pub struct SystemRunner {
    /// `HA_SBIN_DIR`, if set.
    pub sbin_dir: Option<PathBuf>,
}

impl SystemRunner {
    /// A runner using `HA_SBIN_DIR` from the process environment.
    pub fn from_env() -> SystemRunner {
        SystemRunner {
            sbin_dir: std::env::var_os("HA_SBIN_DIR").filter(|v| !v.is_empty()).map(PathBuf::from),
        }
    }

    fn resolve(&self, program: &str) -> PathBuf {
        if program.starts_with("crm_") {
            if let Some(dir) = &self.sbin_dir {
                let p = dir.join(program);
                if p.exists() {
                    return p;
                }
            }
        }
        PathBuf::from(program)
    }
}

impl CommandRunner for SystemRunner {
    fn run(&mut self, program: &str, args: &[String]) -> CmdOutput {
        match Command::new(self.resolve(program))
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
        {
            Ok(o) => CmdOutput {
                code: o.status.code().unwrap_or(-1),
                stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
            },
            Err(e) => CmdOutput {
                code: EXIT_NOT_FOUND,
                stdout: String::new(),
                stderr: format!("{program}: {e}\n"),
            },
        }
    }
}

/// Reads one environment variable (`None` when unset).
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The agent's parameters, from `OCF_RESKEY_*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    /// `drbd_resource` (required).
    pub resource: String,
    /// `drbdconf`.
    pub drbdconf: PathBuf,
    /// `adjust_master_score`: only-consistent, only-remote, local-ok, as-good-as-it-gets.
    pub scores: [i64; 4],
    /// `ignore_missing_notifications`.
    pub ignore_missing_notifications: bool,
}

/// A parameter problem: exit code and reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct AgentError {
    /// OCF exit code.
    pub code: i32,
    /// Human-readable reason (printed as the exit reason).
    pub reason: String,
}

fn fail(code: i32, reason: impl Into<String>) -> AgentError {
    AgentError { code, reason: reason.into() }
}

fn is_true(v: &str) -> bool {
    matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on" | "y")
}

/// Parses `adjust_master_score` ("0 10 1000 10000").
pub fn parse_scores(s: &str) -> Result<[i64; 4], AgentError> {
    let v: Vec<i64> =
        s.split_whitespace().map(|t| t.parse::<i64>()).collect::<Result<_, _>>().map_err(|_| {
            fail(rc::ERR_CONFIGURED, format!("adjust_master_score '{s}' is not four integers"))
        })?;
    match v.as_slice() {
        [a, b, c, d] => Ok([*a, *b, *c, *d]),
        _ => {
            Err(fail(rc::ERR_CONFIGURED, format!("adjust_master_score '{s}' needs four integers")))
        }
    }
}

impl Params {
    /// Reads and checks the parameters (not the DRBD configuration).
    pub fn from_env(env: Env) -> Result<Params, AgentError> {
        let get = |k: &str| env(&format!("OCF_RESKEY_{k}")).filter(|v| !v.is_empty());
        let resource = get("drbd_resource").ok_or_else(|| {
            fail(
                rc::ERR_CONFIGURED,
                "No drbd_resource specified (the drbd_resource parameter is mandatory)",
            )
        })?;
        if resource.contains(char::is_whitespace) || resource.contains('/') {
            return Err(fail(
                rc::ERR_CONFIGURED,
                format!("drbd_resource '{resource}' is not a resource name"),
            ));
        }
        let scores =
            parse_scores(&get("adjust_master_score").unwrap_or_else(|| DEFAULT_SCORES.into()))?;
        Ok(Params {
            resource,
            drbdconf: PathBuf::from(get("drbdconf").unwrap_or_else(|| DEFAULT_DRBDCONF.into())),
            scores,
            ignore_missing_notifications: get("ignore_missing_notifications")
                .is_some_and(|v| is_true(&v)),
        })
    }
}

/// The device's state as `drbdadm role/dstate/cstate` report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrbdState {
    /// Local role (`Primary`, `Secondary`, `Unknown`).
    pub role: String,
    /// Local disk state (`UpToDate`, `Inconsistent`, ...).
    pub disk: String,
    /// Peer disk state (`UpToDate`, `DUnknown`, ...); `DUnknown` when not reported.
    pub peer_disk: String,
    /// Connection state (`Connected`, `WFConnection`, `StandAlone`, ...).
    pub cstate: String,
}

impl DrbdState {
    /// The local role is Primary.
    pub fn is_primary(&self) -> bool {
        self.role.eq_ignore_ascii_case("Primary")
    }

    /// Connected to the peer.
    pub fn connected(&self) -> bool {
        self.cstate == "Connected"
            || self.cstate.starts_with("Sync")
            || self.cstate.starts_with("PausedSync")
            || self.cstate.starts_with("Verify")
            || self.cstate == "Established"
    }

    /// The local data may be promoted (UpToDate or Consistent).
    pub fn promotable_data(&self) -> bool {
        self.disk == "UpToDate" || self.disk == "Consistent"
    }

    /// The promotion score for these `adjust_master_score` values; `None` = remove the score.
    ///
    /// UpToDate and Primary, or UpToDate with the peer's disk known: as-good-as-it-gets;
    /// UpToDate with the peer unknown: local-ok; Consistent: only-consistent. Inconsistent,
    /// Outdated, Diskless and Failed data get no score (never promoted).
    pub fn promotion_score(&self, scores: &[i64; 4]) -> Option<i64> {
        match self.disk.as_str() {
            "UpToDate" if self.is_primary() => Some(scores[3]),
            "UpToDate" if self.connected() && self.peer_disk != "DUnknown" => Some(scores[3]),
            "UpToDate" => Some(scores[2]),
            "Consistent" => Some(scores[0]),
            _ => None,
        }
    }
}

/// First field of a `drbdadm role/dstate` answer (`Primary/Secondary` → `Primary`) and the
/// second one, if any.
fn split_pair(s: &str) -> (String, Option<String>) {
    let line = s.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
    let mut it = line.split('/');
    let a = it.next().unwrap_or("").trim().to_string();
    let b = it.next().map(|x| x.trim().to_string()).filter(|x| !x.is_empty());
    (a, b)
}

/// One run of one action.
pub struct Agent<'a> {
    env: Env<'a>,
    runner: &'a mut dyn CommandRunner,
    err: &'a mut dyn Write,
    out: &'a mut dyn Write,
}

/// Outcome of reading the device state.
enum Probe {
    /// `drbdadm` itself is missing.
    NotInstalled(String),
    /// Not configured here / daemon not running.
    Stopped(String),
    /// Running.
    Running(DrbdState),
}

impl<'a> Agent<'a> {
    /// An agent reading `env`, running commands with `runner`, writing meta-data to `out` and
    /// logs / exit reasons to `err`.
    pub fn new(
        env: Env<'a>,
        runner: &'a mut dyn CommandRunner,
        out: &'a mut dyn Write,
        err: &'a mut dyn Write,
    ) -> Agent<'a> {
        Agent { env, runner, err, out }
    }

    fn var(&self, k: &str) -> Option<String> {
        (self.env)(k).filter(|v| !v.trim().is_empty())
    }

    fn meta(&self, k: &str) -> Option<String> {
        self.var(&format!("OCF_RESKEY_CRM_meta_{k}"))
    }

    fn log(&mut self, level: &str, msg: &str) {
        let inst = self.var("OCF_RESOURCE_INSTANCE").unwrap_or_else(|| "drbd".into());
        let _ = writeln!(self.err, "drbd({inst})[{}]: {level}: {msg}", std::process::id());
    }

    fn reason(&mut self, code: i32, msg: &str) -> i32 {
        let prefix =
            self.var("OCF_EXIT_REASON_PREFIX").unwrap_or_else(|| "ocf-exit-reason:".to_string());
        self.log("ERROR", msg);
        let _ = writeln!(self.err, "{prefix}{msg}");
        code
    }

    fn is_probe(&self, action: &str) -> bool {
        action == "monitor" && self.meta("interval").map_or(true, |v| v.trim() == "0")
    }

    fn drbdadm(&mut self, p: &Params, args: &[&str]) -> CmdOutput {
        let mut a = vec!["-c".to_string(), p.drbdconf.display().to_string()];
        a.extend(args.iter().map(|s| s.to_string()));
        a.push(p.resource.clone());
        let o = self.runner.run("drbdadm", &a);
        if o.code != 0 && !args.first().is_some_and(|c| ["role", "dstate", "cstate"].contains(c)) {
            let msg = format!(
                "drbdadm {} {}: exit {}: {}",
                args.join(" "),
                p.resource,
                o.code,
                o.stderr.trim()
            );
            self.log("WARNING", &msg);
        }
        o
    }

    /// Loads the DRBD configuration and checks the resource is defined for this host.
    fn check_config(&mut self, p: &Params) -> Result<Config, AgentError> {
        match Config::load(&p.drbdconf, &local_hostname()) {
            Ok(c) => {
                if c.resource(&p.resource).is_none() {
                    return Err(fail(
                        rc::ERR_CONFIGURED,
                        format!(
                            "resource '{}' is not defined in {} for this host ({})",
                            p.resource,
                            p.drbdconf.display(),
                            local_hostname()
                        ),
                    ));
                }
                Ok(c)
            }
            Err(ConfigError::Io { path, source }) => Err(fail(
                rc::ERR_INSTALLED,
                format!("cannot read DRBD configuration {}: {source}", path.display()),
            )),
            Err(e) => Err(fail(rc::ERR_CONFIGURED, format!("invalid DRBD configuration: {e}"))),
        }
    }

    /// Checks the clone meta-attributes, when the resource runs as a clone.
    fn check_clone_meta(
        &mut self,
        p: &Params,
        cfg: &Config,
        action: &str,
    ) -> Result<(), AgentError> {
        let Some(clone_max) = self.meta("clone_max") else {
            // Run by hand (ocf-tester, crm_resource --force-*): nothing to check.
            return Ok(());
        };
        let num = |v: Option<String>, name: &str| -> Result<Option<u64>, AgentError> {
            v.map(|s| {
                s.trim().parse::<u64>().map_err(|_| {
                    fail(rc::ERR_CONFIGURED, format!("meta attribute {name}='{s}' is not a number"))
                })
            })
            .transpose()
        };
        if num(Some(clone_max), "clone-max")?.is_some_and(|n| n > 2) {
            return Err(fail(
                rc::ERR_CONFIGURED,
                "clone-max must be at most 2 for a drbd-ublk resource",
            ));
        }
        if num(self.meta("clone_node_max"), "clone-node-max")?.is_some_and(|n| n != 1) {
            return Err(fail(rc::ERR_CONFIGURED, "clone-node-max must be 1"));
        }
        let promoted_node_max =
            self.meta("promoted_node_max").or_else(|| self.meta("master_node_max"));
        if num(promoted_node_max, "promoted-node-max")?.is_some_and(|n| n != 1) {
            return Err(fail(rc::ERR_CONFIGURED, "promoted-node-max must be 1"));
        }
        let promoted_max = self.meta("promoted_max").or_else(|| self.meta("master_max"));
        let promotable =
            self.meta("promotable").is_some_and(|v| is_true(&v)) || promoted_max.is_some();
        if !promotable {
            return Err(fail(
                rc::ERR_CONFIGURED,
                format!("{} must be a promotable clone (promotable=true)", p.resource),
            ));
        }
        if num(promoted_max, "promoted-max")?.is_some_and(|n| n > 1) {
            let two = cfg.resource(&p.resource).is_some_and(|r| r.options.net.allow_two_primaries);
            if !two {
                return Err(fail(
                    rc::ERR_CONFIGURED,
                    "promoted-max > 1 needs allow-two-primaries in the DRBD configuration",
                ));
            }
        }
        let notify =
            self.meta("notify").is_some_and(|v| is_true(&v)) || self.meta("notify_type").is_some();
        if !notify && (action == "start" || action == "promote") {
            if p.ignore_missing_notifications {
                self.log(
                    "WARNING",
                    "notify=true is not set on the clone; you really should enable it",
                );
            } else {
                return Err(fail(
                    rc::ERR_CONFIGURED,
                    "you really should enable notify=true on the promotable clone (or set ignore_missing_notifications=true)",
                ));
            }
        }
        Ok(())
    }

    fn read_state(&mut self, p: &Params) -> Probe {
        let role = self.drbdadm(p, &["role"]);
        if role.code == EXIT_NOT_FOUND {
            return Probe::NotInstalled(role.stderr.trim().to_string());
        }
        let (r, _) = split_pair(&role.stdout);
        if role.code != 0 || r.is_empty() || r == "Unconfigured" {
            let why =
                if role.stderr.trim().is_empty() { r } else { role.stderr.trim().to_string() };
            return Probe::Stopped(why);
        }
        let ds = self.drbdadm(p, &["dstate"]);
        let (disk, peer) =
            if ds.code == 0 { split_pair(&ds.stdout) } else { ("Unknown".into(), None) };
        if disk == "Unconfigured" {
            return Probe::Stopped("unconfigured".into());
        }
        let cs = self.drbdadm(p, &["cstate"]);
        let cstate = if cs.code == 0 { split_pair(&cs.stdout).0 } else { "Unknown".into() };
        Probe::Running(DrbdState {
            role: r,
            disk,
            peer_disk: peer.unwrap_or_else(|| "DUnknown".into()),
            cstate,
        })
    }

    /// Re-reads the state until `done` holds, at most [`SETTLE_POLLS`] times
    /// [`SETTLE_INTERVAL`] apart: the daemon applies a state change just after acknowledging it.
    fn settle(&mut self, p: &Params, done: impl Fn(&Probe) -> bool) -> Probe {
        let mut probe = self.read_state(p);
        for _ in 0..SETTLE_POLLS {
            if done(&probe) {
                break;
            }
            std::thread::sleep(SETTLE_INTERVAL);
            probe = self.read_state(p);
        }
        probe
    }

    /// The promotion tool and its leading arguments: `crm_attribute --promotion` for a CRM
    /// feature set ≥ 3.10 (or none given), else `crm_master`.
    fn promotion_tool(&self) -> (&'static str, Vec<String>) {
        let old = self.var("OCF_RESKEY_crm_feature_set").is_some_and(|fs| {
            let mut it = fs.split('.').map(|x| x.parse::<u32>().unwrap_or(0));
            (it.next().unwrap_or(0), it.next().unwrap_or(0)) < (3, 10)
        });
        if old {
            ("crm_master", Vec::new())
        } else {
            ("crm_attribute", vec!["--promotion".to_string()])
        }
    }

    fn score_cmd(&mut self, args: &[&str]) -> CmdOutput {
        let (tool, mut a) = self.promotion_tool();
        a.extend(args.iter().map(|s| s.to_string()));
        self.runner.run(tool, &a)
    }

    /// Publishes (or removes) the promotion score; failures are logged, never fatal.
    fn set_score(&mut self, score: Option<i64>) {
        let cur = self.score_cmd(&["-q", "-l", "reboot", "-G"]);
        let current = if cur.code == 0 { cur.stdout.trim().parse::<i64>().ok() } else { None };
        match score {
            Some(n) if current != Some(n) => {
                let o = self.score_cmd(&["-Q", "-l", "reboot", "-v", &n.to_string()]);
                if o.code != 0 {
                    self.log(
                        "WARNING",
                        &format!(
                            "could not set promotion score {n}: exit {} {}",
                            o.code,
                            o.stderr.trim()
                        ),
                    );
                }
            }
            None if cur.code != 105 && (cur.code != 0 || current.is_some()) => {
                let o = self.score_cmd(&["-l", "reboot", "-D"]);
                if o.code != 0 {
                    self.log(
                        "WARNING",
                        &format!(
                            "could not remove promotion score: exit {} {}",
                            o.code,
                            o.stderr.trim()
                        ),
                    );
                }
            }
            _ => {}
        }
    }

    /// Runs one action; returns the OCF exit code.
    pub fn run(&mut self, action: &str) -> i32 {
        match action {
            "meta-data" => {
                let _ = self.out.write_all(metadata().as_bytes());
                return rc::SUCCESS;
            }
            "usage" | "help" => {
                let _ = writeln!(self.out, "{USAGE}");
                return rc::SUCCESS;
            }
            "start" | "stop" | "monitor" | "promote" | "demote" | "notify" | "validate-all" => {}
            _ => {
                let _ = writeln!(self.out, "{USAGE}");
                return rc::ERR_UNIMPLEMENTED;
            }
        }
        let p = match Params::from_env(self.env) {
            Ok(p) => p,
            Err(e) => return self.reason(e.code, &e.reason),
        };
        let probe = self.is_probe(action);
        let cfg = match self.check_config(&p) {
            Ok(c) => c,
            // A probe on a node that cannot run the resource: it is not running here.
            Err(_) if probe || action == "stop" || action == "notify" => {
                return if probe { rc::NOT_RUNNING } else { rc::SUCCESS };
            }
            Err(e) => return self.reason(e.code, &e.reason),
        };
        if action != "stop" && action != "monitor" && action != "notify" {
            if let Err(e) = self.check_clone_meta(&p, &cfg, action) {
                return self.reason(e.code, &e.reason);
            }
        }
        match action {
            "validate-all" => rc::SUCCESS,
            "monitor" => self.monitor(&p, probe),
            "start" => self.start(&p),
            "stop" => self.stop(&p),
            "promote" => self.promote(&p),
            "demote" => self.demote(&p),
            "notify" => self.notify(&p),
            _ => rc::ERR_UNIMPLEMENTED,
        }
    }

    fn monitor(&mut self, p: &Params, probe: bool) -> i32 {
        match self.read_state(p) {
            Probe::NotInstalled(why) if !probe => {
                self.reason(rc::ERR_INSTALLED, &format!("drbdadm not found: {why}"))
            }
            Probe::NotInstalled(_) => rc::NOT_RUNNING,
            Probe::Stopped(why) => {
                if !probe {
                    self.log("INFO", &format!("{} is not running: {why}", p.resource));
                }
                rc::NOT_RUNNING
            }
            Probe::Running(st) => {
                if !probe {
                    self.set_score(st.promotion_score(&p.scores));
                }
                if st.is_primary() {
                    rc::RUNNING_PROMOTED
                } else {
                    rc::SUCCESS
                }
            }
        }
    }

    fn start(&mut self, p: &Params) -> i32 {
        let st = match self.read_state(p) {
            Probe::NotInstalled(why) => {
                return self.reason(rc::ERR_INSTALLED, &format!("drbdadm not found: {why}"))
            }
            Probe::Running(st) => st,
            Probe::Stopped(_) => {
                let o = self.drbdadm(p, &["up"]);
                if o.code != 0 {
                    return self.reason(
                        rc::ERR_GENERIC,
                        &format!(
                            "drbdadm up {} failed (exit {}): {}",
                            p.resource,
                            o.code,
                            o.stderr.trim()
                        ),
                    );
                }
                match self.settle(p, |s| matches!(s, Probe::Running(_))) {
                    Probe::Running(st) => st,
                    _ => {
                        return self.reason(
                            rc::ERR_GENERIC,
                            &format!("{} is not configured after drbdadm up", p.resource),
                        )
                    }
                }
            }
        };
        self.log(
            "INFO",
            &format!(
                "{} started: role {} disk {}/{} {}",
                p.resource, st.role, st.disk, st.peer_disk, st.cstate
            ),
        );
        self.set_score(st.promotion_score(&p.scores));
        rc::SUCCESS
    }

    fn stop(&mut self, p: &Params) -> i32 {
        if let Probe::Running(_) = self.read_state(p) {
            let o = self.drbdadm(p, &["down"]);
            if o.code != 0 {
                return self.reason(
                    rc::ERR_GENERIC,
                    &format!(
                        "drbdadm down {} failed (exit {}): {}",
                        p.resource,
                        o.code,
                        o.stderr.trim()
                    ),
                );
            }
            if let Probe::Running(st) = self.settle(p, |s| !matches!(s, Probe::Running(_))) {
                return self.reason(
                    rc::ERR_GENERIC,
                    &format!(
                        "{} still configured after drbdadm down (role {})",
                        p.resource, st.role
                    ),
                );
            }
        }
        self.set_score(None);
        rc::SUCCESS
    }

    fn promote(&mut self, p: &Params) -> i32 {
        let st = match self.read_state(p) {
            Probe::Running(st) => st,
            _ => {
                return self.reason(
                    rc::ERR_GENERIC,
                    &format!("cannot promote {}: not running", p.resource),
                )
            }
        };
        if st.is_primary() {
            return rc::SUCCESS;
        }
        if !st.promotable_data() {
            self.set_score(None);
            return self.reason(
                rc::ERR_GENERIC,
                &format!(
                    "refusing to promote {}: local data is {} (need UpToDate)",
                    p.resource, st.disk
                ),
            );
        }
        let o = self.drbdadm(p, &["primary"]);
        if o.code != 0 {
            return self.reason(
                rc::ERR_GENERIC,
                &format!(
                    "drbdadm primary {} failed (exit {}): {}",
                    p.resource,
                    o.code,
                    o.stderr.trim()
                ),
            );
        }
        match self.settle(p, |s| matches!(s, Probe::Running(st) if st.is_primary())) {
            Probe::Running(st) if st.is_primary() => {
                self.set_score(st.promotion_score(&p.scores));
                rc::SUCCESS
            }
            _ => self.reason(
                rc::ERR_GENERIC,
                &format!("{} is not Primary after drbdadm primary", p.resource),
            ),
        }
    }

    fn demote(&mut self, p: &Params) -> i32 {
        let st = match self.read_state(p) {
            Probe::Running(st) => st,
            _ => return rc::NOT_RUNNING,
        };
        if st.is_primary() {
            let o = self.drbdadm(p, &["secondary"]);
            if o.code != 0 {
                return self.reason(
                    rc::ERR_GENERIC,
                    &format!(
                        "drbdadm secondary {} failed (exit {}): {}",
                        p.resource,
                        o.code,
                        o.stderr.trim()
                    ),
                );
            }
        }
        match self.settle(p, |s| !matches!(s, Probe::Running(st) if st.is_primary())) {
            Probe::Running(st) if !st.is_primary() => {
                self.set_score(st.promotion_score(&p.scores));
                rc::SUCCESS
            }
            Probe::Running(_) => self.reason(
                rc::ERR_GENERIC,
                &format!("{} is still Primary after drbdadm secondary", p.resource),
            ),
            _ => rc::NOT_RUNNING,
        }
    }

    fn notify(&mut self, p: &Params) -> i32 {
        let n = Notification::from_env(self.env);
        let me = self.meta("on_node").unwrap_or_else(local_hostname);
        self.log(
            "INFO",
            &format!(
                "notify {}-{} (start {:?}, stop {:?}, promote {:?}, demote {:?})",
                n.kind, n.operation, n.start_uname, n.stop_uname, n.promote_uname, n.demote_uname
            ),
        );
        let Probe::Running(st) = self.read_state(p) else {
            return rc::SUCCESS;
        };
        if n.kind == "pre"
            && n.operation == "start"
            && n.start_uname.iter().any(|u| *u != me)
            && st.cstate == "StandAlone"
        {
            // A peer is about to start and we are not even trying to reach it: connect.
            let _ = self.drbdadm(p, &["connect"]);
        }
        if n.kind == "post" {
            // The cluster changed: the peer may have appeared, gone, or changed role.
            let st = match self.read_state(p) {
                Probe::Running(s) => s,
                _ => st,
            };
            self.set_score(st.promotion_score(&p.scores));
        }
        rc::SUCCESS
    }
}

/// A clone notification, from `OCF_RESKEY_CRM_meta_notify_*`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notification {
    /// `pre` or `post`.
    pub kind: String,
    /// `start`, `stop`, `promote` or `demote`.
    pub operation: String,
    /// Nodes where instances start.
    pub start_uname: Vec<String>,
    /// Nodes where instances stop.
    pub stop_uname: Vec<String>,
    /// Nodes where instances are promoted.
    pub promote_uname: Vec<String>,
    /// Nodes where instances are demoted.
    pub demote_uname: Vec<String>,
    /// Nodes with a promoted instance (the `promoted` list, or legacy `master`).
    pub promoted_uname: Vec<String>,
}

impl Notification {
    /// Reads the notification variables; lists are split on whitespace (empty = " ").
    pub fn from_env(env: Env) -> Notification {
        let get = |k: &str| env(&format!("OCF_RESKEY_CRM_meta_notify_{k}")).unwrap_or_default();
        let list = |k: &str| get(k).split_whitespace().map(str::to_string).collect::<Vec<_>>();
        let mut promoted = list("promoted_uname");
        if promoted.is_empty() {
            promoted = list("master_uname");
        }
        Notification {
            kind: get("type").trim().to_string(),
            operation: get("operation").trim().to_string(),
            start_uname: list("start_uname"),
            stop_uname: list("stop_uname"),
            promote_uname: list("promote_uname"),
            demote_uname: list("demote_uname"),
            promoted_uname: promoted,
        }
    }
}

/// Usage text (for unknown actions).
pub const USAGE: &str =
    "usage: drbd {start|stop|monitor|promote|demote|notify|meta-data|validate-all}";

/// The agent's OCF 1.0 meta-data.
pub fn metadata() -> String {
    let mut s = String::new();
    s.push_str("<?xml version=\"1.0\"?>\n<!DOCTYPE resource-agent SYSTEM \"ra-api-1.dtd\">\n");
    s.push_str("<resource-agent name=\"drbd\" version=\"1.0\">\n<version>1.0</version>\n");
    s.push_str("<longdesc lang=\"en\">\nManages a drbd-ublk replicated block device (DRBD compatible) as a promotable clone:\n\
start brings the resource up as Secondary, promote makes it Primary, demote Secondary again,\n\
stop takes it down. The promotion score follows the local disk state: UpToDate data is\n\
preferred, Inconsistent or Outdated data is never promoted.\n</longdesc>\n");
    s.push_str("<shortdesc lang=\"en\">Manages a drbd-ublk (DRBD compatible) replicated device as a promotable clone</shortdesc>\n<parameters>\n");
    let param = |s: &mut String,
                 name: &str,
                 req: bool,
                 short: &str,
                 long: &str,
                 ty: &str,
                 def: Option<&str>| {
        s.push_str(&format!(
            "<parameter name=\"{name}\" unique=\"{}\" required=\"{}\">\n<longdesc lang=\"en\">{long}</longdesc>\n<shortdesc lang=\"en\">{short}</shortdesc>\n",
            u8::from(req),
            u8::from(req)
        ));
        match def {
            Some(d) => s.push_str(&format!("<content type=\"{ty}\" default=\"{d}\"/>\n")),
            None => s.push_str(&format!("<content type=\"{ty}\"/>\n")),
        }
        s.push_str("</parameter>\n");
    };
    param(
        &mut s,
        "drbd_resource",
        true,
        "drbd resource name",
        "The name of the resource in the DRBD configuration.",
        "string",
        None,
    );
    param(
        &mut s,
        "drbdconf",
        false,
        "Path to the DRBD configuration file",
        "Full path of the DRBD configuration file drbdadm reads.",
        "string",
        Some(DEFAULT_DRBDCONF),
    );
    param(&mut s, "adjust_master_score", false, "Promotion scores", "Four space separated promotion scores: only Consistent data, only a peer has good data (never used: such data is not promoted), UpToDate data with the peer unknown, UpToDate data with the peer known or while Primary.", "string", Some(DEFAULT_SCORES));
    param(
        &mut s,
        "ignore_missing_notifications",
        false,
        "Allow a clone without notify=true",
        "Start and promote refuse to run in a clone without notify=true unless this is true.",
        "boolean",
        Some("false"),
    );
    s.push_str("</parameters>\n<actions>\n");
    for a in [
        "<action name=\"start\" timeout=\"240s\"/>",
        "<action name=\"promote\" timeout=\"90s\"/>",
        "<action name=\"demote\" timeout=\"90s\"/>",
        "<action name=\"notify\" timeout=\"90s\"/>",
        "<action name=\"stop\" timeout=\"100s\"/>",
        "<action name=\"monitor\" depth=\"0\" timeout=\"20s\" interval=\"20s\" role=\"Slave\"/>",
        "<action name=\"monitor\" depth=\"0\" timeout=\"20s\" interval=\"10s\" role=\"Master\"/>",
        "<action name=\"meta-data\" timeout=\"5s\"/>",
        "<action name=\"validate-all\" timeout=\"30s\"/>",
    ] {
        s.push_str(a);
        s.push('\n');
    }
    s.push_str("</actions>\n</resource-agent>\n");
    s
}

/// Entry point of the binary: runs `argv[1]` with the process environment.
pub fn main_with(args: &[String]) -> i32 {
    let env = |k: &str| std::env::var(k).ok();
    let mut runner = SystemRunner::from_env();
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    let Some(action) = args.first() else {
        let _ = writeln!(out, "{USAGE}");
        return rc::ERR_ARGS;
    };
    Agent::new(&env, &mut runner, &mut out, &mut err).run(action)
}

/// Where Pacemaker finds the agent (`ocf:drbd-ublk:drbd`).
pub fn install_path(ocf_root: &Path) -> PathBuf {
    ocf_root.join("resource.d/drbd-ublk/drbd")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(role: &str, disk: &str, peer: &str, cstate: &str) -> DrbdState {
        DrbdState {
            role: role.into(),
            disk: disk.into(),
            peer_disk: peer.into(),
            cstate: cstate.into(),
        }
    }

    #[test]
    fn promotion_score_table() {
        let s = parse_scores(DEFAULT_SCORES).unwrap();
        assert_eq!(
            st("Primary", "UpToDate", "DUnknown", "WFConnection").promotion_score(&s),
            Some(10000)
        );
        assert_eq!(
            st("Secondary", "UpToDate", "UpToDate", "Connected").promotion_score(&s),
            Some(10000)
        );
        assert_eq!(
            st("Secondary", "UpToDate", "Inconsistent", "SyncSource").promotion_score(&s),
            Some(10000)
        );
        assert_eq!(
            st("Secondary", "UpToDate", "DUnknown", "WFConnection").promotion_score(&s),
            Some(1000)
        );
        assert_eq!(
            st("Secondary", "UpToDate", "DUnknown", "StandAlone").promotion_score(&s),
            Some(1000)
        );
        assert_eq!(
            st("Secondary", "Consistent", "DUnknown", "WFConnection").promotion_score(&s),
            Some(0)
        );
        for disk in ["Inconsistent", "Outdated", "Diskless", "Failed", "Attaching", "DUnknown"] {
            assert_eq!(
                st("Secondary", disk, "UpToDate", "Connected").promotion_score(&s),
                None,
                "{disk}"
            );
        }
        assert!(st("Secondary", "Consistent", "", "").promotable_data());
        assert!(!st("Secondary", "Outdated", "", "").promotable_data());
        assert_eq!(parse_scores("1 2 3 4").unwrap(), [1, 2, 3, 4]);
        assert_eq!(parse_scores("1 2 3").unwrap_err().code, rc::ERR_CONFIGURED);
        assert_eq!(parse_scores("a b c d").unwrap_err().code, rc::ERR_CONFIGURED);
    }

    #[test]
    fn notification_lists_and_legacy_names() {
        let vars = |k: &str| -> Option<String> {
            match k {
                "OCF_RESKEY_CRM_meta_notify_type" => Some("post".into()),
                "OCF_RESKEY_CRM_meta_notify_operation" => Some("promote".into()),
                "OCF_RESKEY_CRM_meta_notify_promote_uname" => Some("node2 ".into()),
                "OCF_RESKEY_CRM_meta_notify_start_uname" => Some(" ".into()),
                "OCF_RESKEY_CRM_meta_notify_master_uname" => Some("node1 ".into()),
                _ => None,
            }
        };
        let n = Notification::from_env(&vars);
        assert_eq!((n.kind.as_str(), n.operation.as_str()), ("post", "promote"));
        assert_eq!(n.promote_uname, vec!["node2"]);
        assert!(n.start_uname.is_empty());
        assert_eq!(
            n.promoted_uname,
            vec!["node1"],
            "legacy master list used when promoted is absent"
        );
    }

    #[test]
    fn state_pairs() {
        assert_eq!(split_pair("Primary/Secondary\n"), ("Primary".into(), Some("Secondary".into())));
        assert_eq!(split_pair("Secondary\n"), ("Secondary".into(), None));
        assert_eq!(split_pair(""), ("".into(), None));
    }

    #[test]
    fn metadata_is_well_formed() {
        let md = metadata();
        cluster_core::cib::xml::Element::parse(&md).expect("well-formed XML");
        assert!(md.contains("<parameter name=\"drbd_resource\" unique=\"1\" required=\"1\">"));
    }
}
