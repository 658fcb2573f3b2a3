//! The loop-over-FUSE front-end: the replicated volume as a file in a FUSE mount, attached to
//! a loop device, for kernels without `ublk_drv`.
//!
//! # Mechanism
//! [`FuseLoopDevice::start`] mounts a FUSE file system at `<run_dir>/fuse/<res>/<vol>` (with
//! `mount(2)` directly: no `fusermount`, no auto-unmount) that holds one regular file,
//! `vol<vol>`, the size of the backend. The daemon opens that file `O_RDWR | O_DIRECT` and
//! binds it to a free loop device with `LOOP_CONFIGURE` (512-byte logical sectors, direct
//! I/O, so the kernel keeps no second page cache of the volume), then points
//! `<dev_root>/by-res/<res>/<vol>` (or `<dev_root>/by-res/<res>`, see [`LinkStyle`]) at
//! `/dev/loopN`. The kernel's block requests on the loop device become FUSE requests that
//! worker threads hand to the [`BlockBackend`]: `READ`/`WRITE` to `read_at`/`write_at`,
//! `FSYNC` (the only barrier; FUA arrives as write + `FSYNC`) to `flush`, `fallocate`
//! `PUNCH_HOLE` to `discard` and `ZERO_RANGE` to `write_zeroes`. A request is answered only
//! when the backend call returns, so a block write completes when the backend has it.
//!
//! # Invariants
//! * Teardown runs in the only safe order, loop device → FUSE unmount → links: the loop
//!   device holds the FUSE file open, so the FUSE mount cannot go first. [`stop`] refuses with
//!   `EBUSY` while something holds the loop device exclusively (a mounted file system) unless
//!   forced; forced teardown detaches lazily and aborts the FUSE connection, so pending and
//!   later I/O fail with `EIO` (as when the daemon dies) instead of hanging.
//! * A daemon must never do I/O on its own loop device (it would wait on itself), and
//!   keeps no descriptor open on its own FUSE mount: it closes the file once the loop driver
//!   holds it, and the file is opened with `FOPEN_NOFLUSH`, so a dying daemon never waits in
//!   `exit` for a reply from its own dead workers.
//! * The FUSE writeback cache is never enabled; `FSYNC` is always implemented (an `ENOSYS`
//!   would make the kernel stop sending flushes for the life of the mount).
//!
//! # Daemon death
//! If the daemon dies, the kernel fails the device's I/O with `EIO` (a file system on it
//! goes read-only), the loop device unbinds at its last close (autoclear), and a restarted
//! daemon's [`FuseLoopDevice::start`] detaches the dead FUSE mount it finds at its mount
//! point and replaces the stale links. A hung daemon is the [`FuseLoopOptions::io_timeout`]
//! watchdog's case.
//!
//! # Secondary (read-only) and how it differs from DRBD
//! DRBD 8.4 refuses to *open* a Secondary: `EROFS` for a write-open and `EMEDIUMTYPE` for a
//! read-only open (unless the `allow_oos` module parameter is set); DRBD 9 allows read-only
//! opens. A loop device cannot refuse an open, so here a Secondary is the loop device with its
//! read-only flag set (`BLKROSET`): writes through the block device fail with `EPERM`, a
//! read-write `mount` falls back to read-only ("write-protected"), any write request that
//! still reaches the daemon fails with `EROFS`, and a write-open of the FUSE file by another
//! process fails with `EROFS` as DRBD's does. Reads are served (DRBD 9 behaviour, not 8.4's
//! `EMEDIUMTYPE`). Demoting while the device is held exclusively (mounted) is refused with
//! `EBUSY`, like DRBD's `SS_DEVICE_IN_USE`, unless forced.
//!
//! # Allocation
//! Nothing is allocated per request: fuser 0.18 reads each request into a per-thread buffer
//! and sends replies with `writev` from borrowed slices; reads land in a per-thread aligned
//! buffer, and writes are copied once into a per-thread aligned bounce buffer because the
//! payload sits at an unaligned offset of fuser's buffer (O_DIRECT needs aligned memory).
//!
//! [`stop`]: FuseLoopDevice::stop

