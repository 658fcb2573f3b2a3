//! The ublk front-end: the replicated volume as `/dev/ublkbN`, served through the kernel's
//! `ublk_drv` with the `libublk` crate, and the choice between it and loop-over-FUSE.
//!
//! # Choosing the front-end
//! [`choose_frontend`] reads `DRBD_UBLK_FRONTEND` (`ublk`, `fuse` or `auto`, the default).
//! `auto` takes ublk when `/dev/ublk-control` exists, or appears after one `modprobe ublk_drv`
//! (tried once per process), and loop-over-FUSE ([`crate::fuse`]) otherwise; `ublk` fails
//! when the driver is missing instead of falling back. Either way the stable names
//! `<dev_root>/by-res/<res>/<vol>` (or `<dev_root>/by-res/<res>`, see [`LinkStyle`]) and the
//! configuration's `device` name point at the kernel device, so users never see which one
//! serves them.
//!
//! # Mechanism
//! [`UblkDevice::start`] runs libublk's `run_target` in a control thread: it adds the device
//! (`UBLK_F_USER_RECOVERY | UBLK_F_USER_RECOVERY_REISSUE`, write-back cache and FUA
//! advertised, discard and write-zeroes up to [`DISCARD_MAX_BYTES`] per request), starts one
//! thread per hardware queue ([`queue`]: io_uring, plus a pool of workers that call the
//! blocking [`BlockBackend`], so up to `workers` requests per queue are in the backend at
//! once) and reports the device number once `START_DEV` has succeeded. The device number is
//! recorded in `<run_dir>/ublk/<res>-<vol>` so that a later daemon finds it again.
//!
//! # User recovery (a daemon that dies does not take the Primary's file system along)
//! When the daemon dies (crash, `kill -9`), the kernel keeps `/dev/ublkbN`, quiesces it and
//! requeues the requests the daemon had not answered (`REISSUE`): I/O waits, a mounted file
//! system stays mounted, and nothing that was acknowledged is lost (an acknowledged write is
//! in the backing device or the kernel's page cache of it, which outlives the process). The
//! next daemon's [`UblkDevice::start`] for the same resource and volume finds the recorded
//! device, checks that nobody serves it, and re-attaches it with `START_USER_RECOVERY` /
//! `END_USER_RECOVERY` instead of creating a new one. A resource comes up Secondary, so the
//! re-attachment waits until the device is made writable ([`UblkDevice::set_read_only`]
//! `false`, which `drbdadm primary` does): until then the waiting requests stay queued in
//! the kernel, and would otherwise be answered `EROFS`. `down` of a resource whose device
//! awaits recovery deletes the device: the waiting requests then fail with `EIO`.
//!
//! A daemon that stops on purpose (`drbdadm down`, `drbd-ublkd --shutdown`) deletes its
//! devices; only a daemon killed by a signal leaves them for recovery. A device whose daemon
//! never comes back keeps its I/O waiting until `drbdadm down` (of a new daemon) deletes it.
//!
//! # Secondary (read-only) and how it differs from DRBD
//! DRBD 8.4 refuses to *open* a Secondary for writing (`EROFS`) and, without `allow_oos`,
//! even for reading (`EMEDIUMTYPE`). ublk has no hook by which the server could refuse an
//! `open(2)`, so, as with the loop device of the FUSE front-end, a Secondary is `/dev/ublkbN`
//! with the block device's read-only flag set (`BLKROSET`): a write-open succeeds but every
//! write through it fails with `EPERM`, a read-write `mount` falls back to read-only
//! ("write-protected"), and any write, discard or write-zeroes request that still reaches
//! the daemon is answered `EROFS` before it reaches the engine. Reads are served (DRBD 9
//! behaviour). Demoting while the device is held exclusively (mounted) is refused with
//! `EBUSY` unless forced, like DRBD's `SS_DEVICE_IN_USE`.
//!
//! # Pitfalls handled
//! * `FLUSH` carries an undefined start sector: it is classified before any range check.
//! * Discard and write-zeroes carry no data and may be longer than the I/O buffer: they go to
//!   the backend as ranges, never through the buffer.
//! * Stopping uses a control handle of its own (`UblkCtrl::new_simple`), never the one
//!   `run_target` is blocked in, so it works from any thread.
//! * libublk's own warning: a daemon that is the *last* member of a mount namespace holding a
//!   file system on its own device deadlocks on exit. `drbd-ublkd` runs in the host's mount
//!   namespace, which outlives it.

mod queue;

use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, RecvTimeoutError};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use libublk::ctrl::{UblkCtrl, UblkCtrlBuilder};
use libublk::io::UblkDev;
use libublk::{sys, UblkFlags};

use crate::fuse::backend::Counters;
use crate::fuse::{
    check_name, create_dirs, place_link, BlockBackend, FuseError, FuseLoopDevice, LinkStyle,
};
use queue::Shared;

/// The environment variable that overrides the front-end choice.
pub const FRONTEND_ENV: &str = "DRBD_UBLK_FRONTEND";
/// The ublk control device.
pub const UBLK_CONTROL: &str = "/dev/ublk-control";
/// Largest discard or write-zeroes request the kernel sends (bytes).
pub const DISCARD_MAX_BYTES: u32 = 32 << 20;
/// `BLKROSET`.
const BLKROSET: libc::c_ulong = 0x125D;

