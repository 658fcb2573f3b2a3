//! Request and result types of the executor: exit codes, execution status, the agent request.

use std::collections::BTreeMap;
use std::fmt;

/// An OCF exit code (`ocf-returncodes`), plus Pacemaker's internal codes and custom values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OcfExit {
    /// 0 `OCF_SUCCESS`: success, or running (monitor).
    Ok,
    /// 1 `OCF_ERR_GENERIC`: generic failure (soft).
    ErrGeneric,
    /// 2 `OCF_ERR_ARGS`: parameters wrong on this host (hard).
    ErrArgs,
    /// 3 `OCF_ERR_UNIMPLEMENTED`: action not implemented.
    Unimplemented,
    /// 4 `OCF_ERR_PERM`: insufficient privileges (hard).
    ErrPerm,
    /// 5 `OCF_ERR_INSTALLED`: software missing on this host (hard).
    NotInstalled,
    /// 6 `OCF_ERR_CONFIGURED`: parameters inherently invalid (fatal).
    NotConfigured,
    /// 7 `OCF_NOT_RUNNING`: cleanly stopped.
    NotRunning,
    /// 8 `OCF_RUNNING_PROMOTED`: running in the promoted role.
    RunningPromoted,
    /// 9 `OCF_FAILED_PROMOTED`: failed, possibly still promoted.
    FailedPromoted,
    /// 189 `PCMK_OCF_CONNECTION_DIED` (internal, deprecated).
    ConnectionDied,
    /// 190 `OCF_DEGRADED`: running but degraded (treated like 0).
    Degraded,
    /// 191 `OCF_DEGRADED_PROMOTED`: promoted but degraded (treated like 8).
    DegradedPromoted,
    /// 193 `PCMK_OCF_UNKNOWN`: internal, the action is pending.
    Pending,
    /// Any other (custom) exit code; treated as a soft failure.
    Other(i32),
}

impl OcfExit {
    /// The numeric exit code.
    pub fn code(self) -> i32 {
        match self {
            OcfExit::Ok => 0,
            OcfExit::ErrGeneric => 1,
            OcfExit::ErrArgs => 2,
            OcfExit::Unimplemented => 3,
            OcfExit::ErrPerm => 4,
            OcfExit::NotInstalled => 5,
            OcfExit::NotConfigured => 6,
            OcfExit::NotRunning => 7,
            OcfExit::RunningPromoted => 8,
            OcfExit::FailedPromoted => 9,
            OcfExit::ConnectionDied => 189,
            OcfExit::Degraded => 190,
            OcfExit::DegradedPromoted => 191,
            OcfExit::Pending => 193,
            OcfExit::Other(c) => c,
        }
    }

    /// The exit code for a numeric value (`from_code(c).code() == c` for every `c`).
    pub fn from_code(code: i32) -> OcfExit {
        match code {
            0 => OcfExit::Ok,
            1 => OcfExit::ErrGeneric,
            2 => OcfExit::ErrArgs,
            3 => OcfExit::Unimplemented,
            4 => OcfExit::ErrPerm,
            5 => OcfExit::NotInstalled,
            6 => OcfExit::NotConfigured,
            7 => OcfExit::NotRunning,
            8 => OcfExit::RunningPromoted,
            9 => OcfExit::FailedPromoted,
            189 => OcfExit::ConnectionDied,
            190 => OcfExit::Degraded,
            191 => OcfExit::DegradedPromoted,
            193 => OcfExit::Pending,
            c => OcfExit::Other(c),
        }
    }

    /// The code with the degraded variants folded onto 0 / 8, as the scheduler compares them.
    pub fn normalized(self) -> OcfExit {
        match self {
            OcfExit::Degraded => OcfExit::Ok,
            OcfExit::DegradedPromoted => OcfExit::RunningPromoted,
            other => other,
        }
    }

