//! DRBD's configuration syntax (`/etc/drbd.conf`, `include`, `global`, `common`,
//! `resource NAME { on HOST { ... } }`), parsed into typed, validated values.
//!
//! Mechanism: the `syntax` module cuts each file into a generic statement tree (keyword, arguments,
//! optional block), with `include "glob";` expanded in place (relative to the including file,
//! sorted, with a recursion guard). The semantic pass below gives the tree its meaning:
//! option sections are checked key by key against [`options`] (DRBD's defaults, units and
//! limits), hosts and volumes are assembled (resource-level `device`/`disk`/`meta-disk` are
//! inherited by every host), and the effective options of each resource are computed as
//! defaults ← `common` ← `resource`. Finally [`Config`] is validated as a whole (hosts, this
//! node, minors, ports).
//!
//! Invariants: a [`Config`] value has passed validation; every error names file, line and the
//! offending token; an option DRBD has but this engine does not is refused as unsupported.

mod dump;
pub mod options;
mod syntax;

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

pub use options::{
    DiskOptions, Handlers, NetOptions, OptError, Options, Protocol, ResourceOptions, StartupOptions,
};
use syntax::{Arg, Stmt};

/// Maximum include nesting depth.
pub const MAX_INCLUDE_DEPTH: usize = 16;
/// Largest minor number accepted (DRBD's limit).
pub const MAX_MINOR: u32 = 1 << 20;
/// Environment variable overriding the node name (`uname -n`).
pub const HOSTNAME_ENV: &str = "DRBD_UBLK_HOSTNAME";

/// A configuration error. The display form is `FILE:LINE: message`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A lexical or grammatical error.
    #[error("{}:{line}: {msg}", file.display())]
    Syntax {
        /// File.
        file: PathBuf,
        /// Line.
        line: u32,
        /// What is wrong.
        msg: String,
    },
    /// A keyword that is not valid in its section.
    #[error("{}:{line}: unknown keyword '{keyword}' in {section} section", file.display())]
    UnknownKeyword {
        /// File.
        file: PathBuf,
        /// Line.
        line: u32,
        /// The keyword.
        keyword: String,
        /// Section name (`net`, `resource`, `on`, ...).
        section: String,
    },
    /// A DRBD option that this implementation does not support.
    #[error("{}:{line}: option '{keyword}' in {section} section is not supported by drbd-ublk", file.display())]
    Unsupported {
        /// File.
        file: PathBuf,
        /// Line.
        line: u32,
        /// The keyword.
        keyword: String,
        /// Section name.
        section: String,
    },
    /// A bad value for a known option.
    #[error("{}:{line}: invalid value for '{keyword}': {reason}", file.display())]
    InvalidValue {
        /// File.
        file: PathBuf,
        /// Line.
        line: u32,
        /// The keyword.
        keyword: String,
        /// Why.
        reason: String,
    },
    /// An include that includes itself (directly or not), or nests too deep.
    #[error("{}:{line}: include of '{}' would recurse", file.display(), target.display())]
    IncludeLoop {
        /// File with the include.
        file: PathBuf,
        /// Line.
        line: u32,
        /// The file it would include again.
        target: PathBuf,
    },
    /// A whole-configuration rule is broken (hosts, minors, ports, ...).
    #[error("{}:{line}: {msg}", file.display())]
    Invalid {
        /// File.
        file: PathBuf,
        /// Line.
        line: u32,
        /// What is wrong.
        msg: String,
    },
}

impl ConfigError {
    pub(crate) fn syntax(file: &Path, line: u32, msg: &str) -> Self {
        ConfigError::Syntax { file: file.to_path_buf(), line, msg: msg.to_string() }
    }

    fn at(stmt: &Stmt, msg: impl Into<String>) -> Self {
        ConfigError::Invalid { file: stmt.file.clone(), line: stmt.line, msg: msg.into() }
    }

    fn unknown(stmt: &Stmt, section: &str) -> Self {
        ConfigError::UnknownKeyword {
            file: stmt.file.clone(),
            line: stmt.line,
            keyword: stmt.keyword.clone(),
            section: section.to_string(),
        }
    }

    fn value(stmt: &Stmt, reason: impl Into<String>) -> Self {
        ConfigError::InvalidValue {
            file: stmt.file.clone(),
            line: stmt.line,
            keyword: stmt.keyword.clone(),
            reason: reason.into(),
        }
    }

    fn opt(stmt: &Stmt, section: &str, e: OptError) -> Self {
        match e {
            OptError::Unknown => Self::unknown(stmt, section),
            OptError::Unsupported => ConfigError::Unsupported {
                file: stmt.file.clone(),
                line: stmt.line,
                keyword: stmt.keyword.clone(),
                section: section.to_string(),
            },
            OptError::Invalid(r) => Self::value(stmt, r),
        }
    }
}