/// Which kernel front-end serves a volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrontendKind {
    /// `/dev/ublkbN` through `ublk_drv`.
    Ublk,
    /// A loop device over a file in a FUSE mount.
    Fuse,
}

/// Errors of the ublk front-end. [`UblkError::errno`] gives the errno a CLI should report.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UblkError {
    /// `DRBD_UBLK_FRONTEND` has a value other than `ublk`, `fuse` or `auto`.
    #[error("{FRONTEND_ENV}={0:?}: must be ublk, fuse or auto")]
    InvalidFrontend(String),
    /// ublk was asked for but the kernel has no `ublk_drv`.
    #[error("ublk front-end asked for ({FRONTEND_ENV}=ublk) but {UBLK_CONTROL} is missing and `modprobe ublk_drv` did not provide it")]
    Unavailable,
    /// Options are inconsistent (names the option).
    #[error("invalid option {option}: {reason}")]
    InvalidOption {
        /// Option name.
        option: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A control command of the driver failed.
    #[error("ublk {op} (device {dev}): {detail}")]
    Driver {
        /// What was being done.
        op: &'static str,
        /// The device number (-1 before one is assigned).
        dev: i64,
        /// The libublk error.
        detail: String,
    },
    /// The device did not start in time.
    #[error("ublk device of {resource}/{volume} did not start within {secs} s")]
    StartTimeout {
        /// Resource name.
        resource: String,
        /// Volume number.
        volume: u16,
        /// How long was waited.
        secs: u64,
    },
    /// The recorded device is served by a live process.
    #[error("/dev/ublkb{dev} of {resource} is still served by process {pid}")]
    Served {
        /// Resource name.
        resource: String,
        /// Device number.
        dev: u32,
        /// The serving process.
        pid: i32,
    },
    /// The device is held open exclusively (mounted) and the operation was not forced.
    #[error("{dev} is in use (mounted or held open exclusively); unmount it first or force")]
    Busy {
        /// The block device.
        dev: PathBuf,
    },
    /// Writes were asked of a backend that cannot take them.
    #[error("backend is read-only")]
    ReadOnlyBackend,
    /// A file operation (record file, ioctl on the block device) failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Creating the stable names failed (the FUSE front-end's link code is shared).
    #[error(transparent)]
    Links(#[from] FuseError),
}

impl UblkError {
    /// The errno that describes this error (`EBUSY` for [`UblkError::Busy`]).
    pub fn errno(&self) -> i32 {
        match self {
            UblkError::InvalidFrontend(_) | UblkError::InvalidOption { .. } => libc::EINVAL,
            UblkError::Unavailable => libc::ENODEV,
            UblkError::Driver { .. } => libc::EIO,
            UblkError::StartTimeout { .. } => libc::ETIMEDOUT,
            UblkError::Served { .. } | UblkError::Busy { .. } => libc::EBUSY,
            UblkError::ReadOnlyBackend => libc::EROFS,
            UblkError::Io { source, .. } => source.raw_os_error().unwrap_or(libc::EIO),
            UblkError::Links(e) => e.errno(),
        }
    }
}

fn driver(op: &'static str, dev: i64, e: libublk::UblkError) -> UblkError {
    let detail = match e {
        libublk::UblkError::OtherError(n) | libublk::UblkError::UringIOError(n) => {
            format!("{}", io::Error::from_raw_os_error(n.abs()))
        }
        other => format!("{other} ({other:?})"),
    };
    UblkError::Driver { op, dev, detail }
}

/// Parses a `DRBD_UBLK_FRONTEND` value: `None` for `auto` (or empty).
///
/// # Errors
/// [`UblkError::InvalidFrontend`] for anything else than `ublk`, `fuse`, `auto`.
pub fn parse_frontend(value: &str) -> Result<Option<FrontendKind>, UblkError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "" | "auto" => Ok(None),
        "ublk" => Ok(Some(FrontendKind::Ublk)),
        "fuse" | "loop" => Ok(Some(FrontendKind::Fuse)),
        _ => Err(UblkError::InvalidFrontend(value.to_string())),
    }
}

