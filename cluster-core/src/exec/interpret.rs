//! Exit-status mapping per class and Pacemaker's interpretation of results (§1.5, §1.6).

use super::env::ExitMapping;
use super::types::{ExecStatus, OcfExit, OpResult};

/// LSB `status`: program is running.
pub const LSB_STATUS_OK: i32 = 0;
/// LSB `status`: dead, pid file exists.
pub const LSB_STATUS_VAR_PID: i32 = 1;
/// LSB `status`: dead, lock file exists.
pub const LSB_STATUS_VAR_LOCK: i32 = 2;
/// LSB `status`: not running.
pub const LSB_STATUS_NOT_RUNNING: i32 = 3;
/// Pacemaker's extension: not installed.
pub const LSB_STATUS_NOT_INSTALLED: i32 = 150;
/// Pacemaker's extension: insufficient privileges.
pub const LSB_STATUS_INSUFFICIENT_PRIV: i32 = 151;

/// Maps an LSB exit code as Pacemaker does: for non-status actions codes 0..=7 are shared with
/// OCF and anything else is a generic error; `status` has its own table.
pub fn lsb_to_ocf(status_action: bool, code: i32) -> OcfExit {
    if !status_action {
        return if (0..=7).contains(&code) {
            OcfExit::from_code(code)
        } else {
            OcfExit::ErrGeneric
        };
    }
    match code {
        LSB_STATUS_OK => OcfExit::Ok,
        LSB_STATUS_NOT_INSTALLED => OcfExit::NotInstalled,
        LSB_STATUS_INSUFFICIENT_PRIV => OcfExit::ErrPerm,
        LSB_STATUS_VAR_PID | LSB_STATUS_VAR_LOCK | LSB_STATUS_NOT_RUNNING => OcfExit::NotRunning,
        _ => OcfExit::ErrGeneric,
    }
}

/// Maps a process exit code to an OCF code according to the class.
pub fn map_exit(mapping: ExitMapping, code: i32) -> OcfExit {
    match mapping {
        ExitMapping::Ocf => OcfExit::from_code(code),
        ExitMapping::Lsb { status } => lsb_to_ocf(status, code),
        ExitMapping::SystemdStatus => {
            if code == 0 {
                OcfExit::Ok
            } else {
                OcfExit::NotRunning
            }
        }
        ExitMapping::SystemdAction => match code {
            0 => OcfExit::Ok,
            5 => OcfExit::NotInstalled,
            _ => OcfExit::ErrGeneric,
        },
        ExitMapping::Fence { status } => match (status, code) {
            (_, 0) => OcfExit::Ok,
            (true, 2) => OcfExit::NotRunning,
            _ => OcfExit::ErrGeneric,
        },
        ExitMapping::Fixed(rc) => rc,
    }
}

/// The last `prefix` line of `stderr`, without the prefix and surrounding blanks.
pub fn parse_exit_reason(stderr: &str, prefix: &str) -> Option<String> {
    stderr
        .lines()
        .rev()
        .filter_map(|l| l.strip_prefix(prefix))
        .map(str::trim)
        .find(|s| !s.is_empty())
        .map(|s| s.chars().take(512).collect())
}

/// The role a resource is in, derived from a monitor result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MonitorRole {
    /// rc 7.
    Stopped,
    /// rc 0 / 190.
    Started,
    /// rc 8 / 191.
    Promoted,
    /// rc 9.
    FailedPromoted,
    /// Anything else: failed in the unpromoted role.
    Failed,
}

/// Role derivation from a monitor rc (§1.6).
pub fn role_from_monitor(rc: OcfExit) -> MonitorRole {
    match rc.normalized() {
        OcfExit::NotRunning => MonitorRole::Stopped,
        OcfExit::Ok => MonitorRole::Started,
        OcfExit::RunningPromoted => MonitorRole::Promoted,
        OcfExit::FailedPromoted => MonitorRole::FailedPromoted,
        _ => MonitorRole::Failed,
    }
}

