//! Typed option sections (`net`, `disk`, `startup`, `options`, `handlers`) with DRBD's
//! defaults, units and limits (drbd_limits.h, 8.4 values unless noted).
//!
//! Every option DRBD knows falls in one of three groups: supported here (typed, validated,
//! defaulted), known to DRBD but not supported by this engine (refused with
//! [`OptError::Unsupported`], never silently ignored), or unknown ([`OptError::Unknown`]).
//! Time values keep DRBD's units: `timeout`, `ping-timeout`, `c-plan-ahead`,
//! `c-delay-target` and `disk-timeout` are in tenths of a second, the rest in seconds.

use std::collections::BTreeMap;

use super::syntax::Arg;

/// Why an option statement was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OptError {
    /// The keyword is not a DRBD option of this section.
    Unknown,
    /// DRBD has this option but this implementation does not.
    Unsupported,
    /// The value is wrong; the text says why.
    Invalid(String),
}

/// Replication protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Protocol {
    /// Asynchronous: complete when sent.
    A,
    /// Memory synchronous: complete when the peer received it.
    B,
    /// Synchronous: complete when the peer wrote it.
    C,
}

/// `after-sb-0pri` policies.
pub const AFTER_SB_0PRI: &[&str] = &[
    "disconnect",
    "discard-younger-primary",
    "discard-older-primary",
    "discard-zero-changes",
    "discard-least-changes",
    "discard-local",
    "discard-remote",
];
/// `after-sb-1pri` policies.
pub const AFTER_SB_1PRI: &[&str] =
    &["disconnect", "consensus", "violently-as0p", "discard-secondary", "call-pri-lost-after-sb"];
/// `after-sb-2pri` policies.
pub const AFTER_SB_2PRI: &[&str] = &["disconnect", "violently-as0p", "call-pri-lost-after-sb"];
/// `rr-conflict` policies.
pub const RR_CONFLICT: &[&str] = &["disconnect", "call-pri-lost", "violently"];
/// Digest names accepted for `cram-hmac-alg`.
pub const HMAC_ALGS: &[&str] = &["sha1", "sha256", "sha512"];
/// Digest names accepted for `csums-alg`, `verify-alg` and `data-integrity-alg`.
pub const DIGEST_ALGS: &[&str] = &["crc32c", "sha1", "sha256", "sha512"];
/// `on-io-error` policies.
pub const ON_IO_ERROR: &[&str] = &["pass_on", "call-local-io-error", "detach"];
/// `fencing` policies.
pub const FENCING: &[&str] = &["dont-care", "resource-only", "resource-and-stonith"];
/// Handler names supported.
pub const HANDLERS: &[&str] = &[
    "split-brain",
    "fence-peer",
    "unfence-peer",
    "before-resync-target",
    "after-resync-target",
    "before-resync-source",
    "pri-lost-after-sb",
    "pri-on-incon-degr",
    "pri-lost",
    "local-io-error",
    "initial-split-brain",
    "out-of-sync",
];

/// Values of one statement's arguments, with typed accessors.
pub(crate) struct Val<'a>(pub &'a [Arg]);