    /// The name Pacemaker prints for this code (`crm_mon`, `crm_error -r`).
    pub fn name(self) -> &'static str {
        match self {
            OcfExit::Ok => "ok",
            OcfExit::ErrGeneric => "error",
            OcfExit::ErrArgs => "invalid parameter",
            OcfExit::Unimplemented => "unimplemented feature",
            OcfExit::ErrPerm => "insufficient privileges",
            OcfExit::NotInstalled => "not installed",
            OcfExit::NotConfigured => "not configured",
            OcfExit::NotRunning => "not running",
            OcfExit::RunningPromoted => "promoted",
            OcfExit::FailedPromoted => "promoted (failed)",
            OcfExit::ConnectionDied => "connection died",
            OcfExit::Degraded => "OCF_DEGRADED",
            OcfExit::DegradedPromoted => "promoted (degraded)",
            OcfExit::Pending => "unknown",
            OcfExit::Other(_) => "unknown",
        }
    }
}

impl fmt::Display for OcfExit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.code())
    }
}

/// Executor status of an operation (`op-status` in the CIB, Pacemaker's `enum pcmk_exec_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExecStatus {
    /// -1: in flight.
    Pending,
    /// 0: the agent ran to completion; the rc is meaningful.
    Done,
    /// 1: cancelled before completion.
    Cancelled,
    /// 2: the timeout expired and the process group was killed (rc is 1).
    Timeout,
    /// 3: the action is not supported (recurring action returned 3).
    NotSupported,
    /// 4: the agent could not be run or died from a signal.
    Error,
    /// 5: hard error.
    ErrorHard,
    /// 6: fatal error (the request itself is invalid).
    ErrorFatal,
    /// 7: the agent is not installed on this host.
    NotInstalled,
    /// 8: not connected.
    NotConnected,
    /// 9: invalid.
    Invalid,
    /// 10: no fence device.
    NoFenceDevice,
    /// 11: secrets missing.
    NoSecrets,
}

impl ExecStatus {
    /// The numeric value stored as `op-status`.
    pub fn code(self) -> i32 {
        match self {
            ExecStatus::Pending => -1,
            ExecStatus::Done => 0,
            ExecStatus::Cancelled => 1,
            ExecStatus::Timeout => 2,
            ExecStatus::NotSupported => 3,
            ExecStatus::Error => 4,
            ExecStatus::ErrorHard => 5,
            ExecStatus::ErrorFatal => 6,
            ExecStatus::NotInstalled => 7,
            ExecStatus::NotConnected => 8,
            ExecStatus::Invalid => 9,
            ExecStatus::NoFenceDevice => 10,
            ExecStatus::NoSecrets => 11,
        }
    }
}

/// The resource class (`class=` of a primitive).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AgentClass {
    /// OCF agent `$OCF_ROOT/resource.d/<provider>/<type>`.
    Ocf {
        /// Provider directory name (`heartbeat`, `pacemaker`, ...).
        provider: String,
    },
    /// SysV init script `/etc/init.d/<type>`.
    Lsb,
    /// systemd unit, driven through `systemctl`.
    Systemd,
    /// `service`: systemd when systemd runs, else LSB.
    Service,
    /// Fence agent `fence_xxx`, options on stdin.
    Stonith,
}

impl AgentClass {
    /// Parses `ocf:provider`, `lsb`, `systemd`, `service`, `stonith` (the class and, for OCF,
    /// the provider, as in `ocf:heartbeat:Dummy` without the type).
    pub fn parse(class: &str, provider: Option<&str>) -> Option<AgentClass> {
        match (class, provider) {
            ("ocf", Some(p)) if !p.is_empty() => Some(AgentClass::Ocf { provider: p.to_string() }),
            ("lsb", None) => Some(AgentClass::Lsb),
            ("systemd", None) => Some(AgentClass::Systemd),
            ("service", None) => Some(AgentClass::Service),
            ("stonith", None) => Some(AgentClass::Stonith),
            _ => None,
        }
    }