/// One explicitly written option, kept for `drbdadm dump` and for merging.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// The option name.
    pub key: String,
    /// Its value as written (`None` for the flag form, e.g. `allow-two-primaries;`).
    pub value: Option<String>,
    /// File it was written in.
    pub file: PathBuf,
    /// Line it was written on.
    pub line: u32,
}

/// The option sections as explicitly written at one level (`common` or one resource).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sections {
    /// `net { }` (including a bare `protocol X;` and `syncer` keys that moved to net).
    pub net: Vec<Setting>,
    /// `disk { }` (including `syncer` keys that moved to disk).
    pub disk: Vec<Setting>,
    /// `startup { }`.
    pub startup: Vec<Setting>,
    /// `options { }`.
    pub options: Vec<Setting>,
    /// `handlers { }`.
    pub handlers: Vec<Setting>,
}

/// The `global { }` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Global {
    /// `usage-count` (yes, no or ask; default ask).
    pub usage_count: String,
    /// `minor-count` (default 32, 1..255).
    pub minor_count: u32,
    /// `dialog-refresh` in seconds (default 1).
    pub dialog_refresh_s: u32,
    /// `disable-ip-verification`.
    pub disable_ip_verification: bool,
    /// `udev-always-use-vnr`.
    pub udev_always_use_vnr: bool,
    /// The settings as written, for dump.
    pub settings: Vec<Setting>,
}

impl Default for Global {
    fn default() -> Self {
        Global {
            usage_count: "ask".into(),
            minor_count: 32,
            dialog_refresh_s: 1,
            disable_ip_verification: false,
            udev_always_use_vnr: false,
            settings: Vec::new(),
        }
    }
}

/// Address family of a host address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressFamily {
    /// IPv4.
    Ipv4,
    /// IPv6 (written bracketed: `ipv6 [fd01::1]:7789`).
    Ipv6,
}

/// A replication endpoint `[family] IP:PORT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Address {
    /// Family (always explicit after parsing).
    pub family: AddressFamily,
    /// The socket address.
    pub addr: SocketAddr,
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.family {
            AddressFamily::Ipv4 => write!(f, "ipv4 {}", self.addr),
            AddressFamily::Ipv6 => write!(f, "ipv6 [{}]:{}", self.addr.ip(), self.addr.port()),
        }
    }
}

/// Where a volume keeps its metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetaDisk {
    /// At the end of the backing device.
    Internal,
    /// On a separate device, optionally at a fixed 128 MiB slot index.
    External {
        /// The device.
        path: String,
        /// `[idx]` slot, if given.
        index: Option<u32>,
    },
}

/// One volume of one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    /// Volume number (0 for the volume-less form).
    pub number: u16,
    /// Device path (`/dev/drbdN` unless written otherwise).
    pub device: String,
    /// Minor number (explicit or taken from `/dev/drbdN`).
    pub minor: u32,
    /// Backing device, `None` for `disk none;` (diskless).
    pub disk: Option<String>,
    /// Metadata placement.
    pub meta_disk: MetaDisk,
    /// True when written inside `volume N { }` (dump keeps that form).
    pub explicit: bool,
}

/// One `on HOST { }` or `floating ADDR { }` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// Host names (empty for `floating`).
    pub names: Vec<String>,
    /// True for `floating` (matched by address, not by name).
    pub floating: bool,
    /// Replication address.
    pub address: Address,
    /// `node-id`, if given.
    pub node_id: Option<u8>,
    /// Volumes, sorted by number.
    pub volumes: Vec<Volume>,
    /// File of the section.
    pub file: PathBuf,
    /// Line of the section.
    pub line: u32,
}

impl Host {
    /// The first name, or the address for a floating host.
    pub fn display_name(&self) -> String {
        self.names.first().cloned().unwrap_or_else(|| self.address.addr.to_string())
    }

    fn is_named(&self, name: &str) -> bool {
        self.names.iter().any(|n| n == name)
    }
}

/// One resource with its effective options and hosts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// Resource name.
    pub name: String,
    /// File it is defined in.
    pub file: PathBuf,
    /// Line of `resource NAME`.
    pub line: u32,
    /// Options written in this resource.
    pub settings: Sections,
    /// Effective options: defaults ← common ← this resource.
    pub options: Options,
    /// Hosts in order of appearance.
    pub hosts: Vec<Host>,
    /// Index of this node in `hosts`.
    pub this_host: usize,
}

impl Resource {
    /// This node's host section.
    pub fn local(&self) -> &Host {
        &self.hosts[self.this_host]
    }

    /// The other hosts.
    pub fn peers(&self) -> impl Iterator<Item = &Host> {
        let me = self.this_host;
        self.hosts.iter().enumerate().filter(move |(i, _)| *i != me).map(|(_, h)| h)
    }

    /// `drbdadm dump`-style text of this resource.
    pub fn dump(&self) -> String {
        let mut out = String::new();
        dump::resource(&mut out, self);
        out
    }
}

