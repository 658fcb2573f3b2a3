//! Turning an [`AgentRequest`] into a command line, an environment and stdin.
//!
//! [`plan`] is pure (apart from checking that the agent file exists): it yields the exact
//! program, argv, environment (the process environment is cleared first, so the agent sees only
//! what is listed here) and stdin bytes, or a synthetic result when the agent cannot be run.

use std::path::{Path, PathBuf};

use super::types::{AgentClass, AgentRequest, ExecStatus, NotifyVars, OcfExit, OpResult};

/// `OCF_EXIT_REASON_PREFIX`: stderr lines starting with it carry the exit reason.
pub const EXIT_REASON_PREFIX: &str = "ocf-exit-reason:";

/// The CRM feature set reported to agents (agents branch on it; must be >= 3.10 for
/// `crm_attribute -p`).
pub const CRM_FEATURE_SET: &str = "3.16.2";

/// How the executor runs agents. Defaults are Debian's paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecConfig {
    /// `OCF_ROOT` (`/usr/lib/ocf`); agents live in `resource.d/<provider>/<type>` below it.
    pub ocf_root: PathBuf,
    /// Directory of LSB init scripts (`/etc/init.d`).
    pub lsb_dir: PathBuf,
    /// Directories searched for `fence_*` agents, in order.
    pub fence_dirs: Vec<PathBuf>,
    /// Directories put in front of the default `PATH` (our helper binaries).
    pub path_prefix: Vec<PathBuf>,
    /// `HA_SBIN_DIR`, where agents look up `crm_attribute` & co. by absolute path.
    pub sbin_dir: Option<PathBuf>,
    /// `HA_LOGFACILITY`; `none` makes `ocf_log` write to stderr (captured).
    pub log_facility: String,
    /// `HA_LOGFILE`, if any.
    pub log_file: Option<PathBuf>,
    /// `HA_debug` / `PCMK_debug`.
    pub debug: bool,
    /// `HA_RSCTMP`: agents' state directory (pid and state files). Debian creates it at boot
    /// through tmpfiles.d; [`crate::exec::ProcessRunner::new`] creates it when missing.
    pub rsctmp: PathBuf,
    /// Local node name, exported as `OCF_RESKEY_CRM_meta_on_node` unless the request's meta
    /// sets `on_node` itself.
    pub node_name: Option<String>,
    /// Local node id, exported as `OCF_RESKEY_CRM_meta_on_node_uuid` (same rule).
    pub node_id: Option<String>,
    /// Extra variables exported to every agent (e.g. `HA_RSCTMP`).
    pub extra_env: Vec<(String, String)>,
    /// Maximum number of agents running at once; further requests wait in a queue.
    pub max_concurrent: usize,
    /// Maximum number of queued requests (a bound, not a hint).
    pub max_queued: usize,
    /// Bytes of stdout and of stderr kept per operation; the rest is dropped with a marker.
    pub output_limit_bytes: usize,
    /// After SIGTERM to a timed-out group, SIGKILL follows after this many ms.
    pub kill_grace_ms: u64,
    /// `systemctl` binary; systemd is used only if it exists and `/run/systemd/system` does.
    pub systemctl: PathBuf,
    /// Directory whose existence means systemd is the running init.
    pub systemd_run_dir: PathBuf,
}

/// Default `PATH` behind [`ExecConfig::path_prefix`].
pub const DEFAULT_PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

impl Default for ExecConfig {
    fn default() -> ExecConfig {
        ExecConfig {
            ocf_root: PathBuf::from("/usr/lib/ocf"),
            lsb_dir: PathBuf::from("/etc/init.d"),
            fence_dirs: vec![PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")],
            path_prefix: Vec::new(),
            sbin_dir: None,
            log_facility: "none".to_string(),
            log_file: None,
            debug: false,
            rsctmp: PathBuf::from("/run/resource-agents"),
            node_name: None,
            node_id: None,
            extra_env: Vec::new(),
            max_concurrent: 8,
            max_queued: 1024,
            output_limit_bytes: 64 * 1024,
            kill_grace_ms: 2_000,
            systemctl: PathBuf::from("/usr/bin/systemctl"),
            systemd_run_dir: PathBuf::from("/run/systemd/system"),
        }
    }
}

/// What to execute for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// Program to run.
    pub program: PathBuf,
    /// Arguments after the program.
    pub args: Vec<String>,
    /// The complete environment (nothing else is inherited).
    pub env: Vec<(String, String)>,
    /// Bytes written to stdin (stdin is `/dev/null` when `None`).
    pub stdin: Option<Vec<u8>>,
    /// How the exit status maps onto OCF codes.
    pub mapping: ExitMapping,
}

