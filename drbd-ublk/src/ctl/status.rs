//! [`ResourceStatus`]: everything the status outputs show about one resource (one volume, one
//! peer), and its `key=value` encoding on the control socket.

use super::CtlError;
use crate::repl::{ConnState, DiskState, Role};

/// Resync or verify progress.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SyncProgress {
    /// Total to sync (or verify) at start, KiB.
    pub total_kib: u64,
    /// Still to do, KiB.
    pub left_kib: u64,
    /// Recent speed, KiB/s.
    pub speed_kib_s: u64,
    /// Average speed since start, KiB/s.
    pub avg_kib_s: u64,
    /// Estimated seconds left.
    pub eta_s: u64,
    /// Online verify rather than resync.
    pub verify: bool,
}

impl SyncProgress {
    /// Done in per mille, as /proc/drbd computes it.
    pub fn permille(&self) -> u64 {
        if self.total_kib == 0 {
            return 1000;
        }
        1000 - (self.left_kib.min(self.total_kib) * 1000 / self.total_kib)
    }

    /// Done in percent, as `drbdadm status` prints it (`done:`).
    pub fn percent(&self) -> f64 {
        if self.total_kib == 0 {
            return 100.0;
        }
        let done = self.total_kib - self.left_kib.min(self.total_kib);
        done as f64 * 100.0 / self.total_kib as f64
    }
}

/// State and counters of one resource as the daemon reports them.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceStatus {
    /// Resource name.
    pub name: String,
    /// Device minor.
    pub minor: u32,
    /// Volume number.
    pub volume: u16,
    /// Peer node name (empty when the resource has no peer).
    pub peer: String,
    /// Own role.
    pub role: Role,
    /// Peer role.
    pub peer_role: Role,
    /// Connection state.
    pub cstate: ConnState,
    /// Own disk state.
    pub disk: DiskState,
    /// Peer disk state.
    pub peer_disk: DiskState,
    /// Protocol letter.
    pub protocol: char,
    /// I/O suspended.
    pub suspended: bool,
    /// Resync paused by the peer.
    pub peer_isp: bool,
    /// Resync paused by the user here.
    pub user_isp: bool,
    /// Network sent, KiB.
    pub ns: u64,
    /// Network received, KiB.
    pub nr: u64,
    /// Disk written, KiB.
    pub dw: u64,
    /// Disk read, KiB.
    pub dr: u64,
    /// AL transaction writes.
    pub al: u64,
    /// Bitmap page writes.
    pub bm: u64,
    /// Open requests to the backing device.
    pub lo: u64,
    /// Requests sent to the peer waiting for an answer.
    pub pe: u64,
    /// Requests received from the peer not yet acknowledged.
    pub ua: u64,
    /// Application requests in progress.
    pub ap: u64,
    /// Epochs in flight.
    pub ep: u64,
    /// Write-ordering method letter (b, f, d, n).
    pub wo: char,
    /// Out of sync, KiB.
    pub oos: u64,
    /// Size of the device, KiB.
    pub size_kib: u64,
    /// Resync or verify progress while one runs.
    pub sync: Option<SyncProgress>,
    /// Block device serving the volume (`/dev/loopN`), empty when none.
    pub device: String,
}

impl ResourceStatus {
    /// A resource that is up with nothing attached or connected.
    pub fn new(name: &str, minor: u32) -> ResourceStatus {
        ResourceStatus {
            name: name.to_string(),
            minor,
            volume: 0,
            peer: String::new(),
            role: Role::Secondary,
            peer_role: Role::Unknown,
            cstate: ConnState::StandAlone,
            disk: DiskState::Diskless,
            peer_disk: DiskState::DUnknown,
            protocol: 'C',
            suspended: false,
            peer_isp: false,
            user_isp: false,
            ns: 0,
            nr: 0,
            dw: 0,
            dr: 0,
            al: 0,
            bm: 0,
            lo: 0,
            pe: 0,
            ua: 0,
            ap: 0,
            ep: 0,
            wo: 'f',
            oos: 0,
            size_kib: 0,
            sync: None,
            device: String::new(),
        }
    }

    /// `key=value` lines.
    pub fn encode(&self) -> String {
        let mut s = String::new();
        let mut kv = |k: &str, v: String| {
            s.push_str(k);
            s.push('=');
            s.push_str(&v);
            s.push('\n');
        };
        kv("name", self.name.clone());
        kv("minor", self.minor.to_string());
        kv("volume", self.volume.to_string());
        kv("peer", self.peer.clone());
        kv("role", self.role.name().into());
        kv("peer-role", self.peer_role.name().into());
        kv("cstate", self.cstate.name().into());
        kv("disk", self.disk.name().into());
        kv("peer-disk", self.peer_disk.name().into());
        kv("protocol", self.protocol.to_string());
        kv("suspended", u8::from(self.suspended).to_string());
        kv("peer-isp", u8::from(self.peer_isp).to_string());
        kv("user-isp", u8::from(self.user_isp).to_string());
        for (k, v) in self.counters() {
            kv(k, v.to_string());
        }
        kv("wo", self.wo.to_string());
        kv("size", self.size_kib.to_string());
        kv("device", self.device.clone());
        if let Some(p) = &self.sync {
            kv(
                "sync",
                format!(
                    "{} {} {} {} {} {}",
                    p.total_kib,
                    p.left_kib,
                    p.speed_kib_s,
                    p.avg_kib_s,
                    p.eta_s,
                    u8::from(p.verify)
                ),
            );
        }
        s
    }