/// A parsed and validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The top-level file.
    pub path: PathBuf,
    /// The node name resources were checked against.
    pub hostname: String,
    /// `global { }`.
    pub global: Global,
    /// `common { }` as written.
    pub common: Sections,
    /// Resources in order of appearance.
    pub resources: Vec<Resource>,
}

/// This node's name: `$DRBD_UBLK_HOSTNAME` if set, else the kernel's node name (`uname -n`).
pub fn local_hostname() -> String {
    if let Ok(h) = std::env::var(HOSTNAME_ENV) {
        if !h.is_empty() {
            return h;
        }
    }
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

impl Config {
    /// Read `path` (with its includes) and validate it for node `hostname`.
    ///
    /// # Errors
    /// [`ConfigError`] naming file, line and token of the first problem.
    pub fn load(path: &Path, hostname: &str) -> Result<Config, ConfigError> {
        let mut stack = Vec::new();
        let stmts = load_file(path, &mut stack, None)?;
        build(path, hostname, &stmts)
    }

    /// Parse `text` as if it were the file `path` (includes are resolved relative to it).
    ///
    /// ```
    /// use drbd_ublk::config::{Config, Protocol};
    /// let text = "resource r0 {
    ///   net { protocol B; }
    ///   on alpha { device /dev/drbd1; disk /dev/sdb1; address 10.0.0.1:7789; meta-disk internal; }
    ///   on beta  { device /dev/drbd1; disk /dev/sdb1; address 10.0.0.2:7789; meta-disk internal; }
    /// }";
    /// let cfg = Config::parse_str("/etc/drbd.d/r0.res".as_ref(), text, "alpha").unwrap();
    /// let r0 = cfg.resource("r0").unwrap();
    /// assert_eq!(r0.options.net.protocol, Protocol::B);
    /// assert_eq!(r0.peers().next().unwrap().address.addr.to_string(), "10.0.0.2:7789");
    /// let err = Config::parse_str("/x.res".as_ref(), "resource r0 { nett { } }", "alpha");
    /// assert_eq!(err.unwrap_err().to_string(), "/x.res:1: unknown keyword 'nett' in resource section");
    /// ```
    ///
    /// # Errors
    /// As [`Config::load`].
    pub fn parse_str(path: &Path, text: &str, hostname: &str) -> Result<Config, ConfigError> {
        let mut stack = vec![path.to_path_buf()];
        let raw = syntax::parse_text(path, text)?;
        let stmts = expand_includes(path, raw, &mut stack)?;
        build(path, hostname, &stmts)
    }

    /// The resource called `name`.
    pub fn resource(&self, name: &str) -> Option<&Resource> {
        self.resources.iter().find(|r| r.name == name)
    }

    /// The whole configuration in `drbdadm dump`'s normalised layout.
    pub fn dump(&self) -> String {
        dump::config(self)
    }
}

fn load_file(
    path: &Path,
    stack: &mut Vec<PathBuf>,
    from: Option<(&Path, u32)>,
) -> Result<Vec<Stmt>, ConfigError> {
    let canon = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    if stack.contains(&canon) || stack.len() >= MAX_INCLUDE_DEPTH {
        let (file, line) = from.map(|(f, l)| (f.to_path_buf(), l)).unwrap_or((path.into(), 0));
        return Err(ConfigError::IncludeLoop { file, line, target: path.to_path_buf() });
    }
    let text = std::fs::read_to_string(path)
        .map_err(|source| ConfigError::Io { path: path.to_path_buf(), source })?;
    stack.push(canon);
    let raw = syntax::parse_text(path, &text)?;
    let out = expand_includes(path, raw, stack);
    stack.pop();
    out
}

fn expand_includes(
    path: &Path,
    raw: Vec<Stmt>,
    stack: &mut Vec<PathBuf>,
) -> Result<Vec<Stmt>, ConfigError> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    let mut out = Vec::new();
    for s in raw {
        if s.keyword != "include" {
            out.push(s);
            continue;
        }
        let [pat] = s.args.as_slice() else {
            return Err(ConfigError::value(&s, "expected one file name or pattern"));
        };
        if s.block.is_some() {
            return Err(ConfigError::syntax(&s.file, s.line, "include takes no block"));
        }
        let files = syntax::expand_glob(dir, &pat.text)
            .map_err(|(_, e)| ConfigError::value(&s, format!("cannot read '{}': {e}", pat.text)))?;
        for f in files {
            out.extend(load_file(&f, stack, Some((&s.file, s.line)))?);
        }
    }
    Ok(out)
}