impl Val<'_> {
    fn one(&self) -> Result<&str, OptError> {
        match self.0 {
            [a] => Ok(&a.text),
            [] => Err(OptError::Invalid("missing value".into())),
            _ => Err(OptError::Invalid(format!("too many values (extra '{}')", self.0[1].text))),
        }
    }

    /// A number in `[min, max]`. `unit_bytes` is `Some(b)` when the option is a size or rate
    /// in units of `b` bytes and accepts `k`/`M`/`G` suffixes (binary).
    fn num(&self, min: u64, max: u64, unit_bytes: Option<u64>) -> Result<u64, OptError> {
        let s = self.one()?;
        let v = parse_num(s, unit_bytes).map_err(OptError::Invalid)?;
        if v < min || v > max {
            return Err(OptError::Invalid(format!("value {v} out of range {min}..{max}")));
        }
        Ok(v)
    }

    fn boolean(&self) -> Result<bool, OptError> {
        if self.0.is_empty() {
            return Ok(true);
        }
        match self.one()? {
            "yes" => Ok(true),
            "no" => Ok(false),
            v => Err(OptError::Invalid(format!("'{v}' is not yes or no"))),
        }
    }

    fn choice(&self, set: &[&str]) -> Result<String, OptError> {
        let v = self.one()?;
        if set.contains(&v) {
            Ok(v.to_string())
        } else {
            Err(OptError::Invalid(format!("'{v}' is not one of {}", set.join(", "))))
        }
    }

    fn string(&self, max_len: usize) -> Result<String, OptError> {
        let v = self.one()?;
        if v.len() > max_len {
            return Err(OptError::Invalid(format!("longer than {max_len} characters")));
        }
        Ok(v.to_string())
    }
}

/// Parse a decimal number with an optional binary suffix `k`, `M`, `G` (either case), scaled
/// into units of `unit_bytes`.
pub fn parse_num(s: &str, unit_bytes: Option<u64>) -> Result<u64, String> {
    let (digits, mult) = match (unit_bytes, s.char_indices().last()) {
        (Some(_), Some((i, c))) if c.is_ascii_alphabetic() => {
            let m: u64 = match c.to_ascii_lowercase() {
                'k' => 1 << 10,
                'm' => 1 << 20,
                'g' => 1 << 30,
                's' => 512,
                _ => return Err(format!("'{s}' has an unknown unit suffix '{c}'")),
            };
            (&s[..i], Some(m))
        }
        _ => (s, None),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("'{s}' is not a number"));
    }
    let n: u64 = digits.parse().map_err(|_| format!("'{s}' is too large"))?;
    match (mult, unit_bytes) {
        (Some(m), Some(unit)) => {
            let bytes = n.checked_mul(m).ok_or_else(|| format!("'{s}' is too large"))?;
            if bytes % unit != 0 {
                return Err(format!("'{s}' is not a multiple of {unit} bytes"));
            }
            Ok(bytes / unit)
        }
        _ => Ok(n),
    }
}

/// Options of the `net` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetOptions {
    /// Replication protocol (`protocol`, default C).
    pub protocol: Protocol,
    /// `timeout` in tenths of a second (default 60 = 6 s, 1..600).
    pub timeout_ds: u32,
    /// `connect-int` in seconds (default 10, 1..120).
    pub connect_int_s: u32,
    /// `ping-int` in seconds (default 10, 1..120).
    pub ping_int_s: u32,
    /// `ping-timeout` in tenths of a second (default 5, 1..300).
    pub ping_timeout_ds: u32,
    /// `ko-count` (default 7, 0..200, 0 = off).
    pub ko_count: u32,
    /// `max-epoch-size` in writes (default 2048, 1..20000).
    pub max_epoch_size: u32,
    /// `max-buffers` in 4 KiB pages (default 2048, 32..131072).
    pub max_buffers: u32,
    /// `sndbuf-size` in bytes (default 0 = autotune, up to 10 MiB).
    pub sndbuf_size_bytes: u64,
    /// `rcvbuf-size` in bytes (default 0 = autotune, up to 10 MiB).
    pub rcvbuf_size_bytes: u64,
    /// `allow-two-primaries` (default no).
    pub allow_two_primaries: bool,
    /// `cram-hmac-alg` (default none).
    pub cram_hmac_alg: Option<String>,
    /// `shared-secret` (default none, at most 64 characters).
    pub shared_secret: Option<String>,
    /// `after-sb-0pri` (default disconnect).
    pub after_sb_0pri: String,
    /// `after-sb-1pri` (default disconnect).
    pub after_sb_1pri: String,
    /// `after-sb-2pri` (default disconnect).
    pub after_sb_2pri: String,
    /// `always-asbp` (default no).
    pub always_asbp: bool,
    /// `rr-conflict` (default disconnect).
    pub rr_conflict: String,
    /// `data-integrity-alg` (default none).
    pub data_integrity_alg: Option<String>,
    /// `verify-alg` (default none).
    pub verify_alg: Option<String>,
    /// `csums-alg` (default none).
    pub csums_alg: Option<String>,
    /// `use-rle` (default yes).
    pub use_rle: bool,
    /// `no-tcp-cork` (default no).
    pub no_tcp_cork: bool,
    /// `socket-check-timeout` in tenths of a second (default 0 = use ping-timeout, 0..300).
    pub socket_check_timeout_ds: u32,
    /// `fencing` as accepted in the 9.x location (net section); see also [`DiskOptions`].
    pub fencing: Option<String>,
}