/// The rc the scheduler expects: 7 for a probe, 8 for a monitor in the promoted role, else 0.
pub fn expected_rc(action: &str, interval_ms: u64, promoted_role: bool) -> OcfExit {
    match (action, interval_ms) {
        ("monitor", 0) => OcfExit::NotRunning,
        ("monitor", _) if promoted_role => OcfExit::RunningPromoted,
        _ => OcfExit::Ok,
    }
}

/// How severe a failure is: where the resource may still run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// Recover in place (restart), fail-count++.
    Soft,
    /// Ban from this node.
    Hard,
    /// Stop everywhere, ban from all nodes.
    Fatal,
}

/// What a result means for the resource, as Pacemaker decides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The rc equals the expected rc.
    Success,
    /// A probe found the resource active here (role given).
    FoundActive {
        /// The probe returned 8/191.
        promoted: bool,
    },
    /// A probe found it inactive (7), or it cannot run here (5): not a failure.
    Inactive,
    /// A recurring action is not implemented (3): no recovery.
    NotSupported,
    /// A notify result, whatever it is, or a cancelled run: logged and ignored.
    Ignored,
    /// A failure of the given severity.
    Failed(Severity),
}

/// Severity of an unexpected rc (§1.5 recovery classes).
pub fn severity(rc: OcfExit) -> Severity {
    match rc {
        OcfExit::ErrArgs | OcfExit::Unimplemented | OcfExit::ErrPerm | OcfExit::NotInstalled => {
            Severity::Hard
        }
        OcfExit::NotConfigured => Severity::Fatal,
        _ => Severity::Soft,
    }
}