fn build(path: &Path, hostname: &str, stmts: &[Stmt]) -> Result<Config, ConfigError> {
    let mut global: Option<Global> = None;
    let mut common: Option<Sections> = None;
    let mut raw_resources = Vec::new();
    for s in stmts {
        match s.keyword.as_str() {
            "global" => {
                if global.is_some() {
                    return Err(ConfigError::at(s, "a second global section"));
                }
                global = Some(parse_global(s)?);
            }
            "common" => {
                if common.is_some() {
                    return Err(ConfigError::at(s, "a second common section"));
                }
                let mut sec = Sections::default();
                parse_sections(s, block(s)?, "common", &mut sec, |st| {
                    Err(ConfigError::unknown(st, "common"))
                })?;
                common = Some(sec);
            }
            "resource" => raw_resources.push(s),
            "skip" => {}
            _ => return Err(ConfigError::unknown(s, "top-level")),
        }
    }
    let common = common.unwrap_or_default();
    let mut resources = Vec::new();
    for s in raw_resources {
        let r = parse_resource(s, &common, hostname)?;
        if let Some(prev) = resources.iter().find(|p: &&Resource| p.name == r.name) {
            return Err(ConfigError::at(
                s,
                format!(
                    "resource '{}' is already defined at {}:{}",
                    r.name,
                    prev.file.display(),
                    prev.line
                ),
            ));
        }
        resources.push(r);
    }
    validate_across(&resources)?;
    Ok(Config {
        path: path.to_path_buf(),
        hostname: hostname.to_string(),
        global: global.unwrap_or_default(),
        common,
        resources,
    })
}

fn block(s: &Stmt) -> Result<&[Stmt], ConfigError> {
    s.block.as_deref().ok_or_else(|| {
        ConfigError::syntax(&s.file, s.line, &format!("'{}' needs a {{ }} section", s.keyword))
    })
}

fn no_block(s: &Stmt, section: &str) -> Result<(), ConfigError> {
    if s.block.is_some() {
        return Err(ConfigError::Syntax {
            file: s.file.clone(),
            line: s.line,
            msg: format!("unexpected section '{}' in {section} section", s.keyword),
        });
    }
    Ok(())
}

fn setting(s: &Stmt) -> Setting {
    Setting {
        key: s.keyword.clone(),
        value: s.args.first().map(|a| a.text.clone()),
        file: s.file.clone(),
        line: s.line,
    }
}

fn parse_global(s: &Stmt) -> Result<Global, ConfigError> {
    let mut g = Global::default();
    for st in block(s)? {
        no_block(st, "global")?;
        let v = options::Val(&st.args);
        let r = match st.keyword.as_str() {
            "usage-count" => one_of(st, &["yes", "no", "ask"]).map(|x| g.usage_count = x),
            "minor-count" => num(st, 1, 255).map(|x| g.minor_count = x),
            "dialog-refresh" => num(st, 0, 600).map(|x| g.dialog_refresh_s = x),
            "disable-ip-verification" => flag(st, &v).map(|x| g.disable_ip_verification = x),
            "udev-always-use-vnr" => flag(st, &v).map(|x| g.udev_always_use_vnr = x),
            "cmd-timeout-short" | "cmd-timeout-medium" | "cmd-timeout-long" => {
                num(st, 0, 1_000_000).map(|_| ())
            }
            _ => Err(ConfigError::unknown(st, "global")),
        };
        r?;
        g.settings.push(setting(st));
    }
    Ok(g)
}

fn one_of(st: &Stmt, set: &[&str]) -> Result<String, ConfigError> {
    match st.args.as_slice() {
        [a] if set.contains(&a.text.as_str()) => Ok(a.text.clone()),
        [a] => {
            Err(ConfigError::value(st, format!("'{}' is not one of {}", a.text, set.join(", "))))
        }
        _ => Err(ConfigError::value(st, "expected one value")),
    }
}

fn num(st: &Stmt, min: u64, max: u64) -> Result<u32, ConfigError> {
    let [a] = st.args.as_slice() else {
        return Err(ConfigError::value(st, "expected one value"));
    };
    let v = options::parse_num(&a.text, None).map_err(|e| ConfigError::value(st, e))?;
    if v < min || v > max {
        return Err(ConfigError::value(st, format!("value {v} out of range {min}..{max}")));
    }
    Ok(v as u32)
}

fn flag(st: &Stmt, v: &options::Val) -> Result<bool, ConfigError> {
    match v.0 {
        [] => Ok(true),
        [a] if a.text == "yes" => Ok(true),
        [a] if a.text == "no" => Ok(false),
        _ => Err(ConfigError::value(st, "expected yes, no or nothing")),
    }
}

/// Which typed section a key written in `section` lands in (handles the bare `protocol` and
/// DRBD 8.3's `syncer { }`).
#[derive(Clone, Copy)]
enum Sec {
    Net,
    Disk,
    Startup,
    Options,
    Handlers,
}

fn syncer_target(key: &str) -> Option<Sec> {
    match key {
        "rate" | "resync-rate" | "al-extents" | "resync-after" | "c-plan-ahead"
        | "c-fill-target" | "c-delay-target" | "c-max-rate" | "c-min-rate" => Some(Sec::Disk),
        "verify-alg" | "csums-alg" => Some(Sec::Net),
        "cpu-mask" => Some(Sec::Options),
        _ => None,
    }
}