    /// The class name as written in the CIB.
    pub fn name(&self) -> &'static str {
        match self {
            AgentClass::Ocf { .. } => "ocf",
            AgentClass::Lsb => "lsb",
            AgentClass::Systemd => "systemd",
            AgentClass::Service => "service",
            AgentClass::Stonith => "stonith",
        }
    }
}

/// The clone instance an action runs for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CloneInstance {
    /// Instance number `N` of `rsc:N`.
    pub number: u32,
    /// `globally-unique=true`: the agent sees `rsc:N`; anonymous clones see the base id.
    pub globally_unique: bool,
}

/// Notification variables of a clone `notify` action (§1.8). Each list holds instance or node
/// names; both the promoted/unpromoted and the legacy master/slave names are exported.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotifyVars {
    /// `pre` or `post`.
    pub notify_type: String,
    /// `start`, `stop`, `promote` or `demote`.
    pub operation: String,
    /// Instances to be started, with their nodes (paired by position).
    pub start: Vec<(String, String)>,
    /// Instances to be stopped.
    pub stop: Vec<(String, String)>,
    /// Instances to be promoted.
    pub promote: Vec<(String, String)>,
    /// Instances to be demoted.
    pub demote: Vec<(String, String)>,
    /// Currently active instances.
    pub active: Vec<(String, String)>,
    /// Currently promoted instances.
    pub promoted: Vec<(String, String)>,
    /// Currently unpromoted instances.
    pub unpromoted: Vec<(String, String)>,
    /// Inactive instances (no node).
    pub inactive: Vec<String>,
    /// All nodes.
    pub all_uname: Vec<String>,
    /// Nodes where the clone may run.
    pub available_uname: Vec<String>,
}

/// One action for one agent. Build with [`AgentRequest::new`] and the `with_*` setters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentRequest {
    /// Resource id (`rsc`, without any `:N`).
    pub rsc_id: String,
    /// Class (and provider for OCF).
    pub class: AgentClass,
    /// Agent name (`Dummy`, init script, unit, `fence_xxx`).
    pub agent_type: String,
    /// Action name (`start`, `stop`, `monitor`, `meta-data`, `notify`, ... or fence actions).
    pub action: String,
    /// Instance attributes, exported as `OCF_RESKEY_<name>` (or stdin lines for stonith).
    pub params: BTreeMap<String, String>,
    /// Meta attributes, exported as `OCF_RESKEY_CRM_meta_<name>` with `-` turned into `_`.
    pub meta: BTreeMap<String, String>,
    /// Interval of a recurring action in ms; 0 for one-shot actions and probes.
    pub interval_ms: u64,
    /// Timeout in ms; the process group is killed when it expires. 0 means the default
    /// ([`DEFAULT_TIMEOUT_MS`]), as an op without `timeout` in Pacemaker.
    pub timeout_ms: u64,
    /// `OCF_CHECK_LEVEL` (monitor depth), exported without the `OCF_RESKEY_` prefix.
    pub check_level: Option<u32>,
    /// Clone instance, if the resource is a clone.
    pub clone: Option<CloneInstance>,
    /// Notification variables (for `notify`).
    pub notify: Option<NotifyVars>,
    /// Run the agent inside this network namespace (`ip netns exec NAME ...`).
    pub netns: Option<String>,
    /// Stonith only: node to fence; passed as `nodename=` and as the host argument.
    pub fence_target: Option<String>,
}

/// Default timeout of an operation without one (Pacemaker's 20 s).
pub const DEFAULT_TIMEOUT_MS: u64 = 20_000;

impl AgentRequest {
    /// A request with no params or meta, interval 0 and the default timeout.
    pub fn new(rsc_id: &str, class: AgentClass, agent_type: &str, action: &str) -> AgentRequest {
        AgentRequest {
            rsc_id: rsc_id.to_string(),
            class,
            agent_type: agent_type.to_string(),
            action: action.to_string(),
            params: BTreeMap::new(),
            meta: BTreeMap::new(),
            interval_ms: 0,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            check_level: None,
            clone: None,
            notify: None,
            netns: None,
            fence_target: None,
        }
    }