pub(crate) mod backend;
mod fs;
mod loopdev;
mod watchdog;

pub use backend::{BlockBackend, FileBackend, FileBackendOptions, FrontendStats, BOUNCE_BYTES};
pub use loopdev::LoopDevice;

use std::fs::OpenOptions;
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use backend::Counters;
use fs::{FsParams, Shared, VolumeFs};

/// How long teardown waits for the kernel to release the loop device's backing file.
const LOOP_DETACH_WAIT: Duration = Duration::from_secs(5);
/// How many times an unmount that fails with `EBUSY` is retried, 20 ms apart.
const UNMOUNT_ATTEMPTS_MAX: u32 = 100;

/// Errors of the FUSE front-end. [`FuseError::errno`] gives the errno a CLI should report.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FuseError {
    /// Options are inconsistent (names the option).
    #[error("invalid option {option}: {reason}")]
    InvalidOption {
        /// Option name.
        option: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A resource name that cannot be a path component.
    #[error("invalid resource name {0:?}: must be non-empty, without '/', not '.' or '..'")]
    InvalidName(String),
    /// Creating or removing a directory or link failed.
    #[error("{op} {path}: {source}")]
    Path {
        /// What was being done.
        op: &'static str,
        /// The path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Mounting the FUSE file system failed.
    #[error("mount FUSE at {path}: {source}")]
    Mount {
        /// The mount point.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A loop device operation failed.
    #[error("loop device {op} ({dev}): {source}")]
    Loop {
        /// The operation (`attach`, `detach`, `set read-only`).
        op: &'static str,
        /// The device or file involved.
        dev: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The device is held open exclusively (mounted) and the operation was not forced.
    #[error("{dev} is in use (mounted or held open exclusively); unmount it first or force")]
    Busy {
        /// The loop device.
        dev: PathBuf,
    },
    /// Writes were asked of a backend that cannot take them.
    #[error("backend is read-only")]
    ReadOnlyBackend,
    /// Unmounting the FUSE file system failed.
    #[error("unmount FUSE at {path}: {source}")]
    Unmount {
        /// The mount point.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

impl FuseError {
    /// The errno that describes this error (`EBUSY` for [`FuseError::Busy`]).
    pub fn errno(&self) -> i32 {
        match self {
            FuseError::InvalidOption { .. } | FuseError::InvalidName(_) => libc::EINVAL,
            FuseError::Busy { .. } => libc::EBUSY,
            FuseError::ReadOnlyBackend => libc::EROFS,
            FuseError::Path { source, .. }
            | FuseError::Mount { source, .. }
            | FuseError::Loop { source, .. }
            | FuseError::Unmount { source, .. } => source.raw_os_error().unwrap_or(libc::EIO),
        }
    }
}

/// Which stable name the device gets under the device root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkStyle {
    /// `<dev_root>/by-res/<res>/<vol>`: resources with explicit `volume` sections (and every
    /// resource under drbd-utils' `udev-always-use-vnr`).
    WithVolume,
    /// `<dev_root>/by-res/<res>`: the single implicit volume 0 of a resource without
    /// `volume` sections. A name cannot be both a link and a directory, which is why DRBD's
    /// udev helper also creates one or the other.
    Implicit,
}

/// Options of [`FuseLoopDevice::start`]. `Default` gives the production settings.
#[derive(Debug, Clone)]
pub struct FuseLoopOptions {
    /// Directory for mount points (`<run_dir>/fuse/<res>/<vol>`). Default `/run/drbd-ublk`.
    pub run_dir: PathBuf,
    /// Directory for the stable names (`<dev_root>/by-res/...`). Default `/dev/drbd`.
    pub dev_root: PathBuf,
    /// Stable-name style. Default [`LinkStyle::WithVolume`].
    pub link_style: LinkStyle,
    /// The configuration's `device` name (`/dev/drbd0`), made a link to the loop device too.
    /// An existing file there that is not a symlink is never replaced. Default `None`.
    pub device_link: Option<PathBuf>,
    /// FUSE worker threads, 1..=64: at most this many requests are in the backend at once.
    /// Default 8.
    pub threads: usize,
    /// Give each worker its own `/dev/fuse` descriptor (`FUSE_DEV_IOC_CLONE`). Default on.
    pub clone_fd: bool,
    /// Request `FUSE_ASYNC_DIO` so the loop's direct I/O reaches workers in parallel.
    pub async_dio: bool,
    /// Open the file with `FOPEN_PARALLEL_DIRECT_WRITES`. Default on.
    pub parallel_direct_writes: bool,
    /// Attach the loop device with direct I/O. Default on (off means a second page cache).
    pub loop_direct_io: bool,
    /// Start as Secondary: writes refused. Default off.
    pub read_only: bool,
    /// Abort the FUSE connection when a request has been in the backend longer than this
    /// (pending and later I/O then fail with `EIO`). Default `None`: wait forever.
    pub io_timeout: Option<Duration>,
    /// Largest READ/WRITE the kernel sends, a power of two in 4 KiB..=1 MiB. Default 1 MiB.
    pub max_request_bytes: u32,
    /// Mark worker threads `PR_SET_IO_FLUSHER` (needs `CAP_SYS_RESOURCE`). Default on.
    pub io_flusher: bool,
    /// Most background (asynchronous direct I/O) requests the kernel keeps in flight to the
    /// daemon, 1..=1024. Default 64 (the kernel's own default is 12).
    pub max_background: u16,
}

impl Default for FuseLoopOptions {
    fn default() -> Self {
        FuseLoopOptions {
            run_dir: PathBuf::from("/run/drbd-ublk"),
            dev_root: PathBuf::from("/dev/drbd"),
            link_style: LinkStyle::WithVolume,
            device_link: None,
            threads: 8,
            clone_fd: true,
            async_dio: true,
            parallel_direct_writes: true,
            loop_direct_io: true,
            read_only: false,
            io_timeout: None,
            max_request_bytes: BOUNCE_BYTES as u32,
            io_flusher: true,
            max_background: 64,
        }
    }
}

impl FuseLoopOptions {
    /// Checks the option values.
    ///
    /// # Errors
    /// [`FuseError::InvalidOption`] naming the first bad option.
    pub fn validate(&self) -> Result<(), FuseError> {
        let bad = |option, reason: &str| {
            Err(FuseError::InvalidOption { option, reason: reason.to_string() })
        };
        if !(1..=watchdog::SLOTS_MAX).contains(&self.threads) {
            return bad("threads", "must be 1..=64");
        }
        let m = self.max_request_bytes;
        if !m.is_power_of_two() || !(4096..=BOUNCE_BYTES as u32).contains(&m) {
            return bad("max_request_bytes", "must be a power of two in 4096..=1048576");
        }
        if !(1..=1024).contains(&self.max_background) {
            return bad("max_background", "must be 1..=1024");
        }
        if self.io_timeout.is_some_and(|t| t < Duration::from_millis(100)) {
            return bad("io_timeout", "must be at least 100 ms");
        }
        Ok(())
    }
}

/// A snapshot of the FUSE front-end's counters.
pub type FuseStats = FrontendStats;

/// Everything that exists while the device runs; each part is undone by [`Parts::teardown`].
struct Parts {
    session: Option<fuser::BackgroundSession>,
    mount_point: PathBuf,
    mounted: bool,
    created_dirs: Vec<PathBuf>,
    loop_dev: Option<LoopDevice>,
    links: Vec<PathBuf>,
    watchdog: Option<(SyncSender<()>, JoinHandle<()>)>,
}

/// A running loop-over-FUSE device. Dropping it tears it down (forced if it is in use).
pub struct FuseLoopDevice {
    resource: String,
    volume: u16,
    device: PathBuf,
    file_path: PathBuf,
    shared: Arc<Shared>,
    backend: Arc<dyn BlockBackend>,
    aborted: Arc<AtomicBool>,
    parts: Mutex<Parts>,
}

impl std::fmt::Debug for FuseLoopDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FuseLoopDevice")
            .field("resource", &self.resource)
            .field("volume", &self.volume)
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

pub(crate) fn check_name(name: &str) -> Result<(), FuseError> {
    if name.is_empty() || name.contains('/') || name.contains('\0') || name == "." || name == ".." {
        return Err(FuseError::InvalidName(name.to_string()));
    }
    Ok(())
}

/// Creates `dir` and its missing parents, recording the ones it created (outermost first).
pub(crate) fn create_dirs(dir: &Path, created: &mut Vec<PathBuf>) -> Result<(), FuseError> {
    let mut missing = Vec::new();
    let mut p = dir;
    while !p.exists() {
        missing.push(p.to_path_buf());
        match p.parent() {
            Some(parent) => p = parent,
            None => break,
        }
    }
    for d in missing.into_iter().rev() {
        match std::fs::create_dir(&d) {
            Ok(()) => created.push(d),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(source) => return Err(FuseError::Path { op: "create directory", path: d, source }),
        }
    }
    Ok(())
}

/// Points `link` at `target`, replacing a stale symlink (never another kind of file).
pub(crate) fn place_link(link: &Path, target: &Path) -> Result<(), FuseError> {
    let err = |op, source| FuseError::Path { op, path: link.to_path_buf(), source };
    if let Ok(meta) = std::fs::symlink_metadata(link) {
        if !meta.file_type().is_symlink() {
            return Err(err("replace non-link", io::Error::from_raw_os_error(libc::EEXIST)));
        }
        std::fs::remove_file(link).map_err(|e| err("remove stale link", e))?;
    }
    std::os::unix::fs::symlink(target, link).map_err(|e| err("create link", e))
}

/// The mount's source name; characters that would split the mount option string are
/// replaced.
fn fs_name(mount_point: &Path) -> String {
    let raw = format!("drbd-ublk:{}", mount_point.display());
    raw.chars().map(|c| if c == ',' || c.is_whitespace() { '_' } else { c }).collect()
}

/// Detaches the FUSE mount a dead daemon left at `mount_point` (`stat` fails with
/// `ENOTCONN`), so a restarted daemon can mount there again. The kernel already failed that
/// mount's I/O when its daemon died.
fn clear_stale_mount(mount_point: &Path) {
    if let Err(e) = std::fs::metadata(mount_point) {
        if e.raw_os_error() == Some(libc::ENOTCONN) {
            let _ = unmount(mount_point, libc::MNT_DETACH);
        }
    }
}

fn unmount(path: &Path, flags: libc::c_int) -> io::Result<()> {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: c is a valid NUL-terminated path for the duration of the call.
    if unsafe { libc::umount2(c.as_ptr(), flags) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

impl Parts {
    /// Undoes everything, in the order loop device → FUSE → links → directories. With
    /// `force`, a loop device still in use is detached lazily and the FUSE connection is
    /// aborted. Stops at the first step that fails (so the rest stays consistent and a later
    /// call can finish).
    fn teardown(&mut self, force: bool) -> Result<(), FuseError> {
        if let Some((stop, handle)) = self.watchdog.take() {
            drop(stop);
            let _ = handle.join();
        }
        if let Some(lo) = self.loop_dev.take() {
            if lo.in_use() && !force {
                let dev = lo.path().to_path_buf();
                self.loop_dev = Some(lo);
                return Err(FuseError::Busy { dev });
            }
            let dev = lo.path().to_path_buf();
            let wait = if force { Duration::from_millis(200) } else { LOOP_DETACH_WAIT };
            match lo.detach(wait) {
                Ok(()) => {}
                // Forced: the holder keeps a detached-on-last-close device; go on.
                Err(_) if force => {}
                Err(source) => return Err(FuseError::Loop { op: "detach", dev, source }),
            }
        }
        if self.mounted {
            if force {
                watchdog::abort_connection(&self.mount_point);
            }
            self.unmount_fuse(force)?;
        }
        if let Some(session) = self.session.take() {
            let _ = session.join();
        }
        for (i, link) in std::mem::take(&mut self.links).into_iter().enumerate() {
            let _ = std::fs::remove_file(&link);
            // The first link is the by-res name: remove the per-resource directory when
            // this was its last volume.
            if let Some(parent) = link.parent().filter(|_| i == 0) {
                if parent.file_name().is_some_and(|n| n != "by-res") {
                    let _ = std::fs::remove_dir(parent);
                }
            }
        }
        let _ = std::fs::remove_dir(&self.mount_point);
        if let Some(res_dir) = self.mount_point.parent() {
            let _ = std::fs::remove_dir(res_dir);
        }
        for d in self.created_dirs.drain(..).rev() {
            let _ = std::fs::remove_dir(&d);
        }
        Ok(())
    }

    fn unmount_fuse(&mut self, force: bool) -> Result<(), FuseError> {
        let mut attempts = 0;
        loop {
            match unmount(&self.mount_point, 0) {
                Ok(()) => break,
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => break, // not mounted
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                    attempts += 1;
                    if attempts >= UNMOUNT_ATTEMPTS_MAX {
                        if force {
                            let _ = unmount(&self.mount_point, libc::MNT_DETACH);
                            break;
                        }
                        let path = self.mount_point.clone();
                        return Err(FuseError::Unmount { path, source: e });
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(source) => {
                    return Err(FuseError::Unmount { path: self.mount_point.clone(), source })
                }
            }
        }
        self.mounted = false;
        Ok(())
    }
}

impl FuseLoopDevice {
    /// Serves `backend` as a loop device for volume `volume` of `resource`.
    ///
    /// On error everything made so far is removed again.
    ///
    /// # Errors
    /// Bad options or name, the mount point or links cannot be made, mounting FUSE or
    /// attaching the loop device fails ([`FuseError::errno`] gives the errno).
    pub fn start(
        resource: &str,
        volume: u16,
        backend: Arc<dyn BlockBackend>,
        opts: &FuseLoopOptions,
    ) -> Result<FuseLoopDevice, FuseError> {
        opts.validate()?;
        check_name(resource)?;
        if opts.link_style == LinkStyle::Implicit && volume != 0 {
            return Err(FuseError::InvalidOption {
                option: "link_style",
                reason: "Implicit names only volume 0".to_string(),
            });
        }
        if !opts.read_only && !backend.writable() {
            return Err(FuseError::ReadOnlyBackend);
        }
        let mount_point = opts.run_dir.join("fuse").join(resource).join(volume.to_string());
        let mut parts = Parts {
            session: None,
            mount_point: mount_point.clone(),
            mounted: false,
            created_dirs: Vec::new(),
            loop_dev: None,
            links: Vec::new(),
            watchdog: None,
        };
        let shared = Arc::new(Shared {
            counters: Counters::default(),
            read_only: AtomicBool::new(opts.read_only),
            in_flight: watchdog::InFlight::new(),
            loop_opener_tid: std::sync::atomic::AtomicU32::new(0),
        });
        let file_name = format!("vol{volume}");
        let file_path = mount_point.join(&file_name);
        let aborted = Arc::new(AtomicBool::new(false));
        let by_res = opts.dev_root.join("by-res").join(resource);
        let link = match opts.link_style {
            LinkStyle::WithVolume => by_res.join(volume.to_string()),
            LinkStyle::Implicit => by_res,
        };
        let result =
            Self::bring_up(&mut parts, &shared, &backend, &file_name, &link, opts, &aborted);
        match result {
            Ok(device) => Ok(FuseLoopDevice {
                resource: resource.to_string(),
                volume,
                device,
                file_path,
                shared,
                backend,
                aborted,
                parts: Mutex::new(parts),
            }),
            Err(e) => {
                let _ = parts.teardown(true);
                Err(e)
            }
        }
    }

    /// The steps of [`start`](Self::start); `parts` records each for the rollback.
    fn bring_up(
        parts: &mut Parts,
        shared: &Arc<Shared>,
        backend: &Arc<dyn BlockBackend>,
        file_name: &str,
        link: &Path,
        opts: &FuseLoopOptions,
        aborted: &Arc<AtomicBool>,
    ) -> Result<PathBuf, FuseError> {
        let mp = parts.mount_point.clone();
        clear_stale_mount(&mp);
        create_dirs(&mp, &mut parts.created_dirs)?;
        let params = FsParams {
            async_dio: opts.async_dio,
            parallel_direct_writes: opts.parallel_direct_writes,
            max_request_bytes: opts.max_request_bytes,
            io_flusher: opts.io_flusher,
            max_background: opts.max_background,
        };
        let fs = VolumeFs::new(backend.clone(), shared.clone(), file_name.to_string(), params);
        let mut cfg = fuser::Config::default();
        cfg.mount_options = vec![
            fuser::MountOption::FSName(fs_name(&mp)),
            fuser::MountOption::Subtype("drbd-ublk".to_string()),
            fuser::MountOption::NoExec,
            fuser::MountOption::NoSuid,
            fuser::MountOption::NoDev,
        ];
        cfg.n_threads = Some(opts.threads);
        cfg.clone_fd = opts.clone_fd;
        let mount_err = |source| FuseError::Mount { path: mp.clone(), source };
        let session = fuser::Session::new(fs, &mp, &cfg).map_err(mount_err)?;
        parts.mounted = true;
        parts.session = Some(session.spawn().map_err(mount_err)?);

        let writable = backend.writable();
        let file_path = mp.join(file_name);
        // SAFETY: gettid has no preconditions.
        let tid = unsafe { libc::gettid() } as u32;
        shared.loop_opener_tid.store(tid, Ordering::Release);
        let file = OpenOptions::new()
            .read(true)
            .write(writable)
            .custom_flags(libc::O_CLOEXEC | if opts.loop_direct_io { libc::O_DIRECT } else { 0 })
            .open(&file_path);
        shared.loop_opener_tid.store(0, Ordering::Release);
        let file =
            file.map_err(|source| FuseError::Path { op: "open", path: file_path.clone(), source })?;
        let lo = LoopDevice::attach(&file, &file_path, !writable, opts.loop_direct_io)
            .map_err(|source| FuseError::Loop { op: "attach", dev: file_path.clone(), source })?;
        // The loop driver holds its own reference to the file: ours is closed at once, so a
        // dying daemon has no descriptor on its own mount whose close could wait on it.
        drop(file);
        let device = lo.path().to_path_buf();
        let ro_result = if opts.read_only { lo.set_read_only(true) } else { Ok(()) };
        parts.loop_dev = Some(lo);
        ro_result.map_err(|source| FuseError::Loop {
            op: "set read-only",
            dev: device.clone(),
            source,
        })?;

        if let Some(dir) = link.parent() {
            create_dirs(dir, &mut parts.created_dirs)?;
        }
        place_link(link, &device)?;
        parts.links.push(link.to_path_buf());
        if let Some(name) = &opts.device_link {
            place_link(name, &device)?;
            parts.links.push(name.clone());
        }

        if let Some(timeout) = opts.io_timeout {
            let (tx, rx) = sync_channel(0);
            let (sh, mp, ab) = (shared.clone(), mp.clone(), aborted.clone());
            let handle = std::thread::Builder::new()
                .name("fuse-watchdog".to_string())
                .spawn(move || watchdog::run(sh, mp, timeout, ab, rx))
                .map_err(|source| FuseError::Path {
                    op: "spawn watchdog",
                    path: parts.mount_point.clone(),
                    source,
                })?;
            parts.watchdog = Some((tx, handle));
        }
        Ok(device)
    }

    /// `/dev/loopN`.
    pub fn device(&self) -> &Path {
        &self.device
    }

    /// The file the loop device serves (inside the FUSE mount).
    pub fn file_path(&self) -> &Path {
        &self.file_path
    }

    /// The resource name.
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// The volume number.
    pub fn volume(&self) -> u16 {
        self.volume
    }

    /// The stable names created for the device.
    pub fn links(&self) -> Vec<PathBuf> {
        self.lock().links.clone()
    }

    /// Counters so far.
    pub fn stats(&self) -> FuseStats {
        self.shared.counters.snapshot()
    }

    /// Whether writes are refused (Secondary).
    pub fn is_read_only(&self) -> bool {
        self.shared.read_only.load(Ordering::Acquire)
    }

    /// Whether the connection was aborted (by [`abort`](Self::abort) or the watchdog); the
    /// device then fails all I/O.
    pub fn is_aborted(&self) -> bool {
        self.aborted.load(Ordering::Acquire)
    }

    /// Aborts the FUSE connection: every pending and later request on the device fails with
    /// `EIO` (a file system on it goes read-only). For `on-no-data-accessible io-error` and
    /// for a backend known to be stuck; the device must then be stopped (forced if mounted).
    pub fn abort(&self) {
        self.aborted.store(true, Ordering::Release);
        let parts = self.lock();
        if parts.mounted {
            watchdog::abort_connection(&parts.mount_point);
        }
    }

    /// Whether something holds the loop device exclusively (a mounted file system).
    pub fn in_use(&self) -> bool {
        self.lock().loop_dev.as_ref().is_some_and(|lo| lo.in_use())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Parts> {
        self.parts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Switches between Primary (`false`) and Secondary (`true`).
    ///
    /// # Errors
    /// [`FuseError::Busy`] when demoting a device that is held exclusively (mounted) without
    /// `force`; [`FuseError::ReadOnlyBackend`] when promoting over a read-only backend;
    /// the `BLKROSET` error.
    pub fn set_read_only(&self, read_only: bool, force: bool) -> Result<(), FuseError> {
        if !read_only && !self.backend.writable() {
            return Err(FuseError::ReadOnlyBackend);
        }
        let parts = self.lock();
        let Some(lo) = parts.loop_dev.as_ref() else {
            return Err(FuseError::Loop {
                op: "set read-only",
                dev: self.device.clone(),
                source: io::Error::from_raw_os_error(libc::ENXIO),
            });
        };
        if read_only && !self.is_read_only() && lo.in_use() && !force {
            return Err(FuseError::Busy { dev: self.device.clone() });
        }
        // Refuse in the daemon first, then flag the block device, so no write slips through.
        if read_only {
            self.shared.read_only.store(true, Ordering::Release);
        }
        lo.set_read_only(read_only).map_err(|source| FuseError::Loop {
            op: "set read-only",
            dev: self.device.clone(),
            source,
        })?;
        self.shared.read_only.store(read_only, Ordering::Release);
        Ok(())
    }

    /// Tears the device down: loop device, FUSE mount, links, directories.
    ///
    /// # Errors
    /// [`FuseError::Busy`] (`EBUSY`) while the loop device is held exclusively (mounted) and
    /// `force` is off; nothing is changed then. A failed detach or unmount (the device can be
    /// stopped again later).
    pub fn stop(&self, force: bool) -> Result<(), FuseError> {
        self.lock().teardown(force)
    }
}

impl Drop for FuseLoopDevice {
    fn drop(&mut self) {
        let mut parts = self.lock();
        if parts.teardown(false).is_err() {
            let _ = parts.teardown(true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_validated_by_name() {
        assert!(FuseLoopOptions::default().validate().is_ok());
        let bad = |o: FuseLoopOptions| match o.validate() {
            Err(FuseError::InvalidOption { option, .. }) => option,
            other => panic!("{other:?}"),
        };
        assert_eq!(bad(FuseLoopOptions { threads: 0, ..Default::default() }), "threads");
        assert_eq!(bad(FuseLoopOptions { threads: 65, ..Default::default() }), "threads");
        let o = FuseLoopOptions { max_request_bytes: 3 << 12, ..Default::default() };
        assert_eq!(bad(o), "max_request_bytes");
        let o = FuseLoopOptions { max_request_bytes: 2 << 20, ..Default::default() };
        assert_eq!(bad(o), "max_request_bytes");
        let o =
            FuseLoopOptions { io_timeout: Some(Duration::from_millis(5)), ..Default::default() };
        assert_eq!(bad(o), "io_timeout");
    }

    #[test]
    fn resource_names_must_be_path_components() {
        for bad in ["", ".", "..", "a/b", "x\0y"] {
            let e = check_name(bad).unwrap_err();
            assert_eq!(e.errno(), libc::EINVAL);
        }
        assert!(check_name("r0").is_ok());
    }

    #[test]
    fn handles_can_be_shared_between_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<FuseLoopDevice>();
        send_sync::<FileBackend>();
    }

    #[test]
    fn busy_maps_to_ebusy() {
        let e = FuseError::Busy { dev: PathBuf::from("/dev/loop9") };
        assert_eq!(e.errno(), libc::EBUSY);
        assert!(e.to_string().contains("/dev/loop9"));
    }
}