impl Default for NetOptions {
    fn default() -> Self {
        NetOptions {
            protocol: Protocol::C,
            timeout_ds: 60,
            connect_int_s: 10,
            ping_int_s: 10,
            ping_timeout_ds: 5,
            ko_count: 7,
            max_epoch_size: 2048,
            max_buffers: 2048,
            sndbuf_size_bytes: 0,
            rcvbuf_size_bytes: 0,
            allow_two_primaries: false,
            cram_hmac_alg: None,
            shared_secret: None,
            after_sb_0pri: "disconnect".into(),
            after_sb_1pri: "disconnect".into(),
            after_sb_2pri: "disconnect".into(),
            always_asbp: false,
            rr_conflict: "disconnect".into(),
            data_integrity_alg: None,
            verify_alg: None,
            csums_alg: None,
            use_rle: true,
            no_tcp_cork: false,
            socket_check_timeout_ds: 0,
            fencing: None,
        }
    }
}

const NET_UNSUPPORTED: &[&str] = &[
    "unplug-watermark",
    "on-congestion",
    "congestion-fill",
    "congestion-extents",
    "tentative",
    "discard-my-data",
    "transport",
    "max-requests",
    "allow-remote-read",
    "tls",
    "csums-after-crash-only",
    "rdma-ctrl-rcvbuf-size",
    "rdma-ctrl-sndbuf-size",
    "load-balance-paths",
];