/// Interprets a finished operation of `action` with `interval_ms`, expecting `expected`
/// (see [`expected_rc`]).
pub fn classify(action: &str, interval_ms: u64, expected: OcfExit, res: &OpResult) -> Outcome {
    if action == "notify" {
        return Outcome::Ignored;
    }
    match res.status {
        ExecStatus::Done => {}
        ExecStatus::NotInstalled if action == "monitor" && interval_ms == 0 => {
            return Outcome::Inactive
        }
        ExecStatus::NotSupported => return Outcome::NotSupported,
        ExecStatus::Cancelled | ExecStatus::Pending => return Outcome::Ignored,
        ExecStatus::ErrorFatal => return Outcome::Failed(Severity::Fatal),
        ExecStatus::NotInstalled | ExecStatus::ErrorHard => return Outcome::Failed(Severity::Hard),
        _ => return Outcome::Failed(Severity::Soft),
    }
    let rc = res.rc.normalized();
    let probe = action == "monitor" && interval_ms == 0;
    if probe {
        return match rc {
            OcfExit::NotRunning | OcfExit::NotInstalled => Outcome::Inactive,
            OcfExit::Ok => Outcome::FoundActive { promoted: false },
            OcfExit::RunningPromoted => Outcome::FoundActive { promoted: true },
            other => Outcome::Failed(severity(other)),
        };
    }
    if rc == expected.normalized() {
        return Outcome::Success;
    }
    if interval_ms > 0 && rc == OcfExit::Unimplemented {
        return Outcome::NotSupported;
    }
    Outcome::Failed(severity(rc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(rc: i32) -> OpResult {
        let mut r = OpResult::synthetic(OcfExit::from_code(rc), ExecStatus::Done, "");
        r.exit_reason = None;
        r
    }

    #[test]
    fn lsb_status_table() {
        assert_eq!(lsb_to_ocf(true, 0), OcfExit::Ok);
        for c in [1, 2, 3] {
            assert_eq!(lsb_to_ocf(true, c), OcfExit::NotRunning);
        }
        assert_eq!(lsb_to_ocf(true, 4), OcfExit::ErrGeneric);
        assert_eq!(lsb_to_ocf(true, 150), OcfExit::NotInstalled);
        assert_eq!(lsb_to_ocf(true, 151), OcfExit::ErrPerm);
        assert_eq!(lsb_to_ocf(false, 3), OcfExit::Unimplemented);
        assert_eq!(lsb_to_ocf(false, 9), OcfExit::ErrGeneric);
    }

    #[test]
    fn probe_semantics() {
        let exp = expected_rc("monitor", 0, false);
        assert_eq!(exp, OcfExit::NotRunning);
        assert_eq!(classify("monitor", 0, exp, &done(7)), Outcome::Inactive);
        assert_eq!(classify("monitor", 0, exp, &done(5)), Outcome::Inactive);
        assert_eq!(classify("monitor", 0, exp, &done(0)), Outcome::FoundActive { promoted: false });
        assert_eq!(
            classify("monitor", 0, exp, &done(191)),
            Outcome::FoundActive { promoted: true }
        );
        assert_eq!(classify("monitor", 0, exp, &done(1)), Outcome::Failed(Severity::Soft));
    }

    #[test]
    fn recurring_and_one_shot() {
        let exp = expected_rc("monitor", 10_000, false);
        assert_eq!(classify("monitor", 10_000, exp, &done(0)), Outcome::Success);
        assert_eq!(classify("monitor", 10_000, exp, &done(190)), Outcome::Success);
        assert_eq!(classify("monitor", 10_000, exp, &done(7)), Outcome::Failed(Severity::Soft));
        assert_eq!(classify("monitor", 10_000, exp, &done(3)), Outcome::NotSupported);
        let pexp = expected_rc("monitor", 10_000, true);
        assert_eq!(classify("monitor", 10_000, pexp, &done(8)), Outcome::Success);
        assert_eq!(classify("monitor", 10_000, pexp, &done(9)), Outcome::Failed(Severity::Soft));
        let s = expected_rc("start", 0, false);
        assert_eq!(classify("start", 0, s, &done(2)), Outcome::Failed(Severity::Hard));
        assert_eq!(classify("start", 0, s, &done(5)), Outcome::Failed(Severity::Hard));
        assert_eq!(classify("start", 0, s, &done(6)), Outcome::Failed(Severity::Fatal));
        assert_eq!(classify("start", 0, s, &done(1)), Outcome::Failed(Severity::Soft));
        assert_eq!(classify("notify", 0, s, &done(1)), Outcome::Ignored);
        let t = OpResult::synthetic(OcfExit::ErrGeneric, ExecStatus::Timeout, "timed out");
        assert_eq!(classify("start", 0, s, &t), Outcome::Failed(Severity::Soft));
        let c = OpResult::synthetic(OcfExit::ErrGeneric, ExecStatus::Cancelled, "cancelled");
        assert_eq!(classify("monitor", 10_000, exp, &c), Outcome::Ignored);
    }

    #[test]
    fn roles_and_reasons() {
        assert_eq!(role_from_monitor(OcfExit::NotRunning), MonitorRole::Stopped);
        assert_eq!(role_from_monitor(OcfExit::Degraded), MonitorRole::Started);
        assert_eq!(role_from_monitor(OcfExit::RunningPromoted), MonitorRole::Promoted);
        assert_eq!(role_from_monitor(OcfExit::FailedPromoted), MonitorRole::FailedPromoted);
        assert_eq!(role_from_monitor(OcfExit::ErrGeneric), MonitorRole::Failed);
        let err = "INFO: x\nocf-exit-reason:first\nnoise\nocf-exit-reason: last one \n";
        assert_eq!(parse_exit_reason(err, "ocf-exit-reason:").as_deref(), Some("last one"));
        assert_eq!(parse_exit_reason("nothing", "ocf-exit-reason:"), None);
        for c in [0, 1, 7, 9, 42, 189, 190, 191, 193, 255] {
            assert_eq!(OcfExit::from_code(c).code(), c);
        }
    }
}