/// Check one option statement against scratch defaults and record it.
fn record(st: &Stmt, sec: Sec, section_name: &str, out: &mut Sections) -> Result<(), ConfigError> {
    no_block(st, section_name)?;
    let v = options::Val(&st.args);
    let mut scratch = Options::default();
    let r = apply(&mut scratch, sec, &st.keyword, &v);
    r.map_err(|e| ConfigError::opt(st, section_name, e))?;
    let mut set = setting(st);
    if st.keyword == "rate" {
        set.key = "resync-rate".into();
    }
    let list = match sec {
        Sec::Net => &mut out.net,
        Sec::Disk => &mut out.disk,
        Sec::Startup => &mut out.startup,
        Sec::Options => &mut out.options,
        Sec::Handlers => &mut out.handlers,
    };
    list.push(set);
    Ok(())
}

fn apply(o: &mut Options, sec: Sec, key: &str, v: &options::Val) -> Result<(), OptError> {
    match sec {
        Sec::Net => o.net.set(key, v),
        Sec::Disk => o.disk.set(key, v),
        Sec::Startup => o.startup.set(key, v),
        Sec::Options => o.options.set(key, v),
        Sec::Handlers => o.handlers.set(key, v),
    }
}

/// Parse the option sections inside `common` or `resource`; other statements go to `other`.
fn parse_sections<'a>(
    _parent: &Stmt,
    stmts: &'a [Stmt],
    level: &str,
    out: &mut Sections,
    mut other: impl FnMut(&'a Stmt) -> Result<(), ConfigError>,
) -> Result<(), ConfigError> {
    for st in stmts {
        let sec = match (st.keyword.as_str(), st.block.is_some()) {
            ("net", true) => Some(Sec::Net),
            ("disk", true) => Some(Sec::Disk),
            ("startup", true) => Some(Sec::Startup),
            ("options", true) => Some(Sec::Options),
            ("handlers", true) => Some(Sec::Handlers),
            ("syncer", true) => {
                for k in block(st)? {
                    let sec = syncer_target(&k.keyword)
                        .ok_or_else(|| ConfigError::unknown(k, "syncer"))?;
                    record(k, sec, "syncer", out)?;
                }
                continue;
            }
            ("protocol", false) => {
                record(st, Sec::Net, level, out)?;
                continue;
            }
            _ => None,
        };
        match sec {
            Some(sec) => {
                for k in block(st)? {
                    record(k, sec, &st.keyword, out)?;
                }
            }
            None => other(st)?,
        }
    }
    Ok(())
}

fn effective(common: &Sections, own: &Sections) -> Options {
    let mut o = Options::default();
    for level in [common, own] {
        let groups = [
            (Sec::Net, &level.net),
            (Sec::Disk, &level.disk),
            (Sec::Startup, &level.startup),
            (Sec::Options, &level.options),
            (Sec::Handlers, &level.handlers),
        ];
        for (sec, list) in groups {
            for s in list {
                let args: Vec<Arg> = s
                    .value
                    .iter()
                    .map(|t| Arg { text: t.clone(), quoted: false, line: s.line })
                    .collect();
                // Already checked when recorded.
                let r = apply(&mut o, sec, &s.key, &options::Val(&args));
                debug_assert!(r.is_ok(), "{} rejected on re-apply", s.key);
            }
        }
    }
    o
}

/// Partial volume description (resource level or host level).
#[derive(Debug, Clone, Default)]
struct VolSpec {
    device: Option<(String, u32)>,
    disk: Option<Option<String>>,
    meta_disk: Option<MetaDisk>,
    explicit: bool,
}

impl VolSpec {
    fn merge_from(&mut self, base: &VolSpec) {
        if self.device.is_none() {
            self.device = base.device.clone();
        }
        if self.disk.is_none() {
            self.disk = base.disk.clone();
        }
        if self.meta_disk.is_none() {
            self.meta_disk = base.meta_disk.clone();
        }
        self.explicit |= base.explicit;
    }
}

