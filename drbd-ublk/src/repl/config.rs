//! Settings of one replicated resource as the replication engine sees them (already validated
//! by the configuration parser; the field names follow drbd.conf).

/// Replication protocol (`net { protocol … }`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// Asynchronous: a write completes when the local write is done and the data is queued.
    A,
    /// Memory-synchronous: completes when the peer received the data.
    B,
    /// Synchronous: completes when the peer wrote the data.
    C,
}

impl Protocol {
    /// Letter used in the handshake.
    pub fn letter(self) -> u8 {
        match self {
            Protocol::A => b'A',
            Protocol::B => b'B',
            Protocol::C => b'C',
        }
    }
}

/// `after-sb-0pri` policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AfterSb0 {
    /// No automatic recovery.
    Disconnect,
    /// The node promoted later during the split loses.
    DiscardYoungerPrimary,
    /// The node that was Primary first loses.
    DiscardOlderPrimary,
    /// A node without changes loses.
    DiscardZeroChanges,
    /// The node with fewer changes loses.
    DiscardLeastChanges,
    /// The named node loses (`discard-node-NODENAME`).
    DiscardNode(String),
}

/// `after-sb-1pri` policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterSb1 {
    /// No automatic recovery.
    Disconnect,
    /// Apply the 0pri policy only if it discards the Secondary.
    Consensus,
    /// Apply the 0pri policy; a losing Primary is demoted or calls `pri-lost-after-sb`.
    CallPriLostAfterSb,
    /// The Secondary always loses.
    DiscardSecondary,
    /// Apply the 0pri policy even if the Primary loses.
    ViolentlyAs0p,
}

/// `after-sb-2pri` policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterSb2 {
    /// No automatic recovery.
    Disconnect,
    /// Apply the 0pri policy; the loser calls `pri-lost-after-sb`.
    CallPriLostAfterSb,
    /// Apply the 0pri policy even though a Primary loses.
    ViolentlyAs0p,
}

/// `fencing` policy (§7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fencing {
    /// No fencing; a Consistent disk counts as UpToDate on attach.
    DontCare,
    /// Call `fence-peer` when a Primary loses a peer not known to be outdated.
    ResourceOnly,
    /// Like resource-only, and freeze I/O until the handler answers.
    ResourceAndStonith,
}

/// `rr-conflict` policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RrConflict {
    /// Drop the connection.
    Disconnect,
    /// Call the `pri-lost` handler, then drop the connection.
    CallPriLost,
    /// Become SyncTarget anyway.
    Violently,
}

/// Resync rate settings (`disk { resync-rate c-plan-ahead … }`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResyncRate {
    /// Fixed rate in KiB/s (used when `c_plan_ahead` is 0, and as the start value).
    pub resync_rate_kib: u32,
    /// Controller planning horizon in 0.1 s; 0 disables the dynamic controller.
    pub c_plan_ahead: u32,
    /// Sectors the controller tries to keep in flight (0 = use `c_delay_target`).
    pub c_fill_target: u32,
    /// Target delay in 0.1 s (when `c_fill_target` is 0).
    pub c_delay_target: u32,
    /// Upper bound of the controller in KiB/s.
    pub c_max_rate_kib: u32,
    /// Below this rate the resync is never throttled for application I/O (KiB/s; 0 = never
    /// throttle).
    pub c_min_rate_kib: u32,
    /// Peer receive buffers; at most half of them are used for resync requests in flight.
    pub max_buffers: u32,
}

impl Default for ResyncRate {
    /// DRBD 8.4 code defaults.
    fn default() -> Self {
        ResyncRate {
            resync_rate_kib: 250,
            c_plan_ahead: 20,
            c_fill_target: 100,
            c_delay_target: 10,
            c_max_rate_kib: 102_400,
            c_min_rate_kib: 250,
            max_buffers: 2048,
        }
    }
}

/// Everything the replication engine needs to know about its resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplConfig {
    /// This node's name (`on NAME`).
    pub node_name: String,
    /// The peer's name.
    pub peer_name: String,
    /// Usable size of the replicated device in sectors.
    pub size_sectors: u64,
    /// Replication protocol.
    pub protocol: Protocol,
    /// `allow-two-primaries`.
    pub allow_two_primaries: bool,
    /// `after-sb-0pri`.
    pub after_sb_0pri: AfterSb0,
    /// `after-sb-1pri`.
    pub after_sb_1pri: AfterSb1,
    /// `after-sb-2pri`.
    pub after_sb_2pri: AfterSb2,
    /// `rr-conflict`.
    pub rr_conflict: RrConflict,
    /// `fencing`.
    pub fencing: Fencing,
    /// `max-epoch-size` (writes per epoch).
    pub max_epoch_size: u32,
    /// `al-extents` (activity log slots).
    pub al_extents: u32,
    /// `csums-alg` configured: checksum-based resync.
    pub csums: bool,
    /// `verify-alg` configured: online verify allowed.
    pub verify: bool,
    /// Resync rate control.
    pub rate: ResyncRate,
    /// `disk-flushes`: the receiver flushes its disk at the end of every epoch before it
    /// acknowledges the barrier and takes the next epoch's writes (write ordering "flush").
    pub disk_flushes: bool,
    /// `disk-drain` (used when `disk-flushes` is off): the receiver waits for the epoch's
    /// writes before it takes the next epoch's ("drain"). With both off ("none") epochs
    /// overlap on the receiver and each is acknowledged when its own writes are done.
    pub disk_drain: bool,
    /// `md-flushes`: metadata writes are preceded by a flush of the data and made durable
    /// with a flush of their own.
    pub md_flushes: bool,
    /// Seed of the engine's identifier generator (new generation UUIDs). The real daemon seeds
    /// it from the OS at start; the simulator from its seed. The engine itself never draws
    /// randomness.
    pub uuid_seed: u64,
}

impl ReplConfig {
    /// Defaults of DRBD 8.4 for a resource between `node_name` and `peer_name`.
    pub fn new(node_name: &str, peer_name: &str, size_sectors: u64) -> Self {
        ReplConfig {
            node_name: node_name.to_string(),
            peer_name: peer_name.to_string(),
            size_sectors,
            protocol: Protocol::C,
            allow_two_primaries: false,
            after_sb_0pri: AfterSb0::Disconnect,
            after_sb_1pri: AfterSb1::Disconnect,
            after_sb_2pri: AfterSb2::Disconnect,
            rr_conflict: RrConflict::Disconnect,
            fencing: Fencing::DontCare,
            max_epoch_size: 2048,
            al_extents: 1237,
            csums: false,
            verify: false,
            rate: ResyncRate::default(),
            disk_flushes: true,
            disk_drain: true,
            md_flushes: true,
            uuid_seed: 0x5eed,
        }
    }
}