/// How a process exit status becomes an [`OcfExit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitMapping {
    /// OCF agents: the code is already an OCF code.
    Ocf,
    /// LSB init script; `status` marks the status action (own code table).
    Lsb {
        /// The script was run with `status`.
        status: bool,
    },
    /// `systemctl is-active`: 0 running, else not running.
    SystemdStatus,
    /// `systemctl start/stop`: 0 ok, 5 unit not found, else error.
    SystemdAction,
    /// Fence agent; `status` marks the status action (2 = off).
    Fence {
        /// The agent was run with `action=status`.
        status: bool,
    },
    /// Not run at all: the result is fixed.
    Fixed(OcfExit),
}

/// The `PATH` exported to agents.
pub fn agent_path(cfg: &ExecConfig) -> String {
    let mut parts: Vec<String> = cfg.path_prefix.iter().map(|p| p.display().to_string()).collect();
    parts.push(DEFAULT_PATH.to_string());
    parts.join(":")
}

fn base_env(cfg: &ExecConfig) -> Vec<(String, String)> {
    let debug = if cfg.debug { "1" } else { "0" };
    let mut env = vec![
        ("PATH".to_string(), agent_path(cfg)),
        ("PCMK_service".to_string(), "pacemaker-execd".to_string()),
        ("PCMK_logfacility".to_string(), cfg.log_facility.clone()),
        ("HA_logfacility".to_string(), cfg.log_facility.clone()),
        ("HA_LOGFACILITY".to_string(), cfg.log_facility.clone()),
        ("PCMK_debug".to_string(), debug.to_string()),
        ("HA_debug".to_string(), debug.to_string()),
        ("HA_RSCTMP".to_string(), cfg.rsctmp.display().to_string()),
    ];
    if let Some(f) = &cfg.log_file {
        let f = f.display().to_string();
        env.push(("PCMK_logfile".to_string(), f.clone()));
        env.push(("HA_LOGFILE".to_string(), f));
    }
    if let Some(s) = &cfg.sbin_dir {
        env.push(("HA_SBIN_DIR".to_string(), s.display().to_string()));
    }
    env.extend(cfg.extra_env.iter().cloned());
    env
}

/// Meta attribute name as exported: `-` becomes `_`.
pub fn meta_var(name: &str) -> String {
    format!("OCF_RESKEY_CRM_meta_{}", name.replace('-', "_"))
}

fn list_var(items: &[String]) -> String {
    if items.is_empty() {
        return " ".to_string();
    }
    let mut s = String::new();
    for i in items {
        s.push_str(i);
        s.push(' ');
    }
    s
}

fn past_tense(op: &str) -> String {
    match op {
        "start" => "running".to_string(),
        "stop" => "stopped".to_string(),
        "promote" => "promoted".to_string(),
        "demote" => "demoted".to_string(),
        other => other.to_string(),
    }
}

/// The `OCF_RESKEY_CRM_meta_notify_*` variables of a notification (§1.8).
pub fn notify_env(n: &NotifyVars) -> Vec<(String, String)> {
    let mut env = Vec::new();
    let mut put = |k: &str, v: String| env.push((meta_var(&format!("notify_{k}")), v));
    put("type", n.notify_type.clone());
    put("operation", n.operation.clone());
    put("key_type", n.notify_type.clone());
    let key_op =
        if n.notify_type == "post" { past_tense(&n.operation) } else { n.operation.clone() };
    put("key_operation", key_op);
    let pairs: [(&str, &[(String, String)]); 7] = [
        ("start", &n.start),
        ("stop", &n.stop),
        ("promote", &n.promote),
        ("demote", &n.demote),
        ("active", &n.active),
        ("promoted", &n.promoted),
        ("unpromoted", &n.unpromoted),
    ];
    for (name, list) in pairs {
        let rscs: Vec<String> = list.iter().map(|(r, _)| r.clone()).collect();
        let nodes: Vec<String> = list.iter().map(|(_, u)| u.clone()).collect();
        let legacy = match name {
            "promoted" => Some("master"),
            "unpromoted" => Some("slave"),
            _ => None,
        };
        for n in std::iter::once(name).chain(legacy) {
            put(&format!("{n}_resource"), list_var(&rscs));
            put(&format!("{n}_uname"), list_var(&nodes));
        }
    }
    put("inactive_resource", list_var(&n.inactive));
    put("all_uname", list_var(&n.all_uname));
    put("available_uname", list_var(&n.available_uname));
    env
}