/// Handle `device`, `disk`, `meta-disk` (and `volume N {}`) statements; returns false for
/// other keywords.
fn volume_stmt(
    st: &Stmt,
    vols: &mut BTreeMap<u16, VolSpec>,
    vol: u16,
    section: &str,
) -> Result<bool, ConfigError> {
    match (st.keyword.as_str(), st.block.is_some()) {
        ("device", false) => vols.entry(vol).or_default().device = Some(parse_device(st)?),
        ("disk", false) => {
            let [a] = st.args.as_slice() else {
                return Err(ConfigError::value(st, "expected one device path"));
            };
            let d = if a.text == "none" { None } else { Some(a.text.clone()) };
            vols.entry(vol).or_default().disk = Some(d);
        }
        ("meta-disk", false) => vols.entry(vol).or_default().meta_disk = Some(parse_meta(st)?),
        ("flexible-meta-disk", false) => {
            return Err(ConfigError::opt(st, section, OptError::Unsupported))
        }
        ("volume", true) => {
            if section == "volume" {
                return Err(ConfigError::syntax(&st.file, st.line, "volume inside volume"));
            }
            let [a] = st.args.as_slice() else {
                return Err(ConfigError::value(st, "expected a volume number"));
            };
            let n: u16 = a.text.parse().ok().filter(|n| *n < 65535).ok_or_else(|| {
                ConfigError::value(st, format!("'{}' is not a volume number", a.text))
            })?;
            vols.entry(n).or_default().explicit = true;
            for k in block(st)? {
                if !volume_stmt(k, vols, n, "volume")? {
                    return Err(ConfigError::unknown(k, "volume"));
                }
            }
        }
        _ => return Ok(false),
    }
    Ok(true)
}

fn parse_device(st: &Stmt) -> Result<(String, u32), ConfigError> {
    let texts: Vec<&str> = st.args.iter().map(|a| a.text.as_str()).collect();
    let parse_minor = |t: &str| -> Result<u32, ConfigError> {
        t.parse::<u32>()
            .ok()
            .filter(|m| *m < MAX_MINOR)
            .ok_or_else(|| ConfigError::value(st, format!("'{t}' is not a minor number")))
    };
    let from_path = |p: &str| p.strip_prefix("/dev/drbd").and_then(|n| n.parse::<u32>().ok());
    match texts.as_slice() {
        ["minor", m] => {
            let m = parse_minor(m)?;
            Ok((format!("/dev/drbd{m}"), m))
        }
        [p, "minor", m] => {
            let m = parse_minor(m)?;
            check_dev_path(st, p)?;
            if let Some(pm) = from_path(p) {
                if pm != m {
                    return Err(ConfigError::value(st, format!("{p} does not match minor {m}")));
                }
            }
            Ok((p.to_string(), m))
        }
        [p] => {
            check_dev_path(st, p)?;
            let m = from_path(p).ok_or_else(|| {
                ConfigError::value(st, format!("cannot derive a minor from '{p}'; add 'minor N'"))
            })?;
            if m >= MAX_MINOR {
                return Err(ConfigError::value(st, format!("minor {m} too large")));
            }
            Ok((p.to_string(), m))
        }
        _ => Err(ConfigError::value(st, "expected '/dev/drbdN', 'PATH minor N' or 'minor N'")),
    }
}

fn check_dev_path(st: &Stmt, p: &str) -> Result<(), ConfigError> {
    if !p.starts_with('/') {
        return Err(ConfigError::value(st, format!("'{p}' is not an absolute device path")));
    }
    Ok(())
}

fn parse_meta(st: &Stmt) -> Result<MetaDisk, ConfigError> {
    let joined: String = st.args.iter().map(|a| a.text.as_str()).collect::<Vec<_>>().join("");
    if joined == "internal" {
        return Ok(MetaDisk::Internal);
    }
    if st.args.is_empty() {
        return Err(ConfigError::value(st, "expected 'internal' or a device"));
    }
    let (path, index) = match joined.find('[') {
        Some(i) => {
            let idx = joined[i + 1..]
                .strip_suffix(']')
                .and_then(|n| n.parse::<u32>().ok())
                .ok_or_else(|| ConfigError::value(st, format!("bad index in '{joined}'")))?;
            (joined[..i].to_string(), Some(idx))
        }
        None => (joined.clone(), None),
    };
    if st.args.len() > 1 && index.is_none() {
        return Err(ConfigError::value(st, format!("unexpected '{}'", st.args[1].text)));
    }
    if !path.starts_with('/') {
        return Err(ConfigError::value(st, format!("'{path}' is not 'internal' or a device path")));
    }
    Ok(MetaDisk::External { path, index })
}

fn parse_address(st: &Stmt, args: &[Arg]) -> Result<Address, ConfigError> {
    let (fam, text) = match args {
        [a] => (None, a.text.as_str()),
        [f, a] => (Some(f.text.as_str()), a.text.as_str()),
        _ => return Err(ConfigError::value(st, "expected '[ipv4|ipv6] IP:PORT'")),
    };
    let fam = match fam {
        None => None,
        Some("ipv4") => Some(AddressFamily::Ipv4),
        Some("ipv6") => Some(AddressFamily::Ipv6),
        Some(f @ ("ssocks" | "sdp" | "sci")) => {
            return Err(ConfigError::value(st, format!("address family '{f}' is not supported")))
        }
        Some(f) => return Err(ConfigError::value(st, format!("unknown address family '{f}'"))),
    };
    let addr: SocketAddr =
        text.parse().map_err(|_| ConfigError::value(st, format!("'{text}' is not IP:PORT")))?;
    let family = match addr.ip() {
        IpAddr::V4(_) => AddressFamily::Ipv4,
        IpAddr::V6(_) => AddressFamily::Ipv6,
    };
    if fam.is_some_and(|f| f != family) {
        return Err(ConfigError::value(st, format!("'{text}' does not match the address family")));
    }
    if addr.port() == 0 {
        return Err(ConfigError::value(st, "port 0 is not allowed"));
    }
    let ip = addr.ip();
    if ip.is_unspecified() || ip.is_multicast() || ip == IpAddr::from([255, 255, 255, 255]) {
        return Err(ConfigError::value(st, format!("{ip} cannot be a peer address")));
    }
    Ok(Address { family, addr })
}