    fn counters(&self) -> [(&'static str, u64); 12] {
        [
            ("ns", self.ns),
            ("nr", self.nr),
            ("dw", self.dw),
            ("dr", self.dr),
            ("al", self.al),
            ("bm", self.bm),
            ("lo", self.lo),
            ("pe", self.pe),
            ("ua", self.ua),
            ("ap", self.ap),
            ("ep", self.ep),
            ("oos", self.oos),
        ]
    }

    /// Parses [`ResourceStatus::encode`] output.
    ///
    /// # Errors
    /// [`CtlError::Malformed`] naming the bad line.
    pub fn decode(text: &str) -> Result<ResourceStatus, CtlError> {
        let mut st = ResourceStatus::new("", 0);
        let bad = |l: &str| CtlError::Malformed(format!("bad status line {l:?}"));
        for line in text.lines().filter(|l| !l.is_empty()) {
            let (k, v) = line.split_once('=').ok_or_else(|| bad(line))?;
            let num = || v.parse::<u64>().map_err(|_| bad(line));
            let flag = || match v {
                "0" => Ok(false),
                "1" => Ok(true),
                _ => Err(bad(line)),
            };
            let ch = || {
                let mut c = v.chars();
                match (c.next(), c.next()) {
                    (Some(x), None) => Ok(x),
                    _ => Err(bad(line)),
                }
            };
            match k {
                "name" => st.name = v.to_string(),
                "minor" => st.minor = v.parse().map_err(|_| bad(line))?,
                "volume" => st.volume = v.parse().map_err(|_| bad(line))?,
                "peer" => st.peer = v.to_string(),
                "role" => st.role = role_by_name(v).ok_or_else(|| bad(line))?,
                "peer-role" => st.peer_role = role_by_name(v).ok_or_else(|| bad(line))?,
                "cstate" => st.cstate = conn_by_name(v).ok_or_else(|| bad(line))?,
                "disk" => st.disk = disk_by_name(v).ok_or_else(|| bad(line))?,
                "peer-disk" => st.peer_disk = disk_by_name(v).ok_or_else(|| bad(line))?,
                "protocol" => st.protocol = ch()?,
                "suspended" => st.suspended = flag()?,
                "peer-isp" => st.peer_isp = flag()?,
                "user-isp" => st.user_isp = flag()?,
                "ns" => st.ns = num()?,
                "nr" => st.nr = num()?,
                "dw" => st.dw = num()?,
                "dr" => st.dr = num()?,
                "al" => st.al = num()?,
                "bm" => st.bm = num()?,
                "lo" => st.lo = num()?,
                "pe" => st.pe = num()?,
                "ua" => st.ua = num()?,
                "ap" => st.ap = num()?,
                "ep" => st.ep = num()?,
                "oos" => st.oos = num()?,
                "wo" => st.wo = ch()?,
                "size" => st.size_kib = num()?,
                "device" => st.device = v.to_string(),
                "sync" => {
                    let f: Vec<u64> = v
                        .split(' ')
                        .map(str::parse)
                        .collect::<Result<_, _>>()
                        .map_err(|_| bad(line))?;
                    if f.len() != 6 || f[5] > 1 {
                        return Err(bad(line));
                    }
                    st.sync = Some(SyncProgress {
                        total_kib: f[0],
                        left_kib: f[1],
                        speed_kib_s: f[2],
                        avg_kib_s: f[3],
                        eta_s: f[4],
                        verify: f[5] == 1,
                    });
                }
                _ => return Err(bad(line)),
            }
        }
        if st.name.is_empty() {
            return Err(CtlError::Malformed("status record without name".into()));
        }
        Ok(st)
    }
}

pub(crate) const ROLES: [Role; 3] = [Role::Unknown, Role::Primary, Role::Secondary];
pub(crate) const DISKS: [DiskState; 9] = [
    DiskState::Diskless,
    DiskState::Attaching,
    DiskState::Failed,
    DiskState::Negotiating,
    DiskState::Inconsistent,
    DiskState::Outdated,
    DiskState::DUnknown,
    DiskState::Consistent,
    DiskState::UpToDate,
];
pub(crate) const CONNS: [ConnState; 24] = [
    ConnState::StandAlone,
    ConnState::Disconnecting,
    ConnState::Unconnected,
    ConnState::Timeout,
    ConnState::BrokenPipe,
    ConnState::NetworkFailure,
    ConnState::ProtocolError,
    ConnState::TearDown,
    ConnState::WFConnection,
    ConnState::WFReportParams,
    ConnState::Connected,
    ConnState::StartingSyncS,
    ConnState::StartingSyncT,
    ConnState::WFBitMapS,
    ConnState::WFBitMapT,
    ConnState::WFSyncUUID,
    ConnState::SyncSource,
    ConnState::SyncTarget,
    ConnState::VerifyS,
    ConnState::VerifyT,
    ConnState::PausedSyncS,
    ConnState::PausedSyncT,
    ConnState::Ahead,
    ConnState::Behind,
];

fn role_by_name(s: &str) -> Option<Role> {
    ROLES.into_iter().find(|r| r.name() == s)
}
fn disk_by_name(s: &str) -> Option<DiskState> {
    DISKS.into_iter().find(|r| r.name() == s)
}
fn conn_by_name(s: &str) -> Option<ConnState> {
    CONNS.into_iter().find(|r| r.name() == s)
}
