//! Connection, role and disk states with DRBD 8.4's names and numeric values, and the
//! state-change errors (`SS_*`) the admin commands return.
//!
//! The numeric order matters: DRBD compares states with `<`/`>` (for instance "connected" means
//! `cs >= Connected`, "has usable data" means `ds >= Inconsistent`), and the same comparisons are
//! used in [`crate::repl::Replicator`]. The values are those of DRBD 8.4 (in 9.x `Detaching` is
//! inserted after `Attaching`; we follow 8.4 because `/proc/drbd` and P_STATE use it).

use std::fmt;

/// Connection state (`cs:`), numbered as in DRBD 8.4.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum ConnState {
    /// No network configuration.
    StandAlone = 0,
    /// Transient on the way to StandAlone.
    Disconnecting = 1,
    /// Configured, about to (re)try.
    Unconnected = 2,
    /// Disconnect reason: the peer timed out.
    Timeout = 3,
    /// Disconnect reason: broken pipe.
    BrokenPipe = 4,
    /// Disconnect reason: network failure.
    NetworkFailure = 5,
    /// Disconnect reason: the handshake or a packet was rejected.
    ProtocolError = 6,
    /// Disconnect reason: the peer closed the connection.
    TearDown = 7,
    /// Waiting for the link to come up.
    WFConnection = 8,
    /// Link up, handshake in progress.
    WFReportParams = 9,
    /// Connected, nothing to resync.
    Connected = 10,
    /// Admin-requested full sync starting, this node is the source.
    StartingSyncS = 11,
    /// Admin-requested full sync starting, this node is the target.
    StartingSyncT = 12,
    /// Bitmap exchange, this node will be the source.
    WFBitMapS = 13,
    /// Bitmap exchange, this node will be the target.
    WFBitMapT = 14,
    /// Target waiting for the sync UUID.
    WFSyncUUID = 15,
    /// Resync running, this node is the source.
    SyncSource = 16,
    /// Resync running, this node is the target.
    SyncTarget = 17,
    /// Online verify, this node drives it.
    VerifyS = 18,
    /// Online verify, the peer drives it.
    VerifyT = 19,
    /// Resync paused, source side.
    PausedSyncS = 20,
    /// Resync paused, target side.
    PausedSyncT = 21,
    /// Congestion: replication replaced by out-of-sync tracking (source).
    Ahead = 22,
    /// Congestion: the peer is Ahead.
    Behind = 23,
}

impl ConnState {
    /// DRBD's name, as printed by `/proc/drbd` and `drbdadm cstate`.
    pub fn name(self) -> &'static str {
        use ConnState::*;
        match self {
            StandAlone => "StandAlone",
            Disconnecting => "Disconnecting",
            Unconnected => "Unconnected",
            Timeout => "Timeout",
            BrokenPipe => "BrokenPipe",
            NetworkFailure => "NetworkFailure",
            ProtocolError => "ProtocolError",
            TearDown => "TearDown",
            WFConnection => "WFConnection",
            WFReportParams => "WFReportParams",
            Connected => "Connected",
            StartingSyncS => "StartingSyncS",
            StartingSyncT => "StartingSyncT",
            WFBitMapS => "WFBitMapS",
            WFBitMapT => "WFBitMapT",
            WFSyncUUID => "WFSyncUUID",
            SyncSource => "SyncSource",
            SyncTarget => "SyncTarget",
            VerifyS => "VerifyS",
            VerifyT => "VerifyT",
            PausedSyncS => "PausedSyncS",
            PausedSyncT => "PausedSyncT",
            Ahead => "Ahead",
            Behind => "Behind",
        }
    }

    /// True for the states in which a peer link exists and the handshake finished.
    pub fn is_connected(self) -> bool {
        self >= ConnState::Connected
    }

    /// True for the resync states 16..=21 (including verify and paused).
    pub fn is_sync(self) -> bool {
        (ConnState::SyncSource..=ConnState::PausedSyncT).contains(&self)
    }
}

impl fmt::Display for ConnState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Role (`ro:`), numbered as in DRBD.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Role {
    /// Peer role when not connected.
    Unknown = 0,
    /// May write.
    Primary = 1,
    /// Read-only replica.
    Secondary = 2,
}