struct RawHost<'a> {
    stmt: &'a Stmt,
    names: Vec<String>,
    floating: bool,
    address: Option<Address>,
    node_id: Option<u8>,
    vols: BTreeMap<u16, VolSpec>,
}

fn parse_host(st: &Stmt) -> Result<RawHost<'_>, ConfigError> {
    let floating = st.keyword == "floating";
    let mut h = RawHost {
        stmt: st,
        names: Vec::new(),
        floating,
        address: None,
        node_id: None,
        vols: BTreeMap::new(),
    };
    if floating {
        h.address = Some(parse_address(st, &st.args)?);
    } else {
        if st.args.is_empty() {
            return Err(ConfigError::value(st, "expected a host name"));
        }
        h.names = st.args.iter().map(|a| a.text.clone()).collect();
    }
    let section = if floating { "floating" } else { "on" };
    for k in block(st)? {
        if volume_stmt(k, &mut h.vols, 0, section)? {
            continue;
        }
        no_block(k, section)?;
        match k.keyword.as_str() {
            "address" if !floating => {
                if h.address.is_some() {
                    return Err(ConfigError::at(k, "a second address"));
                }
                h.address = Some(parse_address(k, &k.args)?)
            }
            "node-id" => h.node_id = Some(num(k, 0, 31)? as u8),
            "proxy" => return Err(ConfigError::opt(k, section, OptError::Unsupported)),
            _ => return Err(ConfigError::unknown(k, section)),
        }
    }
    Ok(h)
}

fn parse_resource(s: &Stmt, common: &Sections, hostname: &str) -> Result<Resource, ConfigError> {
    let [name] = s.args.as_slice() else {
        return Err(ConfigError::value(s, "expected one resource name"));
    };
    let name = name.text.clone();
    if name.is_empty() || name.contains(['/', ' ']) {
        return Err(ConfigError::value(s, format!("'{name}' is not a valid resource name")));
    }
    let mut settings = Sections::default();
    let mut res_vols: BTreeMap<u16, VolSpec> = BTreeMap::new();
    let mut raw_hosts = Vec::new();
    let stmts = block(s)?;
    parse_sections(s, stmts, "resource", &mut settings, |st| {
        if volume_stmt(st, &mut res_vols, 0, "resource")? {
            return Ok(());
        }
        match st.keyword.as_str() {
            "on" | "floating" if st.block.is_some() => {
                raw_hosts.push(parse_host(st)?);
                Ok(())
            }
            "stacked-on-top-of" | "connection-mesh" | "connection" | "net-options" => {
                Err(ConfigError::opt(st, "resource", OptError::Unsupported))
            }
            _ => Err(ConfigError::unknown(st, "resource")),
        }
    })?;
    let mut hosts = Vec::new();
    for rh in raw_hosts {
        hosts.push(finish_host(&name, rh, &res_vols)?);
    }
    let options = effective(common, &settings);
    let mut r = Resource {
        name,
        file: s.file.clone(),
        line: s.line,
        settings,
        options,
        hosts,
        this_host: 0,
    };
    validate_resource(s, &mut r, hostname)?;
    Ok(r)
}

fn finish_host(
    res: &str,
    rh: RawHost<'_>,
    res_vols: &BTreeMap<u16, VolSpec>,
) -> Result<Host, ConfigError> {
    let st = rh.stmt;
    let who = rh.names.first().cloned().unwrap_or_else(|| "floating".into());
    let address = rh.address.ok_or_else(|| {
        ConfigError::at(st, format!("resource {res}: host {who} has no 'address'"))
    })?;
    let mut specs = rh.vols;
    for (n, base) in res_vols {
        specs.entry(*n).or_default().merge_from(base);
    }
    if specs.is_empty() {
        return Err(ConfigError::at(st, format!("resource {res}: host {who} has no device")));
    }
    let mut volumes = Vec::new();
    for (number, v) in specs {
        let missing = |what: &str| {
            ConfigError::at(st, format!("resource {res}: host {who}, volume {number}: no '{what}'"))
        };
        let (device, minor) = v.device.ok_or_else(|| missing("device"))?;
        let disk = v.disk.ok_or_else(|| missing("disk"))?;
        let meta_disk = match (v.meta_disk, &disk) {
            (Some(m), _) => m,
            (None, None) => MetaDisk::Internal,
            (None, Some(_)) => return Err(missing("meta-disk")),
        };
        volumes.push(Volume { number, device, minor, disk, meta_disk, explicit: v.explicit });
    }
    Ok(Host {
        names: rh.names,
        floating: rh.floating,
        address,
        node_id: rh.node_id,
        volumes,
        file: st.file.clone(),
        line: st.line,
    })
}

