//! The node daemon `drbd-ublkd`: serves the control socket and runs one engine per resource
//! that is `up`.
//!
//! # Mechanism
//! [`Daemon::serve`] accepts control connections ([`crate::ctl`]) one thread each; requests
//! that change a resource are serialised by the resource table lock. `up` reads the
//! configuration again (the daemon's `--config`), reads the metadata (applying the activity
//! log), builds a [`Replicator`] of the usable size, starts its [`engine::Engine`] and
//! the front-end chosen by [`crate::ublk::choose_frontend`] (ublk where the kernel has
//! `ublk_drv`, loop-over-FUSE otherwise; `DRBD_UBLK_FRONTEND` overrides) whose
//! [`engine::EngineBackend`] carries each block request into the engine in the front-end's
//! own thread and waits for its completion there. A ublk device left by a killed daemon is
//! re-attached at promotion ([`crate::ublk`], user recovery). The device starts read-only
//! (Secondary); `primary` lifts the read-only flag after the engine promoted, `secondary` sets it first (refused while mounted) and then
//! demotes. `down` stops the front-end first (refused while mounted unless `--force`), then
//! the engine.
//!
//! # Invariants
//! * The daemon never does I/O on its own loop device (the only call on it is `BLKFLSBUF`
//!   at promotion, when nothing is dirty, to drop page-cache blocks the peer has since
//!   overwritten).
//! * Every resource's status is published by its engine after each batch of work, so the
//!   queries never wait behind I/O.
//! * `$RUN_DIR/proc-drbd` is rewritten (atomically) after each request and twice a second.
//! * Handler scripts (`handlers { }`) run as `/bin/sh -c CMD` in their own thread with
//!   `DRBD_RESOURCE`, `DRBD_MINOR`, `DRBD_VOLUME`, `DRBD_CONF`, `DRBD_PEER(S)`,
//!   `DRBD_PEER_ADDRESS`; `fence-peer`'s exit code goes back to the engine.
//!
//! The peer connection is [`conn`]; the byte encoding of the peer messages is [`wire`].
//!
//! # Not yet
//! * No `ko-count` (requests unanswered for a long time do not drop the link); the
//!   keep-alive (ping-int / ping-timeout) does.
//! * `suspend-io`, `resize`, `verify --stop`, `dump-md`, `apply-al` and `wipe-md` as separate
//!   verbs are not offered; `drbdadm` says so (exit 20).
//! * Single-volume resources with a backing disk only (no diskless nodes, no `volume` lists).

// The daemon is the real driver of the sans-IO engine: it reads the clock.
#![allow(clippy::disallowed_methods)]

pub mod conn;
pub mod engine;
pub mod local_io;
pub mod testbed;
pub mod wire;

use std::collections::BTreeMap;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::config::{self, Config};
use crate::ctl::{self, exit, render, CtlError, Request, ResourceStatus, Response};
use crate::fuse::{FuseLoopDevice, FuseLoopOptions, LinkStyle};
use crate::meta;
use crate::net::LinkConfig;
use crate::repl::{Done, ReplConfig, Replicator, Role};
use crate::ublk::{Device, FrontendKind, UblkDevice, UblkOptions};
use conn::NetCtl;
use engine::{Admin, AttachedDisk, Cmd, Engine, EngineBackend, EngineRef, HandlerEnv};

/// How long `primary` waits for a promotion that needs the peer's agreement.
const PROMOTE_WAIT: Duration = Duration::from_secs(10);
/// How long `secondary` waits for a transient holder of the device to let go.
const BUSY_WAIT: Duration = Duration::from_secs(1);
/// How long `primary` waits for a peer's demotion to be reported.
const PEER_STATE_WAIT: Duration = Duration::from_secs(2);