/// The full OCF environment for a request (base variables, identity, params, meta).
pub fn ocf_env(cfg: &ExecConfig, r: &AgentRequest, provider: &str) -> Vec<(String, String)> {
    let mut env = base_env(cfg);
    let mut put = |k: &str, v: &str| env.push((k.to_string(), v.to_string()));
    put("OCF_ROOT", &cfg.ocf_root.display().to_string());
    put("OCF_RA_VERSION_MAJOR", "1");
    put("OCF_RA_VERSION_MINOR", "1");
    put("OCF_RESOURCE_INSTANCE", &r.instance_name());
    put("OCF_RESOURCE_TYPE", &r.agent_type);
    put("OCF_RESOURCE_PROVIDER", provider);
    put("OCF_EXIT_REASON_PREFIX", EXIT_REASON_PREFIX);
    put("OCF_RESKEY_crm_feature_set", CRM_FEATURE_SET);
    if let Some(level) = r.check_level {
        put("OCF_CHECK_LEVEL", &level.to_string());
    }
    for (k, v) in &r.params {
        env.push((format!("OCF_RESKEY_{k}"), v.clone()));
    }
    let mut meta: Vec<(String, String)> = vec![
        (meta_var("id"), r.rsc_id.clone()),
        (meta_var("class"), "ocf".to_string()),
        (meta_var("provider"), provider.to_string()),
        (meta_var("type"), r.agent_type.clone()),
        (meta_var("name"), r.action.clone()),
        (meta_var("interval"), r.interval_ms.to_string()),
        (meta_var("timeout"), r.effective_timeout_ms().to_string()),
    ];
    if let Some(n) = &cfg.node_name {
        meta.push((meta_var("on_node"), n.clone()));
    }
    if let Some(n) = &cfg.node_id {
        meta.push((meta_var("on_node_uuid"), n.clone()));
    }
    if let Some(c) = &r.clone {
        meta.push((meta_var("clone"), c.number.to_string()));
        meta.push((meta_var("globally_unique"), c.globally_unique.to_string()));
    }
    for (k, v) in &r.meta {
        meta.push((meta_var(k), v.clone()));
    }
    if let Some(n) = &r.notify {
        meta.extend(notify_env(n));
    }
    // Later entries win: meta given by the caller overrides the defaults above.
    for (k, v) in meta {
        env.retain(|(ek, _)| *ek != k);
        env.push((k, v));
    }
    env
}

fn valid_name(s: &str) -> bool {
    !s.is_empty() && !s.contains('/') && s != "." && s != ".." && !s.contains('\0')
}

