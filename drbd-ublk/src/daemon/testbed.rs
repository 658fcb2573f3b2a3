//! One resource's engine without the daemon around it: fresh internal metadata on a backing
//! file or device, a [`Replicator`], the started engine with its real local I/O path and,
//! optionally, the real peer connection ([`NetCtl`], TCP). The engine benchmark and the
//! engine tests drive it through [`EngineBackend`] and [`Admin`] commands, exactly as the
//! daemon's front-end and control socket do.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::conn::NetCtl;
use super::engine::{
    read_for_attach, Admin, AttachedDisk, Cmd, Engine, EngineBackend, EngineQueue, EngineRef,
};
use crate::ctl::{CtlError, ResourceStatus};
use crate::meta::{self, CreateOptions, MetaDisk};
use crate::net::LinkConfig;
use crate::repl::{Done, Protocol, ReplConfig, Replicator};

/// What to start.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    /// Resource name (log lines, thread names).
    pub resource: String,
    /// This node's name.
    pub node: String,
    /// Backing file or block device (metadata goes at its end, internal).
    pub backing: PathBuf,
    /// Replication protocol.
    pub protocol: Protocol,
    /// `disk-flushes` and `md-flushes` (DRBD's default: yes; `no` is for devices whose write
    /// cache survives power loss).
    pub flushes: bool,
    /// Address to listen on, and the peer's name and address (`None`: no peer).
    pub link: Option<(SocketAddr, String, SocketAddr)>,
}

/// A running engine.
pub struct Node {
    eng: EngineRef,
    status: Arc<Mutex<ResourceStatus>>,
    thread: Option<JoinHandle<()>>,
    size_bytes: u64,
}

/// Errors starting a [`Node`].
#[derive(Debug, thiserror::Error)]
pub enum TestbedError {
    /// Metadata creation or reading failed.
    #[error("{0}: metadata: {1}")]
    Meta(PathBuf, meta::MetaError),
    /// Opening the backing device or starting the thread failed.
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    /// The replicator refused the attach.
    #[error("attach: {0}")]
    Attach(crate::repl::StateError),
}

impl Node {
    /// Writes fresh metadata on `spec.backing` and starts the engine.
    ///
    /// # Errors
    /// [`TestbedError`].
    pub fn start(spec: &NodeSpec) -> Result<Node, TestbedError> {
        let path = spec.backing.clone();
        let me = |e| TestbedError::Meta(path.clone(), e);
        let opts = CreateOptions { force: true, al: Default::default(), device_uuid: 0x0e61_0e61 };
        meta::create_md(&spec.backing, &MetaDisk::Internal, &opts).map_err(me)?;
        let r = read_for_attach(&spec.backing, &MetaDisk::Internal).map_err(me)?;
        let (meta_in, size, al_extents) = (r.meta, r.size_sectors, r.al_extents);
        let disk = AttachedDisk::open(&spec.backing, r.md, r.sb)
            .map_err(|e| TestbedError::Io(path.clone(), e))?;
        let peer = spec.link.as_ref().map(|l| l.1.clone()).unwrap_or_default();
        let mut rc = ReplConfig::new(&spec.node, &peer, size);
        rc.protocol = spec.protocol;
        rc.disk_flushes = spec.flushes;
        rc.md_flushes = spec.flushes;
        rc.al_extents = al_extents;
        rc.uuid_seed = spec.node.bytes().fold(0x5eed_u64, |h, b| h.rotate_left(5) ^ u64::from(b));
        let mut repl = Replicator::new(rc);
        repl.attach(meta_in).map_err(TestbedError::Attach)?;
        let mut st = ResourceStatus::new(&spec.resource, 0);
        st.peer = peer;
        let status = Arc::new(Mutex::new(st));
        let engine = Engine::new(repl, Some(disk), Arc::clone(&status));
        let (eng, thread) =
            engine.start(&spec.resource).map_err(|e| TestbedError::Io(path.clone(), e))?;
        if let Some((listen, _, peer_addr)) = &spec.link {
            let net =
                NetCtl::new(&spec.resource, *listen, LinkConfig::new(*peer_addr), eng.clone());
            eng.set_net_ctl(Box::new(move |up| if up { net.connect() } else { net.disconnect() }));
        }
        Ok(Node { eng, status, thread: Some(thread), size_bytes: size * 512 })
    }

    /// The front-end's view of the engine.
    pub fn backend(&self) -> EngineBackend {
        EngineBackend::new(self.eng.clone(), self.size_bytes)
    }

    /// The queued interface to the engine, `depth` requests in flight at most.
    pub fn queue(&self, depth: usize) -> EngineQueue {
        EngineQueue::new(self.eng.clone(), self.size_bytes, depth)
    }

    /// The engine stops working for `d` (returns at once): a peer that stops reading its
    /// socket, as seen from the other node.
    pub fn stall(&self, d: Duration) {
        let eng = self.eng.clone();
        let _ = std::thread::Builder::new().name("drbd-stall".into()).spawn(move || {
            let _ = eng.send(Cmd::Stall(d));
        });
    }

    /// Rounds of the engine's own thread so far ([`EngineRef::thread_rounds`]).
    pub fn engine_thread_rounds(&self) -> u64 {
        self.eng.thread_rounds()
    }

    /// Usable size in bytes.
    pub fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    /// Runs an administrative operation in the engine.
    ///
    /// # Errors
    /// The engine's refusal, or `EXEC` if the engine is gone.
    pub fn admin(&self, op: Admin) -> Result<Done, CtlError> {
        let gone = || CtlError::failed(crate::ctl::exit::EXEC, "engine gone".to_string());
        let (reply, rx) = sync_channel(1);
        self.eng.send(Cmd::Admin { op, reply }).map_err(|_| gone())?;
        rx.recv().map_err(|_| gone())?
    }

    /// The status as last published.
    pub fn status(&self) -> ResourceStatus {
        self.status.lock().map(|s| s.clone()).unwrap_or_else(|e| e.into_inner().clone())
    }

    /// Waits until `cond` holds for the status (polling); `false` on timeout.
    pub fn wait_for(&self, timeout: Duration, cond: impl Fn(&ResourceStatus) -> bool) -> bool {
        let end = Instant::now() + timeout;
        loop {
            if cond(&self.status()) {
                return true;
            }
            if Instant::now() >= end {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Stops the engine (disconnects, waits for local I/O) and waits for its thread.
    pub fn stop(&mut self) {
        if let Some(t) = self.thread.take() {
            self.eng.stop();
            let _ = t.join();
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.stop();
    }
}