/// Daemon settings.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// Configuration file.
    pub config: PathBuf,
    /// This node's name (`uname -n` unless overridden).
    pub hostname: String,
    /// Run directory (socket, proc-drbd, FUSE mounts).
    pub run_dir: PathBuf,
    /// Device root (`/dev/drbd`; overridable by `DRBD_UBLK_DEV_ROOT` for tests).
    pub dev_root: PathBuf,
}

impl DaemonConfig {
    /// Settings from the environment: `DRBD_UBLK_RUN_DIR`, `DRBD_UBLK_DEV_ROOT`.
    pub fn from_env(config: PathBuf, hostname: Option<String>) -> DaemonConfig {
        let dev_root = std::env::var_os("DRBD_UBLK_DEV_ROOT")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/dev/drbd"));
        DaemonConfig {
            config,
            hostname: hostname.unwrap_or_else(config::local_hostname),
            run_dir: ctl::run_dir(),
            dev_root,
        }
    }
}

struct Running {
    eng: EngineRef,
    thread: Option<JoinHandle<()>>,
    status: Arc<Mutex<ResourceStatus>>,
    device: Option<Device>,
}

/// The daemon: resource table and control server.
pub struct Daemon {
    cfg: DaemonConfig,
    resources: Mutex<BTreeMap<String, Running>>,
    stop: AtomicBool,
}

fn fail(code: i32, msg: impl Into<String>) -> CtlError {
    CtlError::failed(code, msg)
}

impl Daemon {
    /// A daemon with nothing running.
    pub fn new(cfg: DaemonConfig) -> Daemon {
        Daemon { cfg, resources: Mutex::new(BTreeMap::new()), stop: AtomicBool::new(false) }
    }