fn not_installed(what: &str) -> OpResult {
    OpResult::synthetic(OcfExit::NotInstalled, ExecStatus::NotInstalled, what)
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Plans the execution of `r`: the invocation, or the result to report without running anything
/// (agent missing → rc 5 / not installed; invalid names → rc 6 / fatal).
///
/// # Errors
/// The `Err` side is a complete [`OpResult`] to hand back to the caller as the action's result.
pub fn plan(cfg: &ExecConfig, r: &AgentRequest) -> Result<Invocation, OpResult> {
    if !valid_name(&r.agent_type) || !valid_name(&r.action) {
        let reason = format!("invalid agent name '{}' or action '{}'", r.agent_type, r.action);
        return Err(OpResult::synthetic(OcfExit::NotConfigured, ExecStatus::ErrorFatal, &reason));
    }
    let inv = match &r.class {
        AgentClass::Ocf { provider } => plan_ocf(cfg, r, provider)?,
        AgentClass::Lsb => plan_lsb(cfg, r)?,
        AgentClass::Systemd => plan_systemd(cfg, r)?,
        AgentClass::Service => {
            if systemd_available(cfg) {
                plan_systemd(cfg, r)?
            } else {
                plan_lsb(cfg, r)?
            }
        }
        AgentClass::Stonith => plan_stonith(cfg, r)?,
    };
    Ok(wrap_netns(inv, r))
}

fn wrap_netns(mut inv: Invocation, r: &AgentRequest) -> Invocation {
    if let Some(ns) = &r.netns {
        let mut args = vec!["netns".to_string(), "exec".to_string(), ns.clone()];
        args.push(inv.program.display().to_string());
        args.append(&mut inv.args);
        inv.args = args;
        inv.program = PathBuf::from("/usr/bin/ip");
        if !is_executable(&inv.program) {
            inv.program = PathBuf::from("/sbin/ip");
        }
    }
    inv
}

fn plan_ocf(cfg: &ExecConfig, r: &AgentRequest, provider: &str) -> Result<Invocation, OpResult> {
    if !valid_name(provider) {
        let reason = format!("invalid OCF provider '{provider}'");
        return Err(OpResult::synthetic(OcfExit::NotConfigured, ExecStatus::ErrorFatal, &reason));
    }
    let program = cfg.ocf_root.join("resource.d").join(provider).join(&r.agent_type);
    if !is_executable(&program) {
        return Err(not_installed(&format!("{} is not installed", program.display())));
    }
    Ok(Invocation {
        program,
        args: vec![r.action.clone()],
        env: ocf_env(cfg, r, provider),
        stdin: None,
        mapping: ExitMapping::Ocf,
    })
}

fn plan_lsb(cfg: &ExecConfig, r: &AgentRequest) -> Result<Invocation, OpResult> {
    let program = cfg.lsb_dir.join(&r.agent_type);
    if !is_executable(&program) {
        return Err(not_installed(&format!("{} is not installed", program.display())));
    }
    let status = r.action == "monitor" || r.action == "status";
    let action = if status { "status".to_string() } else { r.action.clone() };
    Ok(Invocation {
        program,
        args: vec![action],
        env: base_env(cfg),
        stdin: None,
        mapping: ExitMapping::Lsb { status },
    })
}

/// True when `systemctl` exists and systemd is the running init.
pub fn systemd_available(cfg: &ExecConfig) -> bool {
    is_executable(&cfg.systemctl) && cfg.systemd_run_dir.is_dir()
}

fn plan_systemd(cfg: &ExecConfig, r: &AgentRequest) -> Result<Invocation, OpResult> {
    if !systemd_available(cfg) {
        return Err(not_installed("systemd is not running on this host"));
    }
    let unit = if r.agent_type.contains('.') {
        r.agent_type.clone()
    } else {
        format!("{}.service", r.agent_type)
    };
    let (args, mapping) = match r.action.as_str() {
        "monitor" | "status" => (vec!["is-active".to_string(), unit], ExitMapping::SystemdStatus),
        "start" | "stop" | "restart" | "reload" => {
            (vec![r.action.clone(), unit], ExitMapping::SystemdAction)
        }
        "meta-data" => (vec!["cat".to_string(), unit], ExitMapping::SystemdAction),
        _ => (vec!["--version".to_string()], ExitMapping::Fixed(OcfExit::Unimplemented)),
    };
    Ok(Invocation {
        program: cfg.systemctl.clone(),
        args,
        env: base_env(cfg),
        stdin: None,
        mapping,
    })
}

/// Finds a fence agent in the configured directories.
pub fn find_fence_agent(cfg: &ExecConfig, name: &str) -> Option<PathBuf> {
    cfg.fence_dirs.iter().map(|d| d.join(name)).find(|p| is_executable(p))
}

/// The stdin text of a fence request: `action=`, every param except `pcmk_*`, and for a
/// target `nodename=` plus the host argument (`pcmk_host_argument`, default `port`) mapped
/// through `pcmk_host_map`.
pub fn fence_stdin(r: &AgentRequest, action: &str) -> String {
    let mut out = format!("action={action}\n");
    for (k, v) in &r.params {
        if !k.starts_with("pcmk_") && k != "action" {
            out.push_str(&format!("{k}={v}\n"));
        }
    }
    if let Some(t) = &r.fence_target {
        out.push_str(&format!("nodename={t}\n"));
        let arg = r.params.get("pcmk_host_argument").map(String::as_str).unwrap_or("port");
        if arg != "none" {
            let port = r
                .params
                .get("pcmk_host_map")
                .and_then(|m| {
                    m.split([';', ' ', ','])
                        .filter_map(|e| e.split_once(':'))
                        .find(|(n, _)| n == t)
                        .map(|(_, p)| p.to_string())
                })
                .unwrap_or_else(|| t.clone());
            out.push_str(&format!("{arg}={port}\n"));
        }
    }
    out
}

fn plan_stonith(cfg: &ExecConfig, r: &AgentRequest) -> Result<Invocation, OpResult> {
    let Some(program) = find_fence_agent(cfg, &r.agent_type) else {
        return Err(not_installed(&format!("fence agent {} is not installed", r.agent_type)));
    };
    // "start" of a fence device checks that it is reachable; "stop" just unregisters it.
    let action = match r.action.as_str() {
        "start" | "monitor" => "monitor",
        "stop" => {
            let mut res = OpResult::synthetic(OcfExit::Ok, ExecStatus::Done, "");
            res.exit_reason = None;
            return Err(res);
        }
        "meta-data" => "metadata",
        a => a,
    };
    Ok(Invocation {
        program,
        args: Vec::new(),
        env: base_env(cfg),
        stdin: Some(fence_stdin(r, action).into_bytes()),
        mapping: ExitMapping::Fence { status: action == "status" },
    })
}