    /// Shorthand for an `ocf:<provider>:<type>` request.
    pub fn ocf(rsc_id: &str, provider: &str, agent_type: &str, action: &str) -> AgentRequest {
        let class = AgentClass::Ocf { provider: provider.to_string() };
        AgentRequest::new(rsc_id, class, agent_type, action)
    }

    /// Adds one instance attribute.
    pub fn with_param(mut self, name: &str, value: &str) -> AgentRequest {
        self.params.insert(name.to_string(), value.to_string());
        self
    }

    /// Adds one meta attribute.
    pub fn with_meta(mut self, name: &str, value: &str) -> AgentRequest {
        self.meta.insert(name.to_string(), value.to_string());
        self
    }

    /// Sets the interval in ms (0 = one-shot / probe).
    pub fn with_interval_ms(mut self, interval_ms: u64) -> AgentRequest {
        self.interval_ms = interval_ms;
        self
    }

    /// Sets the timeout in ms.
    pub fn with_timeout_ms(mut self, timeout_ms: u64) -> AgentRequest {
        self.timeout_ms = timeout_ms;
        self
    }

    /// Sets the network namespace the agent runs in.
    pub fn with_netns(mut self, netns: &str) -> AgentRequest {
        self.netns = Some(netns.to_string());
        self
    }

    /// The same request with another action (and interval).
    pub fn for_action(&self, action: &str, interval_ms: u64) -> AgentRequest {
        let mut r = self.clone();
        r.action = action.to_string();
        r.interval_ms = interval_ms;
        r
    }

    /// `OCF_RESOURCE_INSTANCE`: `rsc:N` for globally unique clones, else the base id.
    pub fn instance_name(&self) -> String {
        match &self.clone {
            Some(c) if c.globally_unique => format!("{}:{}", self.rsc_id, c.number),
            _ => self.rsc_id.clone(),
        }
    }

    /// The timeout that applies: `timeout_ms`, or [`DEFAULT_TIMEOUT_MS`] when it is 0.
    pub fn effective_timeout_ms(&self) -> u64 {
        if self.timeout_ms == 0 {
            DEFAULT_TIMEOUT_MS
        } else {
            self.timeout_ms
        }
    }

    /// True for a probe: a `monitor` (or `status`) with interval 0.
    pub fn is_probe(&self) -> bool {
        self.interval_ms == 0 && (self.action == "monitor" || self.action == "status")
    }

    /// The operation key Pacemaker uses (`rsc_action_interval`), e.g. `vip_monitor_10000`.
    pub fn op_key(&self) -> String {
        format!("{}_{}_{}", self.rsc_id, self.action, self.interval_ms)
    }
}

/// Identifies one submitted operation of a runner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OpId(pub u64);

/// The outcome of one operation, as Pacemaker's executor reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpResult {
    /// OCF exit code (after class-specific mapping: LSB status codes, fence codes).
    pub rc: OcfExit,
    /// Execution status; `rc` is meaningful only for [`ExecStatus::Done`].
    pub status: ExecStatus,
    /// The last `ocf-exit-reason:` line of stderr, or the executor's own reason.
    pub exit_reason: Option<String>,
    /// Raw exit status of the process (`None` when killed by a signal or never run).
    pub raw_exit: Option<i32>,
    /// Captured stdout (bounded, lossy UTF-8).
    pub stdout: String,
    /// Captured stderr (bounded, lossy UTF-8).
    pub stderr: String,
    /// Wall time the action took in ms.
    pub duration_ms: u64,
}

impl OpResult {
    /// A result produced by the executor itself, without running anything.
    pub fn synthetic(rc: OcfExit, status: ExecStatus, reason: &str) -> OpResult {
        OpResult {
            rc,
            status,
            exit_reason: Some(reason.to_string()),
            raw_exit: None,
            stdout: String::new(),
            stderr: String::new(),
            duration_ms: 0,
        }
    }
}