    /// Creates the run directory and binds the control socket (mode 0600). A stale socket
    /// file nobody answers on is replaced; a live one is an error.
    ///
    /// # Errors
    /// `AddrInUse` when another daemon answers; I/O errors.
    pub fn bind(&self) -> io::Result<UnixListener> {
        std::fs::create_dir_all(&self.cfg.run_dir)?;
        std::fs::set_permissions(&self.cfg.run_dir, std::fs::Permissions::from_mode(0o700))?;
        let path = self.cfg.run_dir.join(ctl::SOCKET_NAME);
        if path.exists() {
            if UnixStream::connect(&path).is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("another drbd-ublkd answers on {}", path.display()),
                ));
            }
            std::fs::remove_file(&path)?;
        }
        let l = UnixListener::bind(&path)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        Ok(l)
    }

    /// Serves control requests until a `shutdown` request; then takes every resource down
    /// (forced) and removes the socket.
    ///
    /// # Errors
    /// Accept errors.
    pub fn serve(self: &Arc<Self>, listener: UnixListener) -> io::Result<()> {
        let me = Arc::clone(self);
        let writer = std::thread::spawn(move || {
            while !me.stop.load(Ordering::Relaxed) {
                me.write_proc();
                std::thread::sleep(Duration::from_millis(500));
            }
        });
        for conn in listener.incoming() {
            let conn = conn?;
            let me = Arc::clone(self);
            std::thread::spawn(move || me.handle_conn(conn));
            if self.stop.load(Ordering::Relaxed) {
                break;
            }
        }
        let _ = writer.join();
        let _ = std::fs::remove_file(self.cfg.run_dir.join(ctl::SOCKET_NAME));
        let _ = std::fs::remove_file(self.cfg.run_dir.join("proc-drbd"));
        Ok(())
    }

    fn handle_conn(self: Arc<Self>, mut conn: UnixStream) {
        let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
        let resp = match ctl::read_frame(&mut conn) {
            Ok(text) => match Request::decode(&text) {
                Ok(req) => self.execute(&req),
                Err(e) => Err(e),
            },
            Err(e) => Err(CtlError::Malformed(e.to_string())),
        };
        let _ = ctl::write_frame(&mut conn, &ctl::encode_response(&resp));
        self.write_proc();
        if self.stop.load(Ordering::Relaxed) {
            // Wake the accept loop so it sees the stop flag.
            let _ = UnixStream::connect(self.cfg.run_dir.join(ctl::SOCKET_NAME));
        }
    }

    /// Carries out one request.
    ///
    /// # Errors
    /// DRBD-like messages with drbdadm exit codes.
    pub fn execute(&self, req: &Request) -> Result<Response, CtlError> {
        let text = |r: Result<(), CtlError>| r.map(|_| Response::Text(String::new()));
        match req {
            Request::Ping => {
                Ok(Response::Text(format!("drbd-ublkd {}", env!("CARGO_PKG_VERSION"))))
            }
            Request::Status(name) => self.status(name.as_deref()).map(Response::Status),
            Request::Shutdown => {
                let names: Vec<String> = self.lock().keys().cloned().collect();
                for n in names {
                    let _ = self.down(&n, true);
                }
                self.stop.store(true, Ordering::Relaxed);
                Ok(Response::Text(String::new()))
            }
            Request::Up(r) => text(self.up(r)),
            Request::Adjust(r) => text(self.adjust(r)),
            Request::ResumeIo(r) => text(self.admin(r, Admin::ResumeIo)),
            Request::Attach(r) => {
                let running = self.lock().contains_key(r);
                if running {
                    text(self.attach(r))
                } else {
                    text(self.up_inner(r, false))
                }
            }
            Request::Down { res, force } => text(self.down(res, *force)),
            Request::Detach { res, .. } => text(self.admin(res, Admin::Detach)),
            Request::Connect { res, discard_my_data } => {
                text(self.admin(res, Admin::Connect { discard_my_data: *discard_my_data }))
            }
            Request::Disconnect(r) => text(self.admin(r, Admin::Disconnect)),
            Request::Primary { res, force } => text(self.primary(res, *force)),
            Request::Secondary(r) => text(self.secondary(r)),
            Request::Invalidate(r) => text(self.admin(r, Admin::Invalidate)),
            Request::InvalidateRemote(r) => text(self.admin(r, Admin::InvalidateRemote)),
            Request::Verify { res, start } => text(self.admin(res, Admin::Verify(*start))),
            Request::PauseSync(r) => text(self.admin(r, Admin::PauseSync(true))),
            Request::ResumeSync(r) => text(self.admin(r, Admin::PauseSync(false))),
            Request::Outdate(r) => text(self.admin(r, Admin::Outdate)),
            Request::NewCurrentUuid { res, clear_bitmap } => {
                text(self.admin(res, Admin::NewCurrentUuid { clear_bitmap: *clear_bitmap }))
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Running>> {
        self.resources.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Statuses of one or all running resources.
    ///
    /// # Errors
    /// Unknown or not running resource.
    pub fn status(&self, name: Option<&str>) -> Result<Vec<ResourceStatus>, CtlError> {
        let t = self.lock();
        let snap = |r: &Running| {
            r.status.lock().map(|s| s.clone()).unwrap_or_else(|e| e.into_inner().clone())
        };
        match name {
            None => Ok(t.values().map(snap).collect()),
            Some(n) => t.get(n).map(|r| vec![snap(r)]).ok_or_else(|| not_up(n)),
        }
    }

    fn write_proc(&self) {
        let Ok(list) = self.status(None) else { return };
        let text = render::proc_drbd(&list);
        let path = self.cfg.run_dir.join("proc-drbd");
        let tmp = self.cfg.run_dir.join(".proc-drbd.tmp");
        if std::fs::write(&tmp, text).is_ok() {
            let _ = std::fs::rename(&tmp, &path);
        }
    }

    fn load_resource(&self, name: &str) -> Result<config::Resource, CtlError> {
        let cfg = Config::load(&self.cfg.config, &self.cfg.hostname)
            .map_err(|e| fail(exit::CONFIG, e.to_string()))?;
        cfg.resource(name).cloned().ok_or_else(|| {
            fail(exit::CONFIG, format!("'{name}' not defined in your config (for this host)."))
        })
    }

    fn up(&self, name: &str) -> Result<(), CtlError> {
        if self.lock().contains_key(name) {
            return Err(fail(
                exit::CONFIG,
                format!("{name}: resource is already up (use down first)"),
            ));
        }
        self.up_inner(name, true)
    }

    fn up_inner(&self, name: &str, connect: bool) -> Result<(), CtlError> {
        let res = self.load_resource(name)?;
        let host = res.local();
        if host.volumes.len() != 1 {
            return Err(fail(
                exit::CONFIG,
                format!(
                    "{name}: {} volumes; only single-volume resources are supported",
                    host.volumes.len()
                ),
            ));
        }
        let vol = &host.volumes[0];
        let (meta_in, disk, size, al_extents) = self.open_backing(name, vol)?;
        let peer = res.peers().next();
        let peer_name = peer.map(|p| p.display_name()).unwrap_or_default();
        let mut rc = repl_config(&self.cfg.hostname, &peer_name, size, &res.options);
        rc.al_extents = al_extents;
        let mut seed = [0u8; 8];
        let _ = crate::net::auth::random_bytes(&mut seed);
        rc.uuid_seed = u64::from_le_bytes(seed);
        let mut repl = Replicator::new(rc);
        repl.attach(meta_in).map_err(|e| fail(exit::CONFIG, e.to_string()))?;

        let mut st = ResourceStatus::new(name, vol.minor);
        st.volume = vol.number;
        st.peer = peer_name;
        let status = Arc::new(Mutex::new(st));
        let mut eng = Engine::new(repl, Some(disk), Arc::clone(&status));
        let mut henv = HandlerEnv {
            commands: res.options.handlers.commands.clone(),
            env: vec![
                ("DRBD_RESOURCE".into(), name.to_string()),
                ("DRBD_MINOR".into(), vol.minor.to_string()),
                ("DRBD_VOLUME".into(), vol.number.to_string()),
                ("DRBD_CONF".into(), self.cfg.config.display().to_string()),
            ],
        };
        if let Some(p) = peer {
            henv.env.push(("DRBD_PEER".into(), p.display_name()));
            henv.env.push(("DRBD_PEERS".into(), p.display_name()));
            henv.env.push(("DRBD_PEER_ADDRESS".into(), p.address.addr.ip().to_string()));
        }
        eng.set_handlers(henv);
        let (engine, thread) = eng.start(name).map_err(|e| fail(exit::EXEC, e.to_string()))?;
        if let Some(lc) = LinkConfig::from_resource(&res) {
            let net = NetCtl::new(name, host.address.addr, lc, engine.clone());
            engine
                .set_net_ctl(Box::new(move |up| if up { net.connect() } else { net.disconnect() }));
        }
        let mut running =
            Running { eng: engine.clone(), thread: Some(thread), status, device: None };

        let frontend = match crate::ublk::choose_frontend() {
            Ok(f) => f,
            Err(e) => {
                stop_engine(&mut running);
                return Err(fail(exit::EXEC, format!("{name}: front-end: {e}")));
            }
        };
        let mut opts = FuseLoopOptions {
            run_dir: self.cfg.run_dir.clone(),
            dev_root: self.cfg.dev_root.clone(),
            read_only: true,
            ..Default::default()
        };
        if !vol.explicit {
            opts.link_style = LinkStyle::Implicit;
        }
        if self.cfg.dev_root == Path::new("/dev/drbd") && vol.device.starts_with("/dev/") {
            opts.device_link = Some(PathBuf::from(&vol.device));
        }
        let backend = Arc::new(EngineBackend::new(engine, size * 512));
        let started = match frontend {
            FrontendKind::Fuse => FuseLoopDevice::start(name, vol.number, backend, &opts)
                .map(Device::Fuse)
                .map_err(|e| e.to_string()),
            FrontendKind::Ublk => {
                let uopts = UblkOptions {
                    run_dir: opts.run_dir.clone(),
                    dev_root: opts.dev_root.clone(),
                    link_style: opts.link_style,
                    device_link: opts.device_link.clone(),
                    read_only: true,
                    ..Default::default()
                };
                UblkDevice::start(name, vol.number, backend, &uopts)
                    .map(Device::Ublk)
                    .map_err(|e| e.to_string())
            }
        };
        match started {
            Ok(d) => {
                if let Ok(mut s) = running.status.lock() {
                    s.device = d.device().display().to_string();
                }
                running.device = Some(d);
            }
            Err(e) => {
                stop_engine(&mut running);
                return Err(fail(exit::EXEC, format!("{name}: front-end: {e}")));
            }
        }
        self.lock().insert(name.to_string(), running);
        if connect && res.peers().next().is_some() {
            self.admin(name, Admin::Connect { discard_my_data: false })?;
        }
        Ok(())
    }

    /// Reads the metadata of the resource's backing device (applying the activity log) and
    /// opens it: what `attach` hands to the engine.
    fn open_backing(
        &self,
        name: &str,
        vol: &config::Volume,
    ) -> Result<(crate::repl::AttachMeta, AttachedDisk, u64, u32), CtlError> {
        let backing = vol.disk.as_deref().filter(|d| *d != "none").ok_or_else(|| {
            fail(exit::CONFIG, format!("{name}: diskless resources are not supported yet"))
        })?;
        let backing = PathBuf::from(backing);
        let md_disk = match &vol.meta_disk {
            config::MetaDisk::Internal => meta::MetaDisk::Internal,
            config::MetaDisk::External { path, index: None } => {
                meta::MetaDisk::External(path.into())
            }
            config::MetaDisk::External { path, index: Some(i) } => {
                meta::MetaDisk::Indexed(path.into(), *i)
            }
        };
        let attach_err = |e: meta::MetaError| fail(exit::CONFIG, format!("{name}: attach: {e}"));
        let r = engine::read_for_attach(&backing, &md_disk).map_err(attach_err)?;
        let u = r.sb.uuids;
        eprintln!(
            "drbd {name}: attach {}: uuids {:016X}:{:016X}:{:016X}:{:016X} flags {:?}{}",
            backing.display(),
            u.current,
            u.bitmap,
            u.history[0],
            u.history[1],
            r.sb.flags,
            if r.al_applied { " (activity log applied)" } else { "" }
        );
        let disk = AttachedDisk::open(&backing, r.md, r.sb)
            .map_err(|e| fail(exit::CONFIG, format!("{name}: open {}: {e}", backing.display())))?;
        Ok((r.meta, disk, r.size_sectors, r.al_extents))
    }

    /// `attach` of a running resource (after `detach`).
    fn attach(&self, name: &str) -> Result<(), CtlError> {
        let res = self.load_resource(name)?;
        let vol = res.local().volumes.first().cloned().ok_or_else(|| not_up(name))?;
        let eng = self.engine(name)?;
        let (meta, disk, _, _) = self.open_backing(name, &vol)?;
        let (reply, rx) = sync_channel(1);
        eng.send(Cmd::Attach { meta: Box::new(meta), disk: Box::new(disk), reply })
            .map_err(|_| not_up(name))?;
        rx.recv().map_err(|_| not_up(name))?.map(|_| ())
    }

    fn adjust(&self, name: &str) -> Result<(), CtlError> {
        let Some(st) = self.status(Some(name)).ok().and_then(|v| v.into_iter().next()) else {
            return self.up_inner(name, true);
        };
        if st.cstate == crate::repl::ConnState::StandAlone && !st.peer.is_empty() {
            self.admin(name, Admin::Connect { discard_my_data: false })?;
        }
        Ok(())
    }

    fn down(&self, name: &str, force: bool) -> Result<(), CtlError> {
        let mut t = self.lock();
        let Some(r) = t.get_mut(name) else {
            // Like drbdadm down on an unconfigured resource: nothing to do.
            return Ok(());
        };
        if let Some(d) = &r.device {
            d.stop(force).map_err(|e| {
                fail(
                    exit::STATE,
                    format!("State change failed: (-12) Device is held open by someone ({e})"),
                )
            })?;
        }
        r.device = None;
        let mut r = t.remove(name).expect("present");
        drop(t);
        stop_engine(&mut r);
        Ok(())
    }

    fn engine(&self, name: &str) -> Result<EngineRef, CtlError> {
        self.lock().get(name).map(|r| r.eng.clone()).ok_or_else(|| not_up(name))
    }

    fn admin_done(&self, name: &str, op: Admin) -> Result<Done, CtlError> {
        let eng = self.engine(name)?;
        let (reply, rx) = sync_channel(1);
        eng.send(Cmd::Admin { op, reply }).map_err(|_| not_up(name))?;
        rx.recv().map_err(|_| not_up(name))?
    }

    fn admin(&self, name: &str, op: Admin) -> Result<(), CtlError> {
        self.admin_done(name, op).map(|_| ())
    }

    fn role_of(&self, name: &str) -> Option<Role> {
        self.status(Some(name)).ok().and_then(|v| v.first().map(|s| s.role))
    }

    fn primary(&self, name: &str, force: bool) -> Result<(), CtlError> {
        // The peer's demotion may still be on its way (its state report travels behind the
        // reply its drbdadm got): a refusal for two primaries is retried for a moment.
        let t0 = Instant::now();
        let done = loop {
            match self.admin_done(name, Admin::Primary { force }) {
                Err(e) if e.to_string().contains("(-1)") && t0.elapsed() < PEER_STATE_WAIT => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                r => break r?,
            }
        };
        if done == Done::Pending {
            let t0 = Instant::now();
            while self.role_of(name) != Some(Role::Primary) {
                if t0.elapsed() > PROMOTE_WAIT {
                    return Err(fail(
                        exit::STATE,
                        "State change failed: (-19) State change was refused by peer node",
                    ));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        // The engine publishes after the command; make sure the role is visible.
        let t0 = Instant::now();
        while self.role_of(name) != Some(Role::Primary) && t0.elapsed() < Duration::from_secs(2) {
            std::thread::sleep(Duration::from_millis(5));
        }
        let t = self.lock();
        if let Some(d) = t.get(name).and_then(|r| r.device.as_ref()) {
            // A device awaiting recovery holds the Primary's own cache (and its I/O waits:
            // a flush would hang).
            if d.is_read_only() && !d.awaiting_recovery() {
                if let Err(e) = drop_bdev_cache(d.device()) {
                    eprintln!(
                        "drbd {name}: dropping the page cache of {}: {e}",
                        d.device().display()
                    );
                }
            }
            d.set_read_only(false, false).map_err(|e| fail(exit::EXEC, format!("{name}: {e}")))?;
        }
        Ok(())
    }

    fn secondary(&self, name: &str) -> Result<(), CtlError> {
        {
            let t = self.lock();
            let r = t.get(name).ok_or_else(|| not_up(name))?;
            if let Some(d) = &r.device {
                // A holder that just let go (an unmount finishing, a probe) is waited for
                // briefly; a mounted file system is not.
                let t0 = Instant::now();
                loop {
                    match d.set_read_only(true, false) {
                        Ok(()) => break,
                        Err(_) if t0.elapsed() < BUSY_WAIT => {
                            std::thread::sleep(Duration::from_millis(50))
                        }
                        Err(_) => {
                            return Err(fail(
                                exit::STATE,
                                "State change failed: (-12) Device is held open by someone",
                            ))
                        }
                    }
                }
            }
        }
        let r = self.admin(name, Admin::Secondary);
        if r.is_err() {
            if let Some(d) = self.lock().get(name).and_then(|r| r.device.as_ref()) {
                let _ = d.set_read_only(false, false);
            }
        }
        r
    }
}

/// `BLKFLSBUF`: write back and drop the block device's page cache.
const BLKFLSBUF: u64 = 0x1261;

/// Drops the kernel's page cache of the front-end device. The front-end keeps the loop device
/// open, so its cache survives every unmount; while Secondary, the peer changes the data
/// underneath it (replication, resync), so cached blocks read before are stale. Called on
/// promotion, when nothing is dirty (the device was read-only).
fn drop_bdev_cache(dev: &Path) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(dev)?;
    // SAFETY: `f` is an open descriptor for the whole call; BLKFLSBUF takes no argument
    // pointer, so no memory is shared with the kernel.
    let r = unsafe { libc::ioctl(f.as_raw_fd(), BLKFLSBUF as _) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn not_up(name: &str) -> CtlError {
    fail(exit::CONFIG, format!("{name}: No such resource (not up)"))
}

fn stop_engine(r: &mut Running) {
    r.eng.stop();
    if let Some(t) = r.thread.take() {
        let _ = t.join();
    }
}

/// The replication engine's settings from a resource's options (drbd.conf names mapped to the
/// engine's; `discard-local` / `discard-remote` name this node or the peer).
pub fn repl_config(
    host: &str,
    peer: &str,
    size_sectors: u64,
    o: &config::options::Options,
) -> ReplConfig {
    use crate::repl::{AfterSb0, AfterSb1, AfterSb2, Fencing, RrConflict};
    let mut rc = ReplConfig::new(host, peer, size_sectors);
    let (net, disk) = (&o.net, &o.disk);
    rc.protocol = match net.protocol {
        config::Protocol::A => crate::repl::Protocol::A,
        config::Protocol::B => crate::repl::Protocol::B,
        config::Protocol::C => crate::repl::Protocol::C,
    };
    rc.allow_two_primaries = net.allow_two_primaries;
    rc.verify = net.verify_alg.is_some();
    rc.csums = net.csums_alg.is_some();
    rc.max_epoch_size = net.max_epoch_size;
    rc.after_sb_0pri = match net.after_sb_0pri.as_str() {
        "discard-younger-primary" => AfterSb0::DiscardYoungerPrimary,
        "discard-older-primary" => AfterSb0::DiscardOlderPrimary,
        "discard-zero-changes" => AfterSb0::DiscardZeroChanges,
        "discard-least-changes" => AfterSb0::DiscardLeastChanges,
        "discard-local" => AfterSb0::DiscardNode(host.to_string()),
        "discard-remote" => AfterSb0::DiscardNode(peer.to_string()),
        other => match other.strip_prefix("discard-node-") {
            Some(name) => AfterSb0::DiscardNode(name.to_string()),
            None => AfterSb0::Disconnect,
        },
    };
    rc.after_sb_1pri = match net.after_sb_1pri.as_str() {
        "consensus" => AfterSb1::Consensus,
        "call-pri-lost-after-sb" => AfterSb1::CallPriLostAfterSb,
        "discard-secondary" => AfterSb1::DiscardSecondary,
        "violently-as0p" => AfterSb1::ViolentlyAs0p,
        _ => AfterSb1::Disconnect,
    };
    rc.after_sb_2pri = match net.after_sb_2pri.as_str() {
        "call-pri-lost-after-sb" => AfterSb2::CallPriLostAfterSb,
        "violently-as0p" => AfterSb2::ViolentlyAs0p,
        _ => AfterSb2::Disconnect,
    };
    rc.rr_conflict = match net.rr_conflict.as_str() {
        "call-pri-lost" => RrConflict::CallPriLost,
        "violently" => RrConflict::Violently,
        _ => RrConflict::Disconnect,
    };
    // 9.x moved `fencing` to the net section; there it wins.
    rc.fencing = match net.fencing.as_deref().unwrap_or(disk.fencing.as_str()) {
        "resource-only" => Fencing::ResourceOnly,
        "resource-and-stonith" => Fencing::ResourceAndStonith,
        _ => Fencing::DontCare,
    };
    let kib = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
    rc.rate.resync_rate_kib = kib(disk.resync_rate_kib);
    rc.rate.c_plan_ahead = disk.c_plan_ahead_ds;
    rc.rate.c_delay_target = disk.c_delay_target_ds;
    rc.rate.c_fill_target = kib(disk.c_fill_target_sectors);
    rc.rate.c_max_rate_kib = kib(disk.c_max_rate_kib);
    rc.rate.c_min_rate_kib = kib(disk.c_min_rate_kib);
    rc.rate.max_buffers = net.max_buffers;
    rc.disk_flushes = disk.disk_flushes;
    rc.disk_drain = disk.disk_drain;
    rc.md_flushes = disk.md_flushes;
    rc
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repl::{AfterSb0, AfterSb1, AfterSb2, Fencing, Protocol, RrConflict};

    fn parse(options: &str) -> ReplConfig {
        let text = format!(
            "resource r0 {{\n{options}\n  on alice {{ device /dev/drbd0; disk /dev/loop0; \
             address 10.0.0.1:7789; meta-disk internal; }}\n  on bob {{ device /dev/drbd0; \
             disk /dev/loop0; address 10.0.0.2:7789; meta-disk internal; }}\n}}\n"
        );
        let cfg = config::Config::parse_str(Path::new("t.res"), &text, "alice").expect("parses");
        let r = cfg.resource("r0").expect("r0");
        repl_config("alice", "bob", 8192, &r.options)
    }

    #[test]
    fn defaults_are_drbd_defaults() {
        assert_eq!(parse(""), ReplConfig::new("alice", "bob", 8192));
    }

    #[test]
    fn every_engine_option_reaches_the_engine() {
        let rc = parse(
            "  net { protocol A; max-epoch-size 100; max-buffers 4000; after-sb-0pri discard-local;\n\
             after-sb-1pri discard-secondary; after-sb-2pri violently-as0p; rr-conflict violently;\n\
             csums-alg sha1; verify-alg sha1; }\n\
             disk { fencing resource-only; disk-flushes no; disk-drain no; md-flushes no;\n\
             resync-rate 10M; c-plan-ahead 0; c-max-rate 50M; c-min-rate 1M; c-fill-target 1M;\n\
             c-delay-target 5; }",
        );
        assert_eq!(rc.protocol, Protocol::A);
        assert_eq!(rc.max_epoch_size, 100);
        assert_eq!(rc.after_sb_0pri, AfterSb0::DiscardNode("alice".into()));
        assert_eq!(rc.after_sb_1pri, AfterSb1::DiscardSecondary);
        assert_eq!(rc.after_sb_2pri, AfterSb2::ViolentlyAs0p);
        assert_eq!(rc.rr_conflict, RrConflict::Violently);
        assert!(rc.csums && rc.verify);
        assert_eq!(rc.fencing, Fencing::ResourceOnly);
        assert!(!rc.disk_flushes && !rc.disk_drain && !rc.md_flushes);
        assert_eq!(rc.rate.resync_rate_kib, 10 * 1024);
        assert_eq!(rc.rate.c_plan_ahead, 0);
        assert_eq!(rc.rate.c_max_rate_kib, 50 * 1024);
        assert_eq!(rc.rate.c_min_rate_kib, 1024);
        assert_eq!(rc.rate.c_fill_target, 2048);
        assert_eq!(rc.rate.c_delay_target, 5);
        assert_eq!(rc.rate.max_buffers, 4000);
    }

    #[test]
    fn discard_node_and_net_fencing() {
        let rc = parse(
            "  net { after-sb-0pri discard-node-bob; fencing resource-and-stonith; }\n\
             disk { fencing resource-only; }",
        );
        assert_eq!(rc.after_sb_0pri, AfterSb0::DiscardNode("bob".into()));
        assert_eq!(rc.fencing, Fencing::ResourceAndStonith);
    }
}
