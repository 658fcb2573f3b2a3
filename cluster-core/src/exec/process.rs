//! The process-spawning [`AgentRunner`].
//!
//! Mechanism: every agent runs in its own process group (`process_group(0)`, so its pgid equals
//! its pid) with a cleared environment, `/` as working directory and stdin from `/dev/null`
//! (fence agents get their options on a stdin pipe). Two reader threads per operation drain
//! stdout and stderr into buffers capped at [`ExecConfig::output_limit_bytes`]; bytes beyond
//! the cap are read and counted but dropped, so a chatty agent can never block on a full pipe.
//! An operation completes when its leader process has exited and both pipes reached EOF, or
//! shortly after the exit when a daemonised child keeps a pipe open (Pacemaker also finishes on
//! the exit of the agent, not on EOF).
//!
//! Timeouts: when the deadline passes the whole group gets SIGTERM, and SIGKILL after
//! [`ExecConfig::kill_grace_ms`]; once the leader is gone the group gets SIGKILL at once, so
//! children that ignore SIGTERM die too. Signals are sent by running `kill -SIG -- -PGID`
//! (the crate forbids `unsafe`, so no direct `kill(2)`). A pgid cannot be reused while any
//! member of the group is alive, so signalling a group after reaping its leader is safe.
//!
//! Limits: at most `max_concurrent` agents run; up to `max_queued` more wait in FIFO order; a
//! request beyond that completes at once with [`ExecStatus::Error`] ("queue full"). Like
//! Pacemaker's executor, operations of the same resource instance never overlap: a queued
//! request waits while another operation of its resource runs, later requests of other
//! resources may overtake it.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::env::{plan, ExecConfig, ExitMapping, Invocation, EXIT_REASON_PREFIX};
use super::interpret::{map_exit, parse_exit_reason};
use super::types::{AgentRequest, ExecStatus, OcfExit, OpId, OpResult};

/// Runs agent actions asynchronously: submit with `start`, collect with `poll_result`.
pub trait AgentRunner {
    /// Submits a request; its result comes later from [`AgentRunner::poll_result`].
    fn start(&mut self, r: AgentRequest) -> OpId;
    /// Makes progress and returns one finished operation, if any. Never blocks.
    fn poll_result(&mut self) -> Option<(OpId, OpResult)>;
    /// Cancels a queued or running operation (its group is killed); its result has status
    /// [`ExecStatus::Cancelled`]. Returns false if the id is unknown or already finished.
    fn cancel(&mut self, id: OpId) -> bool;
}

/// How long to wait for pipe EOF after the agent exited (daemonised children may hold pipes).
const EOF_WAIT: Duration = Duration::from_millis(100);

#[derive(Default)]
struct CaptureBuf {
    data: Vec<u8>,
    dropped: u64,
    eof: bool,
}

struct Capture {
    buf: Arc<Mutex<CaptureBuf>>,
    _reader: Option<JoinHandle<()>>,
}

impl Capture {
    fn spawn<R: Read + Send + 'static>(src: Option<R>, limit: usize) -> Capture {
        let buf = Arc::new(Mutex::new(CaptureBuf::default()));
        let Some(mut src) = src else {
            buf.lock().expect("capture lock").eof = true;
            return Capture { buf, _reader: None };
        };
        let shared = Arc::clone(&buf);
        let reader = std::thread::spawn(move || {
            let mut chunk = [0u8; 8192];
            loop {
                let n = match src.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let mut b = shared.lock().expect("capture lock");
                let room = limit.saturating_sub(b.data.len()).min(n);
                b.data.extend_from_slice(&chunk[..room]);
                b.dropped += (n - room) as u64;
            }
            shared.lock().expect("capture lock").eof = true;
        });
        Capture { buf, _reader: Some(reader) }
    }

    fn eof(&self) -> bool {
        self.buf.lock().expect("capture lock").eof
    }

    fn text(&self) -> String {
        let b = self.buf.lock().expect("capture lock");
        let mut s = String::from_utf8_lossy(&b.data).into_owned();
        if b.dropped > 0 {
            s.push_str(&format!("\n[... {} bytes of output dropped]\n", b.dropped));
        }
        s
    }
}

struct Running {
    id: OpId,
    req: AgentRequest,
    child: Child,
    mapping: ExitMapping,
    started: Instant,
    deadline: Instant,
    term_sent: Option<Instant>,
    kill_sent: bool,
    exited: Option<(ExitStatus, Instant)>,
    cancelled: bool,
    stdout: Capture,
    stderr: Capture,
}

impl Running {
    fn pgid(&self) -> u32 {
        self.child.id()
    }
}

/// Spawns real agent processes; see the module docs for the mechanism.
pub struct ProcessRunner {
    cfg: ExecConfig,
    next_id: u64,
    queued: VecDeque<(OpId, AgentRequest)>,
    running: Vec<Running>,
    done: VecDeque<(OpId, OpResult)>,
}