fn u32v(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

impl NetOptions {
    pub(crate) fn set(&mut self, key: &str, v: &Val) -> Result<(), OptError> {
        match key {
            "protocol" => self.protocol = parse_protocol(v.one()?)?,
            "timeout" => self.timeout_ds = u32v(v.num(1, 600, None)?),
            "connect-int" => self.connect_int_s = u32v(v.num(1, 120, None)?),
            "ping-int" => self.ping_int_s = u32v(v.num(1, 120, None)?),
            "ping-timeout" => self.ping_timeout_ds = u32v(v.num(1, 300, None)?),
            "ko-count" => self.ko_count = u32v(v.num(0, 200, None)?),
            "max-epoch-size" => self.max_epoch_size = u32v(v.num(1, 20000, None)?),
            "max-buffers" => self.max_buffers = u32v(v.num(32, 131072, None)?),
            "sndbuf-size" => self.sndbuf_size_bytes = v.num(0, 10 << 20, Some(1))?,
            "rcvbuf-size" => self.rcvbuf_size_bytes = v.num(0, 10 << 20, Some(1))?,
            "allow-two-primaries" => self.allow_two_primaries = v.boolean()?,
            "cram-hmac-alg" => self.cram_hmac_alg = Some(v.choice(HMAC_ALGS)?),
            "shared-secret" => self.shared_secret = Some(v.string(64)?),
            "after-sb-0pri" => {
                self.after_sb_0pri = match v.one()? {
                    n if n.len() > 13 && n.starts_with("discard-node-") => n.to_string(),
                    _ => v.choice(AFTER_SB_0PRI)?,
                }
            }
            "after-sb-1pri" => self.after_sb_1pri = v.choice(AFTER_SB_1PRI)?,
            "after-sb-2pri" => self.after_sb_2pri = v.choice(AFTER_SB_2PRI)?,
            "always-asbp" => self.always_asbp = v.boolean()?,
            "rr-conflict" => self.rr_conflict = v.choice(RR_CONFLICT)?,
            "data-integrity-alg" => self.data_integrity_alg = Some(v.choice(DIGEST_ALGS)?),
            "verify-alg" => self.verify_alg = Some(v.choice(DIGEST_ALGS)?),
            "csums-alg" => self.csums_alg = Some(v.choice(DIGEST_ALGS)?),
            "use-rle" => self.use_rle = v.boolean()?,
            "no-tcp-cork" => self.no_tcp_cork = v.boolean()?,
            "tcp-cork" => self.no_tcp_cork = !v.boolean()?,
            "socket-check-timeout" => self.socket_check_timeout_ds = u32v(v.num(0, 300, None)?),
            "fencing" => self.fencing = Some(v.choice(FENCING)?),
            k if NET_UNSUPPORTED.contains(&k) => return Err(OptError::Unsupported),
            _ => return Err(OptError::Unknown),
        }
        Ok(())
    }
}

fn parse_protocol(s: &str) -> Result<Protocol, OptError> {
    match s {
        "A" | "a" => Ok(Protocol::A),
        "B" | "b" => Ok(Protocol::B),
        "C" | "c" => Ok(Protocol::C),
        _ => Err(OptError::Invalid(format!("'{s}' is not a protocol (A, B or C)"))),
    }
}

/// Options of the `disk` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskOptions {
    /// `on-io-error` (default detach).
    pub on_io_error: String,
    /// `fencing` (default dont-care).
    pub fencing: String,
    /// `disk-barrier` (default no).
    pub disk_barrier: bool,
    /// `disk-flushes` (default yes).
    pub disk_flushes: bool,
    /// `disk-drain` (default yes).
    pub disk_drain: bool,
    /// `md-flushes` (default yes).
    pub md_flushes: bool,
    /// `resync-rate` in KiB/s (default 250, 1..4 GiB/s).
    pub resync_rate_kib: u64,
    /// `resync-after` resource name (default none).
    pub resync_after: Option<String>,
    /// `al-extents` (default 1237, 67..65534).
    pub al_extents: u32,
    /// `al-updates` (default yes).
    pub al_updates: bool,
    /// `c-plan-ahead` in tenths of a second (default 20, 0..300; 0 = fixed resync-rate).
    pub c_plan_ahead_ds: u32,
    /// `c-delay-target` in tenths of a second (default 10, 1..100).
    pub c_delay_target_ds: u32,
    /// `c-fill-target` in 512-byte sectors (default 100, 0..1000000).
    pub c_fill_target_sectors: u64,
    /// `c-max-rate` in KiB/s (default 102400, 250..4 GiB/s).
    pub c_max_rate_kib: u64,
    /// `c-min-rate` in KiB/s (default 250, 0..4 GiB/s).
    pub c_min_rate_kib: u64,
    /// `disk-timeout` in tenths of a second (default 0 = off, 0..6000).
    pub disk_timeout_ds: u32,
    /// `size` in 512-byte sectors (default none: use the whole backing device).
    pub size_sectors: Option<u64>,
}

impl Default for DiskOptions {
    fn default() -> Self {
        DiskOptions {
            on_io_error: "detach".into(),
            fencing: "dont-care".into(),
            disk_barrier: false,
            disk_flushes: true,
            disk_drain: true,
            md_flushes: true,
            resync_rate_kib: 250,
            resync_after: None,
            al_extents: 1237,
            al_updates: true,
            c_plan_ahead_ds: 20,
            c_delay_target_ds: 10,
            c_fill_target_sectors: 100,
            c_max_rate_kib: 102400,
            c_min_rate_kib: 250,
            disk_timeout_ds: 0,
            size_sectors: None,
        }
    }
}