impl Role {
    /// DRBD's name.
    pub fn name(self) -> &'static str {
        match self {
            Role::Unknown => "Unknown",
            Role::Primary => "Primary",
            Role::Secondary => "Secondary",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Disk state (`ds:`), numbered as in DRBD 8.4.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum DiskState {
    /// No backing disk.
    Diskless = 0,
    /// Reading metadata.
    Attaching = 1,
    /// I/O error, about to detach.
    Failed = 2,
    /// Attached while connected, handshake decides.
    Negotiating = 3,
    /// Data not usable (resync target or never synced).
    Inconsistent = 4,
    /// Consistent but known to be older than the peer's.
    Outdated = 5,
    /// Peer disk state unknown (peer only).
    DUnknown = 6,
    /// Consistent, not known whether up to date.
    Consistent = 7,
    /// Latest data.
    UpToDate = 8,
}

impl DiskState {
    /// DRBD's name.
    pub fn name(self) -> &'static str {
        use DiskState::*;
        match self {
            Diskless => "Diskless",
            Attaching => "Attaching",
            Failed => "Failed",
            Negotiating => "Negotiating",
            Inconsistent => "Inconsistent",
            Outdated => "Outdated",
            DUnknown => "DUnknown",
            Consistent => "Consistent",
            UpToDate => "UpToDate",
        }
    }
}

impl fmt::Display for DiskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A refused state change, with DRBD's `SS_*` return codes (see [`StateError::code`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// Both nodes would be Primary without allow-two-primaries.
    #[error("State change failed: (-1) Multiple primaries not allowed by config")]
    TwoPrimaries,
    /// Promotion needs UpToDate data (or `--force`).
    #[error("State change failed: (-2) Need access to UpToDate data")]
    NoUpToDateDisk,
    /// The operation needs a local disk.
    #[error("State change failed: (-4) Need a local disk")]
    NoLocalDisk,
    /// The operation needs a disk on the peer.
    #[error("State change failed: (-5) Need a remote disk")]
    NoRemoteDisk,
    /// A state change is already running.
    #[error("State change failed: (-9) Concurrent state changes detected and aborted")]
    InTransientState,
    /// The operation needs a connection.
    #[error("State change failed: (-15) Need a connection to start verify or resync")]
    NeedConnection,
    /// A resync is already running.
    #[error("State change failed: (-10) Resync already running")]
    ResyncRunning,
    /// Disconnect while already StandAlone.
    #[error("State change failed: (-11) Already StandAlone")]
    AlreadyStandAlone,
    /// Connected while outdated and would become sync source.
    #[error("State change failed: (-13) Refusing to be Outdated while Connected")]
    ConnectedOutdates,
    /// Verify requested without verify-alg.
    #[error("State change failed: (-14) Need a verify algorithm to start online verify")]
    NoVerifyAlg,
    /// The device is still open for writing.
    #[error("State change failed: (-12) Device is held open by someone")]
    DeviceInUse,
    /// The peer refused the cluster-wide state change.
    #[error("State change failed: (-19) State change was refused by peer node")]
    RefusedByPeer,
    /// `attach` while a disk is attached.
    #[error("(124) Device is attached to a disk (use detach first)")]
    AlreadyAttached,
    /// `connect` while a connection is configured.
    #[error("(125) Device has a net-config (use disconnect first)")]
    AlreadyConnected,
    /// Metadata with hot activity-log extents must be recovered first.
    #[error(
        "(118) IO error(s) occurred during initial access to meta-data: activity log not applied"
    )]
    UncleanMetadata,
    /// Local disk and peer disagree on size and the disk would shrink.
    #[error("(111) Low.dev. smaller than requested DRBD-dev. size")]
    DeviceTooSmall,
}

impl StateError {
    /// DRBD's numeric code (`SS_*` negative, `ERR_*` positive) as drbdsetup prints it.
    pub fn code(&self) -> i32 {
        use StateError::*;
        match self {
            TwoPrimaries => -1,
            NoUpToDateDisk => -2,
            NoLocalDisk => -4,
            NoRemoteDisk => -5,
            InTransientState => -9,
            ResyncRunning => -10,
            AlreadyStandAlone => -11,
            DeviceInUse => -12,
            ConnectedOutdates => -13,
            NoVerifyAlg => -14,
            NeedConnection => -15,
            RefusedByPeer => -19,
            AlreadyAttached => 124,
            AlreadyConnected => 125,
            UncleanMetadata => 118,
            DeviceTooSmall => 111,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_values_match_drbd_84() {
        assert_eq!(ConnState::WFConnection as u8, 8);
        assert_eq!(ConnState::Connected as u8, 10);
        assert_eq!(ConnState::SyncTarget as u8, 17);
        assert_eq!(ConnState::Behind as u8, 23);
        assert_eq!(DiskState::Inconsistent as u8, 4);
        assert_eq!(DiskState::DUnknown as u8, 6);
        assert_eq!(DiskState::UpToDate as u8, 8);
        assert_eq!(Role::Secondary as u8, 2);
        assert!(ConnState::SyncSource.is_sync() && !ConnState::Ahead.is_sync());
        assert_eq!(StateError::TwoPrimaries.code(), -1);
        assert_eq!(ConnState::WFBitMapT.to_string(), "WFBitMapT");
    }
}