#[allow(clippy::disallowed_methods)] // the real effect implementation reads the clock
fn now() -> Instant {
    Instant::now()
}

fn kill_program() -> &'static str {
    if std::path::Path::new("/bin/kill").exists() {
        "/bin/kill"
    } else {
        "kill"
    }
}

/// Sends `signal` (e.g. `TERM`, `KILL`) to every process of group `pgid`.
pub fn signal_group(pgid: u32, signal: &str) {
    assert!(pgid > 1, "refusing to signal process group {pgid}");
    let _ = Command::new(kill_program())
        .arg(format!("-{signal}"))
        .arg("--")
        .arg(format!("-{pgid}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

impl ProcessRunner {
    /// A runner with the given configuration.
    ///
    /// Creates [`ExecConfig::rsctmp`] if it does not exist.
    ///
    /// # Panics
    /// If `max_concurrent` is 0.
    pub fn new(cfg: ExecConfig) -> ProcessRunner {
        assert!(cfg.max_concurrent > 0, "max_concurrent must be at least 1");
        // Best effort, like tmpfiles.d at boot (`d /run/resource-agents 1755 root root`); an
        // agent that needs it and cannot create it reports its own error.
        if !cfg.rsctmp.is_dir() && std::fs::create_dir_all(&cfg.rsctmp).is_ok() {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&cfg.rsctmp, std::fs::Permissions::from_mode(0o1755));
        }
        ProcessRunner {
            cfg,
            next_id: 1,
            queued: VecDeque::new(),
            running: Vec::new(),
            done: VecDeque::new(),
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &ExecConfig {
        &self.cfg
    }

    /// Number of operations running now.
    pub fn running_count(&self) -> usize {
        self.running.len()
    }

    /// Number of operations waiting for a free slot.
    pub fn queued_count(&self) -> usize {
        self.queued.len()
    }

    /// Blocks until operation `id` has finished (or `max` elapsed) and returns its result.
    /// Other results that finish meanwhile stay available to `poll_result`.
    pub fn wait_for(&mut self, id: OpId, max: Duration) -> Option<OpResult> {
        let limit = now() + max;
        loop {
            self.pump();
            if let Some(pos) = self.done.iter().position(|(i, _)| *i == id) {
                return self.done.remove(pos).map(|(_, r)| r);
            }
            if now() >= limit {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Runs one request to completion (waits at most its timeout plus the kill grace + 5 s).
    pub fn run(&mut self, r: AgentRequest) -> OpResult {
        let max = Duration::from_millis(r.effective_timeout_ms() + self.cfg.kill_grace_ms + 5_000);
        let id = self.start(r);
        self.wait_for(id, max).unwrap_or_else(|| {
            OpResult::synthetic(OcfExit::ErrGeneric, ExecStatus::Error, "agent did not finish")
        })
    }

    fn spawn(&mut self, id: OpId, req: AgentRequest) {
        let inv = match plan(&self.cfg, &req) {
            Ok(inv) => inv,
            Err(res) => return self.done.push_back((id, res)),
        };
        match spawn_invocation(&inv, self.cfg.output_limit_bytes) {
            Ok((child, stdout, stderr)) => {
                let started = now();
                let deadline = started + Duration::from_millis(req.effective_timeout_ms());
                self.running.push(Running {
                    id,
                    req,
                    child,
                    mapping: inv.mapping,
                    started,
                    deadline,
                    term_sent: None,
                    kill_sent: false,
                    exited: None,
                    cancelled: false,
                    stdout,
                    stderr,
                });
            }
            Err(e) => {
                let (rc, st) = if e.kind() == std::io::ErrorKind::NotFound {
                    (OcfExit::NotInstalled, ExecStatus::NotInstalled)
                } else {
                    (OcfExit::ErrGeneric, ExecStatus::Error)
                };
                let reason = format!("cannot execute {}: {e}", inv.program.display());
                self.done.push_back((id, OpResult::synthetic(rc, st, &reason)));
            }
        }
    }

    /// Reaps exited agents, enforces deadlines and starts queued requests.
    fn pump(&mut self) {
        let t = now();
        let grace = Duration::from_millis(self.cfg.kill_grace_ms);
        let mut i = 0;
        while i < self.running.len() {
            let r = &mut self.running[i];
            if r.exited.is_none() {
                if let Ok(Some(st)) = r.child.try_wait() {
                    if r.term_sent.is_some() {
                        signal_group(r.pgid(), "KILL");
                    }
                    r.exited = Some((st, t));
                }
            }
            if r.exited.is_none() {
                match r.term_sent {
                    None if t >= r.deadline => {
                        signal_group(r.pgid(), "TERM");
                        r.term_sent = Some(t);
                    }
                    Some(ts) if t >= ts + grace && !r.kill_sent => {
                        signal_group(r.pgid(), "KILL");
                        r.kill_sent = true;
                    }
                    _ => {}
                }
            }
            let finished = match r.exited {
                Some((_, at)) => (r.stdout.eof() && r.stderr.eof()) || t >= at + EOF_WAIT,
                None => false,
            };
            if finished {
                let r = self.running.swap_remove(i);
                let res = finish(r, t);
                self.done.push_back(res);
            } else {
                i += 1;
            }
        }
        // Start queued requests in FIFO order, skipping resources that are busy.
        let mut idx = 0;
        while self.running.len() < self.cfg.max_concurrent && idx < self.queued.len() {
            let busy = {
                let q = &self.queued[idx].1;
                self.running.iter().any(|r| same_resource(&r.req, q))
            };
            if busy {
                idx += 1;
                continue;
            }
            let (id, req) = self.queued.remove(idx).expect("index checked above");
            self.spawn(id, req);
        }
    }
}

/// Operations of one resource (instance) run one at a time, as in Pacemaker's executor.
fn same_resource(a: &AgentRequest, b: &AgentRequest) -> bool {
    a.rsc_id == b.rsc_id && a.clone.as_ref().map(|c| c.number) == b.clone.as_ref().map(|c| c.number)
}

fn spawn_invocation(inv: &Invocation, limit: usize) -> std::io::Result<(Child, Capture, Capture)> {
    let mut cmd = Command::new(&inv.program);
    cmd.args(&inv.args)
        .env_clear()
        .envs(inv.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .current_dir("/")
        .stdin(if inv.stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = cmd.spawn()?;
    if let (Some(mut pipe), Some(bytes)) = (child.stdin.take(), inv.stdin.clone()) {
        // A writer thread: an agent that does not read stdin must not block the executor.
        std::thread::spawn(move || {
            let _ = pipe.write_all(&bytes);
        });
    }
    let out = Capture::spawn(child.stdout.take(), limit);
    let err = Capture::spawn(child.stderr.take(), limit);
    Ok((child, out, err))
}

fn finish(r: Running, t: Instant) -> (OpId, OpResult) {
    let (st, _) = r.exited.expect("finish called on a running operation");
    let stdout = r.stdout.text();
    let stderr = r.stderr.text();
    let mut reason = parse_exit_reason(&stderr, EXIT_REASON_PREFIX);
    let duration_ms = t.saturating_duration_since(r.started).as_millis() as u64;
    let (rc, status) = if r.cancelled {
        (OcfExit::ErrGeneric, ExecStatus::Cancelled)
    } else if r.term_sent.is_some() {
        if reason.is_none() {
            reason = Some(format!(
                "{} timed out after {} ms",
                r.req.action,
                r.req.effective_timeout_ms()
            ));
        }
        (OcfExit::ErrGeneric, ExecStatus::Timeout)
    } else if let Some(code) = st.code() {
        let rc = map_exit(r.mapping, code);
        if r.req.interval_ms > 0 && rc == OcfExit::Unimplemented {
            (rc, ExecStatus::NotSupported)
        } else {
            (rc, ExecStatus::Done)
        }
    } else {
        let sig = st.signal().unwrap_or(0);
        if reason.is_none() {
            reason = Some(format!("agent terminated by signal {sig}"));
        }
        (OcfExit::ErrGeneric, ExecStatus::Error)
    };
    let res = OpResult {
        rc,
        status,
        exit_reason: reason,
        raw_exit: st.code(),
        stdout,
        stderr,
        duration_ms,
    };
    (r.id, res)
}

impl AgentRunner for ProcessRunner {
    fn start(&mut self, r: AgentRequest) -> OpId {
        let id = OpId(self.next_id);
        self.next_id += 1;
        self.queued.push_back((id, r));
        self.pump();
        // Still waiting beyond the bound: refuse this request (it is the last one queued).
        if self.queued.len() > self.cfg.max_queued && self.queued.back().map(|q| q.0) == Some(id) {
            self.queued.pop_back();
            let res = OpResult::synthetic(OcfExit::ErrGeneric, ExecStatus::Error, "queue full");
            self.done.push_back((id, res));
        }
        id
    }

    fn poll_result(&mut self) -> Option<(OpId, OpResult)> {
        self.pump();
        self.done.pop_front()
    }

    fn cancel(&mut self, id: OpId) -> bool {
        if let Some(pos) = self.queued.iter().position(|(i, _)| *i == id) {
            self.queued.remove(pos);
            let res = OpResult::synthetic(OcfExit::ErrGeneric, ExecStatus::Cancelled, "cancelled");
            self.done.push_back((id, res));
            return true;
        }
        let Some(r) = self.running.iter_mut().find(|r| r.id == id && r.exited.is_none()) else {
            return false;
        };
        r.cancelled = true;
        signal_group(r.pgid(), "KILL");
        true
    }
}

impl Drop for ProcessRunner {
    fn drop(&mut self) {
        for r in &mut self.running {
            if r.exited.is_none() {
                signal_group(r.pgid(), "KILL");
                let _ = r.child.wait();
            }
        }
    }
}