const DISK_UNSUPPORTED: &[&str] = &[
    "max-bio-bvecs",
    "read-balancing",
    "discard-zeroes-if-aligned",
    "rs-discard-granularity",
    "disable-write-same",
    "use-bmbv",
];
const RATE_MAX_KIB: u64 = 4 << 20;

impl DiskOptions {
    pub(crate) fn set(&mut self, key: &str, v: &Val) -> Result<(), OptError> {
        match key {
            "on-io-error" => self.on_io_error = v.choice(ON_IO_ERROR)?,
            "fencing" => self.fencing = v.choice(FENCING)?,
            "disk-barrier" => self.disk_barrier = v.boolean()?,
            "disk-flushes" => self.disk_flushes = v.boolean()?,
            "disk-drain" => self.disk_drain = v.boolean()?,
            "md-flushes" => self.md_flushes = v.boolean()?,
            // DRBD 8.3 spellings.
            "no-disk-barrier" => self.disk_barrier = !v.boolean()?,
            "no-disk-flushes" => self.disk_flushes = !v.boolean()?,
            "no-disk-drain" => self.disk_drain = !v.boolean()?,
            "no-md-flushes" => self.md_flushes = !v.boolean()?,
            "resync-rate" | "rate" => self.resync_rate_kib = v.num(1, RATE_MAX_KIB, Some(1024))?,
            "resync-after" => self.resync_after = Some(v.string(128)?),
            "al-extents" => self.al_extents = u32v(v.num(67, 65534, None)?),
            "al-updates" => self.al_updates = v.boolean()?,
            "c-plan-ahead" => self.c_plan_ahead_ds = u32v(v.num(0, 300, None)?),
            "c-delay-target" => self.c_delay_target_ds = u32v(v.num(1, 100, None)?),
            "c-fill-target" => self.c_fill_target_sectors = v.num(0, 1_000_000, Some(512))?,
            "c-max-rate" => self.c_max_rate_kib = v.num(250, RATE_MAX_KIB, Some(1024))?,
            "c-min-rate" => self.c_min_rate_kib = v.num(0, RATE_MAX_KIB, Some(1024))?,
            "disk-timeout" => self.disk_timeout_ds = u32v(v.num(0, 6000, None)?),
            "size" => self.size_sectors = Some(v.num(1, u64::MAX >> 9, Some(512))?),
            k if DISK_UNSUPPORTED.contains(&k) => return Err(OptError::Unsupported),
            _ => return Err(OptError::Unknown),
        }
        Ok(())
    }
}

/// Options of the `startup` section.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StartupOptions {
    /// `wfc-timeout` in seconds (default 0 = wait forever, 0..300000).
    pub wfc_timeout_s: u32,
    /// `degr-wfc-timeout` in seconds (default 0, 0..300000).
    pub degr_wfc_timeout_s: u32,
    /// `outdated-wfc-timeout` in seconds (default 0, 0..300000).
    pub outdated_wfc_timeout_s: u32,
    /// `wait-after-sb` (default no).
    pub wait_after_sb: bool,
    /// `become-primary-on` host name or `both` (default none).
    pub become_primary_on: Option<String>,
}

impl StartupOptions {
    pub(crate) fn set(&mut self, key: &str, v: &Val) -> Result<(), OptError> {
        match key {
            "wfc-timeout" => self.wfc_timeout_s = u32v(v.num(0, 300_000, None)?),
            "degr-wfc-timeout" => self.degr_wfc_timeout_s = u32v(v.num(0, 300_000, None)?),
            "outdated-wfc-timeout" => self.outdated_wfc_timeout_s = u32v(v.num(0, 300_000, None)?),
            "wait-after-sb" => self.wait_after_sb = v.boolean()?,
            "become-primary-on" => self.become_primary_on = Some(v.string(64)?),
            "stacked-timeouts" => return Err(OptError::Unsupported),
            _ => return Err(OptError::Unknown),
        }
        Ok(())
    }
}