fn is_local_ip(ip: IpAddr) -> bool {
    std::net::UdpSocket::bind(SocketAddr::new(ip, 0)).is_ok()
}

fn validate_resource(s: &Stmt, r: &mut Resource, hostname: &str) -> Result<(), ConfigError> {
    let name = r.name.clone();
    let err = |msg: String| ConfigError::at(s, format!("resource {name}: {msg}"));
    let with_ids = r.hosts.iter().filter(|h| h.node_id.is_some()).count();
    if with_ids != 0 && with_ids != r.hosts.len() {
        return Err(err("node-id must be given for every host or for none".into()));
    }
    if with_ids == 0 && r.hosts.len() != 2 {
        return Err(err(format!("needs exactly two hosts, found {}", r.hosts.len())));
    }
    if with_ids != 0 && r.hosts.len() < 2 {
        return Err(err(format!("needs at least two hosts, found {}", r.hosts.len())));
    }
    for (i, a) in r.hosts.iter().enumerate() {
        for b in &r.hosts[i + 1..] {
            if a.names.iter().any(|n| b.is_named(n)) {
                return Err(err(format!("host {} appears twice", a.display_name())));
            }
            if a.address.addr == b.address.addr {
                return Err(err(format!("hosts share the address {}", a.address.addr)));
            }
            if a.address.family != b.address.family {
                return Err(err("hosts use different address families".into()));
            }
            if a.node_id.is_some() && a.node_id == b.node_id {
                return Err(err(format!("node-id {} used twice", a.node_id.unwrap_or(0))));
            }
        }
        let vols: Vec<u16> = a.volumes.iter().map(|v| v.number).collect();
        if vols != r.hosts[0].volumes.iter().map(|v| v.number).collect::<Vec<_>>() {
            return Err(err(format!("host {} has different volumes", a.display_name())));
        }
    }
    let me =
        r.hosts.iter().position(|h| h.is_named(hostname)).or_else(|| {
            r.hosts.iter().position(|h| h.floating && is_local_ip(h.address.addr.ip()))
        });
    r.this_host = me.ok_or_else(|| {
        err(format!("no 'on {hostname}' section for this host (set {HOSTNAME_ENV} to override)"))
    })?;
    let o = &r.options;
    let secret = o.net.shared_secret.is_some();
    if o.net.cram_hmac_alg.is_some() != secret {
        return Err(err("cram-hmac-alg and shared-secret must be set together".into()));
    }
    if o.net.timeout_ds >= o.net.connect_int_s * 10 || o.net.timeout_ds >= o.net.ping_int_s * 10 {
        return Err(err("timeout must be less than connect-int and ping-int".into()));
    }
    if o.net.allow_two_primaries && o.net.protocol != crate::config::options::Protocol::C {
        // Concurrent writes of two Primaries are resolved on the peer's acknowledgement,
        // which only protocol C waits for (DRBD refuses the same combination).
        return Err(err("allow-two-primaries needs protocol C".into()));
    }
    if o.disk.c_min_rate_kib > o.disk.c_max_rate_kib {
        return Err(err("c-min-rate is larger than c-max-rate".into()));
    }
    if let Some(b) = &o.startup.become_primary_on {
        if b != "both" && !r.hosts.iter().any(|h| h.is_named(b)) {
            return Err(err(format!("become-primary-on names unknown host '{b}'")));
        }
    }
    Ok(())
}

fn validate_across(resources: &[Resource]) -> Result<(), ConfigError> {
    let mut minors: BTreeMap<u32, (&str, &Path, u32)> = BTreeMap::new();
    let mut addrs: BTreeMap<SocketAddr, &str> = BTreeMap::new();
    for r in resources {
        let h = r.local();
        for v in &h.volumes {
            if let Some((other, f, l)) = minors.insert(v.minor, (&r.name, &h.file, h.line)) {
                return Err(ConfigError::Invalid {
                    file: h.file.clone(),
                    line: h.line,
                    msg: format!(
                        "minor {} of resource {} is already used by resource {other} ({}:{l})",
                        v.minor,
                        r.name,
                        f.display()
                    ),
                });
            }
        }
        if let Some(other) = addrs.insert(h.address.addr, &r.name) {
            return Err(ConfigError::Invalid {
                file: h.file.clone(),
                line: h.line,
                msg: format!(
                    "address {} of resource {} is already used by resource {other}",
                    h.address.addr, r.name
                ),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