/// Whether `ublk_drv` is usable: `/dev/ublk-control` exists, or appears after one
/// `modprobe ublk_drv` (attempted once per process).
pub fn ublk_available() -> bool {
    static PROBED: OnceLock<()> = OnceLock::new();
    if Path::new(UBLK_CONTROL).exists() {
        return true;
    }
    PROBED.get_or_init(|| {
        let _ = std::process::Command::new("modprobe")
            .args(["-q", "ublk_drv"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    });
    Path::new(UBLK_CONTROL).exists()
}

/// The front-end for the next device: `DRBD_UBLK_FRONTEND` if set, else ublk where the
/// driver is available and loop-over-FUSE otherwise.
///
/// # Errors
/// A bad `DRBD_UBLK_FRONTEND` value; `ublk` asked for but unavailable.
pub fn choose_frontend() -> Result<FrontendKind, UblkError> {
    let asked = match std::env::var(FRONTEND_ENV) {
        Ok(v) => parse_frontend(&v)?,
        Err(_) => None,
    };
    match asked {
        Some(FrontendKind::Fuse) => Ok(FrontendKind::Fuse),
        Some(FrontendKind::Ublk) if ublk_available() => Ok(FrontendKind::Ublk),
        Some(FrontendKind::Ublk) => Err(UblkError::Unavailable),
        None if ublk_available() => Ok(FrontendKind::Ublk),
        None => Ok(FrontendKind::Fuse),
    }
}

/// Options of [`UblkDevice::start`]. `Default` gives the production settings.
#[derive(Debug, Clone)]
pub struct UblkOptions {
    /// Run directory; the device record lives in `<run_dir>/ublk/`. Default `/run/drbd-ublk`.
    pub run_dir: PathBuf,
    /// Directory for the stable names (`<dev_root>/by-res/...`). Default `/dev/drbd`.
    pub dev_root: PathBuf,
    /// Stable-name style. Default [`LinkStyle::WithVolume`].
    pub link_style: LinkStyle,
    /// The configuration's `device` name (`/dev/drbd0`), made a link to the device too. An
    /// existing file there that is not a symlink is never replaced. Default `None`.
    pub device_link: Option<PathBuf>,
    /// Hardware queues (one io_uring thread each), 1..=16. Default 1.
    pub queues: u16,
    /// Requests in flight per queue, 1..=1024. Default 64.
    pub depth: u16,
    /// Worker threads per queue calling the backend, 1..=depth. Default 32.
    pub workers: usize,
    /// Largest read or write (bytes), a power of two in 4 KiB..=1 MiB. Default 512 KiB.
    pub io_buf_bytes: u32,
    /// Start as Secondary: writes refused. Default off.
    pub read_only: bool,
    /// How long [`UblkDevice::start`] waits for the device to come up. Default 30 s.
    pub start_timeout: Duration,
}

impl Default for UblkOptions {
    fn default() -> Self {
        UblkOptions {
            run_dir: PathBuf::from("/run/drbd-ublk"),
            dev_root: PathBuf::from("/dev/drbd"),
            link_style: LinkStyle::WithVolume,
            device_link: None,
            queues: 1,
            depth: 64,
            workers: 32,
            io_buf_bytes: 512 << 10,
            read_only: false,
            start_timeout: Duration::from_secs(30),
        }
    }
}

impl UblkOptions {
    /// Checks the option values.
    ///
    /// # Errors
    /// [`UblkError::InvalidOption`] naming the first bad option.
    pub fn validate(&self) -> Result<(), UblkError> {
        let bad = |option, reason: &str| {
            Err(UblkError::InvalidOption { option, reason: reason.to_string() })
        };
        if !(1..=16).contains(&self.queues) {
            return bad("queues", "must be 1..=16");
        }
        if !(1..=1024).contains(&self.depth) {
            return bad("depth", "must be 1..=1024");
        }
        if self.workers == 0 || self.workers > usize::from(self.depth) {
            return bad("workers", "must be 1..=depth");
        }
        let b = self.io_buf_bytes;
        if !b.is_power_of_two() || !(4096..=1 << 20).contains(&b) {
            return bad("io_buf_bytes", "must be a power of two in 4096..=1048576");
        }
        Ok(())
    }
}

/// A snapshot of the ublk front-end's counters.
pub type UblkStats = crate::fuse::FrontendStats;

enum State {
    /// Queue threads run; the handle is the control thread inside `run_target`.
    Serving(JoinHandle<()>),
    /// A device left by a dead daemon, quiesced, waiting for promotion.
    AwaitingRecovery,
    /// Stopped and deleted.
    Stopped,
}

struct Inner {
    state: State,
    links: Vec<PathBuf>,
    created_dirs: Vec<PathBuf>,
    record: PathBuf,
}

/// A ublk device serving one volume. Dropping it stops and deletes the device (forced if it
/// is in use).
pub struct UblkDevice {
    resource: String,
    volume: u16,
    dev_id: u32,
    device: PathBuf,
    recovered: bool,
    shared: Arc<Shared>,
    opts: UblkOptions,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for UblkDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UblkDevice")
            .field("resource", &self.resource)
            .field("volume", &self.volume)
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

/// What the control thread reports.
enum Report {
    /// The device number is assigned (add) or known (recovery).
    Added(u32),
    /// `START_DEV` / `END_USER_RECOVERY` succeeded.
    Started,
    /// Giving up.
    Failed(UblkError),
}

fn record_path(run_dir: &Path, resource: &str, volume: u16) -> PathBuf {
    run_dir.join("ublk").join(format!("{resource}-{volume}"))
}

/// Parses a device record: the device number on the first line.
fn parse_record(text: &str) -> Option<u32> {
    text.lines().next()?.trim().parse().ok()
}

fn pid_alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    // SAFETY: kill with signal 0 only checks for existence; no memory is involved.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

fn bdev_path(id: u32) -> PathBuf {
    PathBuf::from(format!("/dev/ublkb{id}"))
}

/// Warns once per process when the daemon runs in another mount namespace than PID 1 (see
/// the module doc: a private copy of a mount on one of its devices can hang its exit).
fn warn_private_mount_namespace() {
    static WARNED: OnceLock<()> = OnceLock::new();
    WARNED.get_or_init(|| {
        let ns = |p: &str| std::fs::read_link(p).ok();
        let (mine, init) = (ns("/proc/self/ns/mnt"), ns("/proc/1/ns/mnt"));
        if mine.is_some() && init.is_some() && mine != init {
            eprintln!(
                "drbd-ublk: warning: drbd-ublkd runs in a private mount namespace; a file system \
                 mounted on a ublk device while it starts stays alive in its copy after umount, \
                 and a killed daemon then hangs flushing it: run it in the host's mount namespace"
            );
        }
    });
}

/// A device left by a dead daemon for this record, if the kernel still has it.
fn previous_device(record: &Path, resource: &str) -> Result<Option<u32>, UblkError> {
    let Some(id) = std::fs::read_to_string(record).ok().as_deref().and_then(parse_record) else {
        return Ok(None);
    };
    if !Path::new(&format!("/sys/class/ublk-char/ublkc{id}")).exists() {
        let _ = std::fs::remove_file(record);
        return Ok(None);
    }
    let ctrl = UblkCtrl::new_simple(id as i32).map_err(|e| driver("open", id.into(), e))?;
    let info = ctrl.dev_info();
    if info.state == sys::UBLK_S_DEV_LIVE as u16 && pid_alive(info.ublksrv_pid) {
        return Err(UblkError::Served {
            resource: resource.to_string(),
            dev: id,
            pid: info.ublksrv_pid,
        });
    }
    Ok(Some(id))
}

/// Opens the block device (for ioctls; no I/O is done through it).
fn open_bdev(path: &Path, extra: libc::c_int) -> io::Result<std::fs::File> {
    std::fs::OpenOptions::new().read(true).custom_flags(libc::O_CLOEXEC | extra).open(path)
}

fn set_bdev_read_only(path: &Path, ro: bool) -> Result<(), UblkError> {
    use std::os::fd::AsRawFd;
    let io_err = |source| UblkError::Io { op: "BLKROSET", path: path.to_path_buf(), source };
    let f = open_bdev(path, 0).map_err(io_err)?;
    let v: libc::c_int = ro.into();
    // SAFETY: BLKROSET reads one int through the pointer, which points at a live local; the
    // descriptor is open for the whole call.
    let rc = unsafe { libc::ioctl(f.as_raw_fd(), BLKROSET, &v as *const libc::c_int) };
    if rc != 0 {
        return Err(io_err(io::Error::last_os_error()));
    }
    Ok(())
}

/// Sets the device parameters in `run_target`'s target-init step.
fn init_target(dev: &mut UblkDev, size: u64) {
    let info = dev.dev_info;
    dev.tgt.dev_size = size;
    // Room for every tag's command plus the eventfd poll, in both rings.
    dev.tgt.sq_depth = info.queue_depth.saturating_mul(2);
    dev.tgt.cq_depth = info.queue_depth.saturating_mul(2);
    dev.tgt.params = sys::ublk_params {
        types: sys::UBLK_PARAM_TYPE_BASIC | sys::UBLK_PARAM_TYPE_DISCARD,
        basic: sys::ublk_param_basic {
            attrs: sys::UBLK_ATTR_VOLATILE_CACHE | sys::UBLK_ATTR_FUA,
            logical_bs_shift: 9,
            physical_bs_shift: 12,
            io_opt_shift: 12,
            io_min_shift: 9,
            max_sectors: info.max_io_buf_bytes >> 9,
            dev_sectors: size >> 9,
            ..Default::default()
        },
        discard: sys::ublk_param_discard {
            discard_alignment: 0,
            discard_granularity: 4096,
            max_discard_sectors: DISCARD_MAX_BYTES >> 9,
            max_write_zeroes_sectors: DISCARD_MAX_BYTES >> 9,
            max_discard_segments: 1,
            reserved0: 0,
        },
        ..Default::default()
    };
}

impl UblkDevice {
    /// Serves `backend` as a ublk device for volume `volume` of `resource`, re-attaching the
    /// device a dead daemon left for it (see the module doc) instead of adding a new one.
    ///
    /// On error everything made so far is removed again.
    ///
    /// # Errors
    /// Bad options or name, the driver refuses, the device is served by a live process, the
    /// links cannot be made.
    pub fn start(
        resource: &str,
        volume: u16,
        backend: Arc<dyn BlockBackend>,
        opts: &UblkOptions,
    ) -> Result<UblkDevice, UblkError> {
        opts.validate()?;
        check_name(resource)?;
        if opts.link_style == LinkStyle::Implicit && volume != 0 {
            return Err(UblkError::InvalidOption {
                option: "link_style",
                reason: "Implicit names only volume 0".to_string(),
            });
        }
        if !opts.read_only && !backend.writable() {
            return Err(UblkError::ReadOnlyBackend);
        }
        let shared = Arc::new(Shared {
            backend,
            read_only: AtomicBool::new(opts.read_only),
            counters: Counters::default(),
            workers: opts.workers,
        });
        let record = record_path(&opts.run_dir, resource, volume);
        let mut inner =
            Inner { state: State::Stopped, links: Vec::new(), created_dirs: Vec::new(), record };
        warn_private_mount_namespace();
        let previous = previous_device(&inner.record, resource)?;
        let mut dev = UblkDevice {
            resource: resource.to_string(),
            volume,
            dev_id: 0,
            device: PathBuf::new(),
            recovered: previous.is_some(),
            shared,
            opts: opts.clone(),
            inner: Mutex::new(Inner {
                state: State::Stopped,
                links: Vec::new(),
                created_dirs: Vec::new(),
                record: PathBuf::new(),
            }),
        };
        let r = dev.bring_up(&mut inner, previous);
        dev.inner = Mutex::new(inner);
        match r {
            Ok(()) => Ok(dev),
            Err(e) => {
                let _ = dev.stop(true);
                Err(e)
            }
        }
    }

    fn bring_up(&mut self, inner: &mut Inner, previous: Option<u32>) -> Result<(), UblkError> {
        match previous {
            Some(id) => {
                self.dev_id = id;
                self.device = bdev_path(id);
                eprintln!(
                    "drbd {}: found {} left by a previous daemon: re-attaching it ({})",
                    self.resource,
                    self.device.display(),
                    if self.opts.read_only { "when promoted" } else { "now" }
                );
                inner.state = State::AwaitingRecovery;
                if !self.opts.read_only {
                    self.recover(inner)?;
                }
            }
            None => {
                let (id, handle) = self.spawn_server(None)?;
                self.dev_id = id;
                self.device = bdev_path(id);
                inner.state = State::Serving(handle);
                if self.opts.read_only {
                    set_bdev_read_only(&self.device, true)?;
                }
            }
        }
        if let Some(dir) = inner.record.parent() {
            create_dirs(dir, &mut inner.created_dirs)?;
        }
        std::fs::write(&inner.record, format!("{}\n", self.dev_id)).map_err(|source| {
            UblkError::Io { op: "write device record", path: inner.record.clone(), source }
        })?;
        let by_res = self.opts.dev_root.join("by-res").join(&self.resource);
        let link = match self.opts.link_style {
            LinkStyle::WithVolume => by_res.join(self.volume.to_string()),
            LinkStyle::Implicit => by_res,
        };
        if let Some(dir) = link.parent() {
            create_dirs(dir, &mut inner.created_dirs)?;
        }
        place_link(&link, &self.device)?;
        inner.links.push(link);
        if let Some(name) = &self.opts.device_link {
            place_link(name, &self.device)?;
            inner.links.push(name.clone());
        }
        Ok(())
    }

    /// Re-attaches a device left by a dead daemon.
    fn recover(&self, inner: &mut Inner) -> Result<(), UblkError> {
        let id = self.dev_id;
        let ctrl = UblkCtrl::new_simple(id as i32).map_err(|e| driver("open", id.into(), e))?;
        match ctrl.start_user_recover() {
            Ok(r) if r < 0 => {
                return Err(driver("start recovery", id.into(), libublk::UblkError::OtherError(r)))
            }
            Ok(_) => {}
            Err(e) => return Err(driver("start recovery", id.into(), e)),
        }
        drop(ctrl);
        let (_, handle) = self.spawn_server(Some(id))?;
        inner.state = State::Serving(handle);
        eprintln!("drbd {}: {} re-attached (user recovery)", self.resource, self.device.display());
        Ok(())
    }

    /// Starts the control thread (`run_target`) for a new device (`None`) or the recovery
    /// of device `id`; returns the device number once the device runs.
    fn spawn_server(&self, id: Option<u32>) -> Result<(u32, JoinHandle<()>), UblkError> {
        let (tx, rx) = sync_channel::<Report>(4);
        let shared = Arc::clone(&self.shared);
        let opts = self.opts.clone();
        let size = shared.backend.size_bytes() & !4095;
        let handle = std::thread::Builder::new()
            .name(format!("ublk-{}", self.resource))
            .spawn(move || serve_device(id, size, &opts, shared, tx))
            .map_err(|source| UblkError::Io {
                op: "spawn ublk control thread",
                path: PathBuf::from(UBLK_CONTROL),
                source,
            })?;
        let mut assigned = id;
        let timeout = self.opts.start_timeout;
        let failed = loop {
            match rx.recv_timeout(timeout) {
                Ok(Report::Added(n)) => assigned = Some(n),
                Ok(Report::Started) => match assigned {
                    Some(n) => return Ok((n, handle)),
                    None => break None,
                },
                Ok(Report::Failed(e)) => break Some(e),
                Err(RecvTimeoutError::Disconnected) => break None,
                Err(RecvTimeoutError::Timeout) => {
                    break Some(UblkError::StartTimeout {
                        resource: self.resource.clone(),
                        volume: self.volume,
                        secs: timeout.as_secs(),
                    })
                }
            }
        };
        if let Some(n) = assigned {
            if let Ok(c) = UblkCtrl::new_simple(n as i32) {
                let _ = c.kill_dev();
            }
        }
        let _ = handle.join();
        Err(failed.unwrap_or_else(|| UblkError::Driver {
            op: "start",
            dev: assigned.map_or(-1, i64::from),
            detail: "the control thread ended before the device started".to_string(),
        }))
    }

    /// `/dev/ublkbN`.
    pub fn device(&self) -> &Path {
        &self.device
    }

    /// The device number `N` of `/dev/ublkbN`.
    pub fn dev_id(&self) -> u32 {
        self.dev_id
    }

    /// The resource name.
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// The volume number.
    pub fn volume(&self) -> u16 {
        self.volume
    }

    /// Whether this device was left by a previous daemon (re-attached or awaiting it).
    pub fn recovered(&self) -> bool {
        self.recovered
    }

    /// Whether the device waits for promotion to be re-attached (its I/O is queued in the
    /// kernel meanwhile).
    pub fn awaiting_recovery(&self) -> bool {
        matches!(self.lock().state, State::AwaitingRecovery)
    }

    /// The stable names created for the device.
    pub fn links(&self) -> Vec<PathBuf> {
        self.lock().links.clone()
    }

    /// Counters so far.
    pub fn stats(&self) -> UblkStats {
        self.shared.counters.snapshot()
    }

    /// Whether writes are refused (Secondary).
    pub fn is_read_only(&self) -> bool {
        self.shared.read_only.load(Ordering::Acquire)
    }

    /// Whether something holds the device exclusively (a mounted file system).
    pub fn in_use(&self) -> bool {
        let r = open_bdev(&self.device, libc::O_EXCL);
        matches!(r, Err(e) if e.raw_os_error() == Some(libc::EBUSY))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Switches between Primary (`false`) and Secondary (`true`). Making a device that
    /// awaits recovery writable re-attaches it first.
    ///
    /// # Errors
    /// [`UblkError::Busy`] when demoting a device that is held exclusively (mounted) without
    /// `force`; [`UblkError::ReadOnlyBackend`] when promoting over a read-only backend; the
    /// recovery or `BLKROSET` error.
    pub fn set_read_only(&self, read_only: bool, force: bool) -> Result<(), UblkError> {
        if !read_only && !self.shared.backend.writable() {
            return Err(UblkError::ReadOnlyBackend);
        }
        let mut inner = self.lock();
        match inner.state {
            State::Stopped => {
                return Err(UblkError::Io {
                    op: "set read-only",
                    path: self.device.clone(),
                    source: io::Error::from_raw_os_error(libc::ENXIO),
                })
            }
            State::AwaitingRecovery => {
                self.shared.read_only.store(read_only, Ordering::Release);
                if read_only {
                    return Ok(());
                }
                self.recover(&mut inner)?;
                return set_bdev_read_only(&self.device, false);
            }
            State::Serving(_) => {}
        }
        if read_only && !self.is_read_only() && self.in_use() && !force {
            return Err(UblkError::Busy { dev: self.device.clone() });
        }
        // Refuse in the daemon first, then flag the block device, so no write slips through.
        if read_only {
            self.shared.read_only.store(true, Ordering::Release);
        }
        set_bdev_read_only(&self.device, read_only)?;
        self.shared.read_only.store(read_only, Ordering::Release);
        Ok(())
    }

    /// Stops and deletes the device, removes its links and record. A device awaiting
    /// recovery is deleted too (its waiting I/O fails with `EIO`).
    ///
    /// # Errors
    /// [`UblkError::Busy`] (`EBUSY`) while the device is held exclusively (mounted) and
    /// `force` is off; nothing is changed then.
    pub fn stop(&self, force: bool) -> Result<(), UblkError> {
        let mut inner = self.lock();
        let state = std::mem::replace(&mut inner.state, State::Stopped);
        let live = !matches!(state, State::Stopped);
        if live && !force && self.in_use() {
            inner.state = state;
            return Err(UblkError::Busy { dev: self.device.clone() });
        }
        if live {
            match UblkCtrl::new_simple(self.dev_id as i32) {
                Ok(c) => {
                    let _ = c.kill_dev();
                    if let State::Serving(handle) = state {
                        // The control thread deletes the device once its queues are down.
                        let _ = handle.join();
                    } else {
                        let _ = c.del_dev();
                    }
                }
                Err(e) => {
                    eprintln!("drbd {}: stopping {}: {e:?}", self.resource, self.device.display())
                }
            }
        }
        if !inner.record.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&inner.record);
        }
        for (i, link) in std::mem::take(&mut inner.links).into_iter().enumerate() {
            let _ = std::fs::remove_file(&link);
            if let Some(parent) = link.parent().filter(|_| i == 0) {
                if parent.file_name().is_some_and(|n| n != "by-res") {
                    let _ = std::fs::remove_dir(parent);
                }
            }
        }
        for d in inner.created_dirs.drain(..).rev() {
            let _ = std::fs::remove_dir(&d);
        }
        Ok(())
    }
}

impl Drop for UblkDevice {
    fn drop(&mut self) {
        if self.stop(false).is_err() {
            let _ = self.stop(true);
        }
    }
}

/// The control thread: adds (or recovers) the device, runs it until its queues end, then
/// deletes it.
fn serve_device(
    id: Option<u32>,
    size: u64,
    opts: &UblkOptions,
    shared: Arc<Shared>,
    tx: std::sync::mpsc::SyncSender<Report>,
) {
    let flags = (sys::UBLK_F_USER_RECOVERY | sys::UBLK_F_USER_RECOVERY_REISSUE) as u64;
    let builder = UblkCtrlBuilder::default()
        .name("drbd-ublk")
        .id(id.map_or(-1, |n| n as i32))
        .nr_queues(opts.queues)
        .depth(opts.depth)
        .io_buf_bytes(opts.io_buf_bytes)
        .ctrl_flags(flags)
        .dev_flags(if id.is_some() {
            UblkFlags::UBLK_DEV_F_RECOVER_DEV
        } else {
            UblkFlags::UBLK_DEV_F_ADD_DEV
        });
    let ctrl = match builder.build() {
        Ok(c) => c,
        Err(e) => {
            let _ = tx.send(Report::Failed(driver("add", id.map_or(-1, i64::from), e)));
            return;
        }
    };
    let n = ctrl.dev_info().dev_id;
    let _ = tx.send(Report::Added(n));
    let started = tx.clone();
    let q_shared = Arc::clone(&shared);
    let r = ctrl.run_target(
        |dev: &mut UblkDev| {
            init_target(dev, size);
            Ok(())
        },
        move |qid, dev: &UblkDev| queue::run_queue(qid, dev, &q_shared),
        move |_ctrl: &UblkCtrl| {
            let _ = started.send(Report::Started);
        },
    );
    if let Err(e) = r {
        let _ = tx.send(Report::Failed(driver("start", n.into(), e)));
    }
    // Queues are down: the device was stopped on purpose (a dead daemon never gets here).
    let _ = ctrl.del_dev();
}

/// The kernel device of a volume, whichever front-end serves it.
#[derive(Debug)]
pub enum Device {
    /// Loop over FUSE.
    Fuse(FuseLoopDevice),
    /// ublk.
    Ublk(UblkDevice),
}

/// Errors of [`Device`] operations.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// From the FUSE front-end.
    #[error(transparent)]
    Fuse(#[from] FuseError),
    /// From the ublk front-end.
    #[error(transparent)]
    Ublk(#[from] UblkError),
}

impl DeviceError {
    /// The errno that describes this error.
    pub fn errno(&self) -> i32 {
        match self {
            DeviceError::Fuse(e) => e.errno(),
            DeviceError::Ublk(e) => e.errno(),
        }
    }
}

impl Device {
    /// The kernel block device (`/dev/loopN` or `/dev/ublkbN`).
    pub fn device(&self) -> &Path {
        match self {
            Device::Fuse(d) => d.device(),
            Device::Ublk(d) => d.device(),
        }
    }

    /// Which front-end serves it.
    pub fn kind(&self) -> FrontendKind {
        match self {
            Device::Fuse(_) => FrontendKind::Fuse,
            Device::Ublk(_) => FrontendKind::Ublk,
        }
    }

    /// Whether writes are refused (Secondary).
    pub fn is_read_only(&self) -> bool {
        match self {
            Device::Fuse(d) => d.is_read_only(),
            Device::Ublk(d) => d.is_read_only(),
        }
    }

    /// Whether the device waits for promotion to be re-attached after a daemon crash (its
    /// page cache is then the Primary's own and must not be dropped).
    pub fn awaiting_recovery(&self) -> bool {
        match self {
            Device::Fuse(_) => false,
            Device::Ublk(d) => d.awaiting_recovery(),
        }
    }

    /// Switches between Primary (`false`) and Secondary (`true`).
    ///
    /// # Errors
    /// `EBUSY` when demoting a mounted device without `force`, and the front-end's errors.
    pub fn set_read_only(&self, read_only: bool, force: bool) -> Result<(), DeviceError> {
        match self {
            Device::Fuse(d) => Ok(d.set_read_only(read_only, force)?),
            Device::Ublk(d) => Ok(d.set_read_only(read_only, force)?),
        }
    }

    /// Tears the device down.
    ///
    /// # Errors
    /// `EBUSY` while mounted and not forced, and the front-end's errors.
    pub fn stop(&self, force: bool) -> Result<(), DeviceError> {
        match self {
            Device::Fuse(d) => Ok(d.stop(force)?),
            Device::Ublk(d) => Ok(d.stop(force)?),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frontend_values() {
        assert_eq!(parse_frontend("").unwrap(), None);
        assert_eq!(parse_frontend("auto").unwrap(), None);
        assert_eq!(parse_frontend("UBLK").unwrap(), Some(FrontendKind::Ublk));
        assert_eq!(parse_frontend(" fuse ").unwrap(), Some(FrontendKind::Fuse));
        let e = parse_frontend("nbd").unwrap_err();
        assert_eq!(e.errno(), libc::EINVAL);
        assert!(e.to_string().contains("DRBD_UBLK_FRONTEND=\"nbd\""), "{e}");
    }

    #[test]
    fn options_are_validated_by_name() {
        assert!(UblkOptions::default().validate().is_ok());
        let bad = |o: UblkOptions| match o.validate() {
            Err(UblkError::InvalidOption { option, .. }) => option,
            other => panic!("{other:?}"),
        };
        assert_eq!(bad(UblkOptions { queues: 0, ..Default::default() }), "queues");
        assert_eq!(bad(UblkOptions { depth: 0, ..Default::default() }), "depth");
        assert_eq!(bad(UblkOptions { depth: 8, workers: 9, ..Default::default() }), "workers");
        assert_eq!(bad(UblkOptions { workers: 0, ..Default::default() }), "workers");
        let o = UblkOptions { io_buf_bytes: 3 << 12, ..Default::default() };
        assert_eq!(bad(o), "io_buf_bytes");
    }

    #[test]
    fn records_name_the_device_number() {
        assert_eq!(parse_record("3\n"), Some(3));
        assert_eq!(parse_record(" 12 \nextra"), Some(12));
        assert_eq!(parse_record("x"), None);
        assert_eq!(parse_record(""), None);
        let p = record_path(Path::new("/run/x"), "r0", 1);
        assert_eq!(p, Path::new("/run/x/ublk/r0-1"));
    }

    #[test]
    fn a_missing_record_or_device_means_a_fresh_start() {
        let dir = tempfile::tempdir().unwrap();
        let rec = dir.path().join("r0-0");
        assert!(previous_device(&rec, "r0").unwrap().is_none());
        // A record naming a device the kernel does not have is stale and removed.
        std::fs::write(&rec, "4242\n").unwrap();
        assert!(previous_device(&rec, "r0").unwrap().is_none());
        assert!(!rec.exists());
    }

    #[test]
    fn busy_maps_to_ebusy_and_devices_are_send_sync() {
        let e = UblkError::Busy { dev: PathBuf::from("/dev/ublkb3") };
        assert_eq!(e.errno(), libc::EBUSY);
        assert!(e.to_string().contains("/dev/ublkb3"));
        fn send_sync<T: Send + Sync>() {}
        send_sync::<UblkDevice>();
        send_sync::<Device>();
    }
}

/// Tests on a real ublk device: they run where `/dev/ublk-control` exists (the VM of
/// `scripts/vm-test.sh`) and print that they are skipped elsewhere.
#[cfg(test)]
mod device_tests {
    use super::*;
    use crate::fuse::{FileBackend, FileBackendOptions};
    use std::os::unix::fs::FileExt;

    fn have_ublk() -> bool {
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        if !root || !Path::new(UBLK_CONTROL).exists() {
            eprintln!("skipped: needs root and {UBLK_CONTROL}");
            return false;
        }
        true
    }

    fn aligned(len: usize) -> Vec<u8> {
        // 4 KiB-aligned storage inside a Vec: over-allocate and offset when used.
        vec![0u8; len + 4096]
    }

    fn direct(path: &Path, write: bool) -> io::Result<std::fs::File> {
        std::fs::OpenOptions::new().read(true).write(write).custom_flags(libc::O_DIRECT).open(path)
    }

    #[test]
    fn file_backend_through_ublk_read_write_read_only_stop() {
        if !have_ublk() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("img");
        std::fs::File::create(&img).unwrap().set_len(16 << 20).unwrap();
        let backend = Arc::new(FileBackend::open(&img, FileBackendOptions::default()).unwrap());
        let opts = UblkOptions {
            run_dir: dir.path().join("run"),
            dev_root: dir.path().join("dev"),
            link_style: LinkStyle::Implicit,
            depth: 16,
            workers: 4,
            ..Default::default()
        };
        let dev = UblkDevice::start("ut0", 0, backend, &opts).unwrap();
        let link = dir.path().join("dev/by-res/ut0");
        assert_eq!(std::fs::read_link(&link).unwrap(), dev.device());
        assert!(dir.path().join("run/ublk/ut0-0").exists());

        // Concurrent direct writes of distinct patterns, then read back.
        let mut store = aligned(64 << 10);
        let off = (4096 - store.as_ptr() as usize % 4096) % 4096;
        std::thread::scope(|s| {
            for i in 0..8u8 {
                let path = dev.device().to_path_buf();
                s.spawn(move || {
                    let mut b = aligned(64 << 10);
                    let o = (4096 - b.as_ptr() as usize % 4096) % 4096;
                    b[o..o + (64 << 10)].fill(i + 1);
                    let f = direct(&path, true).unwrap();
                    f.write_all_at(&b[o..o + (64 << 10)], u64::from(i) << 20).unwrap();
                });
            }
        });
        let f = direct(dev.device(), false).unwrap();
        for i in 0..8u8 {
            f.read_exact_at(&mut store[off..off + (64 << 10)], u64::from(i) << 20).unwrap();
            assert!(store[off..off + (64 << 10)].iter().all(|&b| b == i + 1), "block {i}");
        }
        drop(f);
        // The data reached the backing file.
        let mut raw = vec![0u8; 4096];
        std::fs::File::open(&img).unwrap().read_exact_at(&mut raw, 3 << 20).unwrap();
        assert!(raw.iter().all(|&b| b == 4));
        assert!(dev.stats().writes >= 8);

        // Secondary: writes fail, reads work.
        dev.set_read_only(true, false).unwrap();
        let w = direct(dev.device(), true).and_then(|f| f.write_all_at(&store[off..off + 4096], 0));
        let e = w.unwrap_err();
        assert!(matches!(e.raw_os_error(), Some(libc::EPERM) | Some(libc::EROFS)), "{e}");
        let f = direct(dev.device(), false).unwrap();
        f.read_exact_at(&mut store[off..off + 4096], 0).unwrap();
        drop(f);
        dev.set_read_only(false, false).unwrap();

        let path = dev.device().to_path_buf();
        dev.stop(false).unwrap();
        assert!(!link.exists() && !dir.path().join("run/ublk/ut0-0").exists());
        for _ in 0..250 {
            if !path.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(!path.exists(), "{} still exists after stop", path.display());
    }

    /// `DRBD_UBLK_BENCH_FIO=1`: fio 4k random writes at QD32 on a ublk device over a plain
    /// file (front-end cost without the engine), printed for comparison.
    #[test]
    fn fio_on_file_backend_when_asked() {
        if std::env::var_os("DRBD_UBLK_BENCH_FIO").is_none() || !have_ublk() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("img");
        std::fs::File::create(&img).unwrap().set_len(256 << 20).unwrap();
        let backend = Arc::new(FileBackend::open(&img, FileBackendOptions::default()).unwrap());
        let opts = UblkOptions {
            run_dir: dir.path().join("run"),
            dev_root: dir.path().join("dev"),
            ..Default::default()
        };
        let dev = UblkDevice::start("bench", 0, backend, &opts).unwrap();
        let out = std::process::Command::new("fio")
            .args(["--ioengine=io_uring", "--direct=1", "--rw=randwrite", "--bs=4k"])
            .args(["--iodepth=32", "--runtime=10", "--time_based", "--size=200M"])
            .args(["--name=ublk-file", "--group_reporting"])
            .arg(format!("--filename={}", dev.device().display()))
            .output()
            .unwrap();
        eprintln!("{}", String::from_utf8_lossy(&out.stdout));
        dev.stop(true).unwrap();
    }
}