/// Options of the resource `options` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceOptions {
    /// `on-no-data-accessible` (default io-error).
    pub on_no_data_accessible: String,
    /// `cpu-mask` (default none; accepted, not acted on: the daemon's threads are not pinned).
    pub cpu_mask: Option<String>,
}

impl Default for ResourceOptions {
    fn default() -> Self {
        ResourceOptions { on_no_data_accessible: "io-error".into(), cpu_mask: None }
    }
}

const OPTIONS_UNSUPPORTED: &[&str] = &[
    "auto-promote",
    "auto-promote-timeout",
    "quorum",
    "quorum-minimum-redundancy",
    "on-no-quorum",
    "on-suspended-primary-outdated",
    "twopc-timeout",
    "twopc-retry-timeout",
    "max-io-depth",
    "peer-ack-window",
    "peer-ack-delay",
];

impl ResourceOptions {
    pub(crate) fn set(&mut self, key: &str, v: &Val) -> Result<(), OptError> {
        match key {
            "on-no-data-accessible" => {
                self.on_no_data_accessible = v.choice(&["io-error", "suspend-io"])?
            }
            "cpu-mask" => self.cpu_mask = Some(v.string(64)?),
            k if OPTIONS_UNSUPPORTED.contains(&k) => return Err(OptError::Unsupported),
            _ => return Err(OptError::Unknown),
        }
        Ok(())
    }
}

/// The `handlers` section: handler name → shell command.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Handlers {
    /// Commands by handler name (only names in [`HANDLERS`]).
    pub commands: BTreeMap<String, String>,
}

impl Handlers {
    /// The command configured for `name` (e.g. `"fence-peer"`).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.commands.get(name).map(String::as_str)
    }

    pub(crate) fn set(&mut self, key: &str, v: &Val) -> Result<(), OptError> {
        if !HANDLERS.contains(&key) {
            return Err(match key {
                "quorum-lost" | "disconnected" => OptError::Unsupported,
                _ => OptError::Unknown,
            });
        }
        self.commands.insert(key.to_string(), v.string(4096)?);
        Ok(())
    }
}

/// All option sections in effect for one resource (defaults ← common ← resource).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Options {
    /// `net { }`.
    pub net: NetOptions,
    /// `disk { }`.
    pub disk: DiskOptions,
    /// `startup { }`.
    pub startup: StartupOptions,
    /// `options { }`.
    pub options: ResourceOptions,
    /// `handlers { }`.
    pub handlers: Handlers,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_units() {
        assert_eq!(parse_num("100M", Some(1024)), Ok(102400));
        assert_eq!(parse_num("512k", Some(1)), Ok(524288));
        assert_eq!(parse_num("1G", Some(512)), Ok(2 << 20));
        assert_eq!(parse_num("250", Some(1024)), Ok(250));
        assert!(parse_num("10x", Some(1)).is_err());
        assert!(parse_num("10k", None).is_err());
        assert!(parse_num("", None).is_err());
        assert!(parse_num("99999999999999999999", None).is_err());
    }

    #[test]
    fn defaults_match_drbd_limits() {
        let o = Options::default();
        assert_eq!(o.net.protocol, Protocol::C);
        assert_eq!(o.net.timeout_ds, 60);
        assert_eq!(o.net.ping_timeout_ds, 5);
        assert_eq!(o.net.ko_count, 7);
        assert_eq!(o.net.max_buffers, 2048);
        assert_eq!(o.disk.al_extents, 1237);
        assert_eq!(o.disk.resync_rate_kib, 250);
        assert_eq!(o.disk.on_io_error, "detach");
        assert!(o.disk.disk_flushes && o.disk.md_flushes && !o.disk.disk_barrier);
        assert_eq!(o.startup.wfc_timeout_s, 0);
        assert_eq!(o.options.on_no_data_accessible, "io-error");
    }
}
