//! The replication engine against raw io_uring writes, side by side in one run.
//!
//! `engine-bench [--dir DIR] [--size-mib N] [--secs S] [--patterns p1,p2,..] [--configs c1,..]`
//!
//! Patterns: `rand4k-qd1`, `rand4k-qd32` (4 KiB random writes), `seq1m-qd4` (1 MiB
//! sequential writes, 4 in flight). Configurations:
//! * `raw1`: io_uring `O_DIRECT` writes to one file ([`UringDisk`]);
//! * `raw2`: the same write to two files, done when both are (the local-mirror limit);
//! * `standalone`, `protoA`, `protoC`: the engine ([`Node`]: replicator + the daemon's engine
//!   thread and local I/O path) driven by one thread through the queued interface
//!   ([`EngineQueue`], as a queue-based front-end would); protocols A and C with a second
//!   engine in the same process connected over 127.0.0.1 through the daemon's connection
//!   code;
//! * `standalone-blocking`: the same as `standalone` through the blocking interface
//!   (`EngineBackend`, one thread per write in flight, as the FUSE front-end's workers).
//!
//! Also measured in the same run: the loopback TCP round trip (one byte ping-pong,
//! `TCP_NODELAY`). A counting global allocator reports allocations per write of each run.

// A benchmark is a real driver: it reads the clock.
#![allow(clippy::disallowed_methods)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use drbd_ublk::daemon::engine::{Admin, EngineQueue, QueuedOp};
use drbd_ublk::daemon::testbed::{Node, NodeSpec};
use drbd_ublk::fuse::BlockBackend;
use drbd_ublk::io::{Disk, DiskOp, UringConfig, UringDisk};
use drbd_ublk::repl::{DiskState, Payload, Protocol, Role};

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[derive(Clone, Copy, Debug, PartialEq)]
struct Pattern {
    name: &'static str,
    bs: usize,
    qd: usize,
    random: bool,
}

const PATTERNS: [Pattern; 3] = [
    Pattern { name: "rand4k-qd1", bs: 4096, qd: 1, random: true },
    Pattern { name: "rand4k-qd32", bs: 4096, qd: 32, random: true },
    Pattern { name: "seq1m-qd4", bs: 1 << 20, qd: 4, random: false },
];

const CONFIGS: [&str; 8] = [
    "raw1",
    "raw2",
    "standalone",
    "standalone-blocking",
    "protoA",
    "protoC",
    "standalone-noflush",
    "protoC-noflush",
];

/// Latency histogram: 1 µs buckets up to 200 ms.
struct Hist {
    buckets: Vec<u32>,
    n: u64,
    sum_ns: u128,
}

impl Hist {
    fn new() -> Hist {
        Hist { buckets: vec![0; 200_000], n: 0, sum_ns: 0 }
    }
    fn add(&mut self, d: Duration) {
        let us = (d.as_micros() as usize).min(self.buckets.len() - 1);
        self.buckets[us] += 1;
        self.n += 1;
        self.sum_ns += d.as_nanos();
    }
    fn merge(&mut self, o: &Hist) {
        for (a, b) in self.buckets.iter_mut().zip(&o.buckets) {
            *a += b;
        }
        self.n += o.n;
        self.sum_ns += o.sum_ns;
    }
    fn mean_us(&self) -> f64 {
        if self.n == 0 {
            return 0.0;
        }
        self.sum_ns as f64 / self.n as f64 / 1000.0
    }
    fn pct_us(&self, p: f64) -> u64 {
        let target = ((self.n as f64) * p).ceil() as u64;
        let mut acc = 0u64;
        for (us, &c) in self.buckets.iter().enumerate() {
            acc += u64::from(c);
            if acc >= target && c > 0 {
                return us as u64;
            }
        }
        0
    }
}

struct Res {
    /// Process CPU time (user + system, all threads) during the run.
    cpu: Duration,
    ops: u64,
    bytes: u64,
    secs: f64,
    hist: Hist,
    allocs: u64,
}

impl Res {
    fn iops(&self) -> f64 {
        self.ops as f64 / self.secs
    }
    fn cpu_us_per_op(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / self.ops.max(1) as f64
    }
    fn mbs(&self) -> f64 {
        self.bytes as f64 / self.secs / 1e6
    }
}

/// User + system CPU time of the whole process so far (all threads), from `/proc/self/stat`
/// in USER_HZ ticks (100 per second on Linux): 10 ms resolution, ample for runs of seconds.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest.split_whitespace().map(|x| x.parse().unwrap_or(0)).collect();
    let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

/// xorshift64*.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Offset generator shared by the raw and engine runs.
struct Offsets {
    rng: Rng,
    next_seq: u64,
    span: u64,
    bs: u64,
    random: bool,
}

impl Offsets {
    fn new(seed: u64, span: u64, p: &Pattern, start: u64) -> Offsets {
        Offsets { rng: Rng(seed | 1), next_seq: start, span, bs: p.bs as u64, random: p.random }
    }
    fn next(&mut self) -> u64 {
        let blocks = self.span / self.bs;
        if self.random {
            (self.rng.next() % blocks) * self.bs
        } else {
            let o = self.next_seq;
            self.next_seq = (self.next_seq + self.bs) % (blocks * self.bs);
            o
        }
    }
}

fn raw_run(files: &[PathBuf], p: &Pattern, span: u64, secs: f64) -> Result<Res> {
    let cfg = UringConfig {
        queue_depth: p.qd as u16,
        buf_bytes: (p.bs as u32).max(4096),
        read_only: false,
    };
    let mut disks = Vec::new();
    for f in files {
        disks.push(UringDisk::open(f, cfg).with_context(|| format!("open {}", f.display()))?);
    }
    let mut bufs = Vec::new();
    for d in disks.iter_mut() {
        let mut v = Vec::new();
        for _ in 0..p.qd {
            let b = d.take_buf().context("pool buffer")?;
            d.buf_mut(b).fill(0x5a);
            v.push(b);
        }
        bufs.push(v);
    }
    let mut offs = Offsets::new(0x1234, span, p, 0);
    let mut started = vec![Instant::now(); p.qd];
    let mut left = vec![0usize; p.qd];
    let mut hist = Hist::new();
    let a0 = ALLOCS.load(Ordering::Relaxed);
    let c0 = cpu_time();
    let t0 = Instant::now();
    let end = t0 + Duration::from_secs_f64(secs);
    let submit = |disks: &mut Vec<UringDisk>, slot: usize, off: u64| -> Result<()> {
        for (i, d) in disks.iter_mut().enumerate() {
            d.submit(DiskOp::write(slot as u64, off, p.bs as u32, bufs[i][slot]))
                .map_err(|r| anyhow::anyhow!("{r}"))?;
        }
        Ok(())
    };
    for slot in 0..p.qd {
        started[slot] = Instant::now();
        left[slot] = disks.len();
        submit(&mut disks, slot, offs.next())?;
    }
    let mut ops = 0u64;
    let mut inflight = p.qd;
    while inflight > 0 {
        let mut got = None;
        for d in disks.iter_mut() {
            if let Some(c) = d.poll_completion() {
                got = Some(c);
                break;
            }
        }
        let c = match got {
            Some(c) => c,
            None => match disks[0].in_flight() {
                0 => disks[1].wait_completion()?.context("nothing in flight")?,
                _ => disks[0].wait_completion()?.context("nothing in flight")?,
            },
        };
        if let Err(e) = c.result {
            bail!("raw write: {e}");
        }
        let slot = c.tag as usize;
        left[slot] -= 1;
        if left[slot] > 0 {
            continue;
        }
        let now = Instant::now();
        hist.add(now - started[slot]);
        ops += 1;
        if now < end {
            started[slot] = now;
            left[slot] = disks.len();
            submit(&mut disks, slot, offs.next())?;
        } else {
            inflight -= 1;
        }
    }
    let el = t0.elapsed().as_secs_f64();
    let allocs = ALLOCS.load(Ordering::Relaxed) - a0;
    Ok(Res { cpu: cpu_time() - c0, ops, bytes: ops * p.bs as u64, secs: el, hist, allocs })
}

/// One thread keeps `qd` writes in flight through the engine's queued interface; payload
/// buffers are reused once the engine let go of them.
fn engine_queue_run(node: &Node, p: &Pattern, secs: f64) -> Result<Res> {
    let mut q = node.queue(p.qd);
    let span = node.size_bytes();
    // The replicator keeps a write's data until its epoch is acknowledged (protocols A and
    // C), so the pool holds more buffers than writes in flight; a buffer is reused once the
    // engine let go of it.
    let mut pool: Vec<Payload> = (0..p.qd * 8).map(|_| Payload::from(vec![0xa5u8; p.bs])).collect();
    let mut cursor = 0usize;
    let mut take = move |pool: &mut Vec<Payload>| -> Payload {
        for _ in 0..pool.len() {
            cursor = (cursor + 1) % pool.len();
            if Payload::strong_count(&pool[cursor]) == 1 {
                return Payload::clone(&pool[cursor]);
            }
        }
        pool[cursor] = Payload::from(vec![0xa5u8; pool[cursor].len()]);
        Payload::clone(&pool[cursor])
    };
    let mut started = vec![Instant::now(); p.qd];
    let mut offs = Offsets::new(0x9e37, span, p, 0);
    let mut hist = Hist::new();
    let a0 = ALLOCS.load(Ordering::Relaxed);
    let c0 = cpu_time();
    let t0 = Instant::now();
    let end = t0 + Duration::from_secs_f64(secs);
    let mut submit = |q: &mut EngineQueue, slot: usize, data: Payload| -> Result<Instant> {
        let t = Instant::now();
        q.submit(slot as u64, QueuedOp::Write { sector: offs.next() / 512, data, fua: false })?;
        Ok(t)
    };
    for (slot, t) in started.iter_mut().enumerate() {
        *t = submit(&mut q, slot, take(&mut pool))?;
    }
    let mut ops = 0u64;
    let mut ready = Vec::with_capacity(p.qd);
    while let Some(d) = q.wait()? {
        // Collect every completion already there, then submit the next batch (as a queue
        // front-end does: fewer wake-ups on both sides).
        ready.push(d);
        while let Some(d) = q.try_wait() {
            ready.push(d);
        }
        let now = Instant::now();
        for d in ready.drain(..) {
            if let Err(e) = d.result {
                bail!("engine write: {e}");
            }
            let slot = d.tag as usize;
            hist.add(now - started[slot]);
            ops += 1;
            if now < end {
                started[slot] = submit(&mut q, slot, take(&mut pool))?;
            }
        }
    }
    let el = t0.elapsed().as_secs_f64();
    let allocs = ALLOCS.load(Ordering::Relaxed) - a0;
    Ok(Res { cpu: cpu_time() - c0, ops, bytes: ops * p.bs as u64, secs: el, hist, allocs })
}

/// One thread per write in flight through the blocking interface (as the FUSE front-end's
/// workers use it).
fn engine_run(node: &Node, p: &Pattern, secs: f64) -> Result<Res> {
    let backend = Arc::new(node.backend());
    let span = node.size_bytes();
    let end_at = Instant::now() + Duration::from_secs_f64(secs);
    let mut threads = Vec::new();
    let a0 = ALLOCS.load(Ordering::Relaxed);
    let c0 = cpu_time();
    let t0 = Instant::now();
    for t in 0..p.qd {
        let b = Arc::clone(&backend);
        let pat = *p;
        // Sequential streams start far apart so they do not overlap.
        let start = if p.random {
            0
        } else {
            (span / p.qd as u64 / pat.bs as u64) * t as u64 * pat.bs as u64
        };
        threads.push(std::thread::spawn(move || -> std::io::Result<(u64, Hist)> {
            let data = vec![0xa5u8; pat.bs];
            let mut offs = Offsets::new(0x9e37 + t as u64 * 7919, span, &pat, start);
            let mut hist = Hist::new();
            let mut ops = 0;
            loop {
                let s = Instant::now();
                if s >= end_at {
                    break;
                }
                b.write_at(&data, offs.next())?;
                hist.add(s.elapsed());
                ops += 1;
            }
            Ok((ops, hist))
        }));
    }
    let mut hist = Hist::new();
    let mut ops = 0;
    for t in threads {
        let (n, h) = t.join().map_err(|_| anyhow::anyhow!("worker panicked"))??;
        ops += n;
        hist.merge(&h);
    }
    let el = t0.elapsed().as_secs_f64();
    // Thread start-up and the per-thread histograms are a fixed cost, not per write.
    let allocs = ALLOCS.load(Ordering::Relaxed).saturating_sub(a0 + 8 * p.qd as u64);
    Ok(Res { cpu: cpu_time() - c0, ops, bytes: ops * p.bs as u64, secs: el, hist, allocs })
}

/// Latency of a flush (`fdatasync` through the ring) right after a 4 KiB write: what the
/// peer pays per epoch under DRBD's write ordering (barrier → flush).
fn raw_flush(file: &Path, n: usize, span: u64) -> Result<Hist> {
    let cfg = UringConfig { queue_depth: 2, buf_bytes: 4096, read_only: false };
    let mut d = UringDisk::open(file, cfg)?;
    let b = d.take_buf().context("buffer")?;
    let mut rng = Rng(0x77);
    let mut h = Hist::new();
    for _ in 0..n {
        let off = (rng.next() % (span / 4096)) * 4096;
        d.submit(DiskOp::write(1, off, 4096, b)).map_err(|r| anyhow::anyhow!("{r}"))?;
        d.wait_completion()?.context("write")?.result?;
        let t = Instant::now();
        d.submit(DiskOp::flush(2)).map_err(|r| anyhow::anyhow!("{r}"))?;
        d.wait_completion()?.context("flush")?.result?;
        h.add(t.elapsed());
    }
    Ok(h)
}

fn free_port() -> Result<std::net::SocketAddr> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?)
}

fn tcp_rtt(n: usize) -> Result<Hist> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    let addr = l.local_addr()?;
    let srv = std::thread::spawn(move || -> std::io::Result<()> {
        let (mut s, _) = l.accept()?;
        s.set_nodelay(true)?;
        let mut b = [0u8; 1];
        while s.read_exact(&mut b).is_ok() {
            s.write_all(&b)?;
        }
        Ok(())
    });
    let mut c = TcpStream::connect(addr)?;
    c.set_nodelay(true)?;
    let mut h = Hist::new();
    let mut b = [7u8; 1];
    for i in 0..n + 100 {
        let t = Instant::now();
        c.write_all(&b)?;
        c.read_exact(&mut b)?;
        if i >= 100 {
            h.add(t.elapsed());
        }
    }
    drop(c);
    let _ = srv.join();
    Ok(h)
}

fn prepare(path: &Path, bytes: u64) -> Result<()> {
    let f = OpenOptions::new().create(true).truncate(false).read(true).write(true).open(path)?;
    if f.metadata()?.len() == bytes {
        return Ok(());
    }
    f.set_len(0)?;
    let chunk = vec![0u8; 1 << 20];
    let mut off = 0;
    while off < bytes {
        let n = (bytes - off).min(chunk.len() as u64) as usize;
        f.write_all_at(&chunk[..n], off)?;
        off += n as u64;
    }
    f.sync_all()?;
    Ok(())
}

fn wait(
    node: &Node,
    what: &str,
    cond: impl Fn(&drbd_ublk::ctl::ResourceStatus) -> bool,
) -> Result<()> {
    if !node.wait_for(Duration::from_secs(20), cond) {
        bail!("{what}: timed out; status {:?}", node.status());
    }
    Ok(())
}

fn start_engines(cfg: &str, dir: &Path) -> Result<Vec<Node>> {
    let a_file = dir.join("node-a");
    let b_file = dir.join("node-b");
    // `*-noflush`: disk-flushes no, md-flushes no (a device with a power-safe write cache).
    let flushes = !cfg.ends_with("-noflush");
    if cfg.starts_with("standalone") {
        let a = Node::start(&NodeSpec {
            resource: "bench".into(),
            node: "alpha".into(),
            backing: a_file,
            protocol: Protocol::C,
            flushes,
            link: None,
        })?;
        a.admin(Admin::NewCurrentUuid { clear_bitmap: true })
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        a.admin(Admin::Primary { force: false }).map_err(|e| anyhow::anyhow!("{e}"))?;
        wait(&a, "Primary", |s| s.role == Role::Primary && s.disk == DiskState::UpToDate)?;
        return Ok(vec![a]);
    }
    let protocol = if cfg.starts_with("protoA") { Protocol::A } else { Protocol::C };
    let (pa, pb) = (free_port()?, free_port()?);
    let a = Node::start(&NodeSpec {
        resource: "bench".into(),
        node: "alpha".into(),
        backing: a_file,
        protocol,
        flushes,
        link: Some((pa, "beta".into(), pb)),
    })?;
    let b = Node::start(&NodeSpec {
        resource: "bench-peer".into(),
        node: "beta".into(),
        backing: b_file,
        protocol,
        flushes,
        link: Some((pb, "alpha".into(), pa)),
    })?;
    let e = |e: drbd_ublk::ctl::CtlError| anyhow::anyhow!("{e}");
    a.admin(Admin::Connect { discard_my_data: false }).map_err(e)?;
    b.admin(Admin::Connect { discard_my_data: false }).map_err(e)?;
    let connected =
        |s: &drbd_ublk::ctl::ResourceStatus| s.cstate == drbd_ublk::repl::ConnState::Connected;
    wait(&a, "connect", connected)?;
    wait(&b, "connect", connected)?;
    a.admin(Admin::NewCurrentUuid { clear_bitmap: true }).map_err(e)?;
    let both = |s: &drbd_ublk::ctl::ResourceStatus| {
        s.disk == DiskState::UpToDate && s.peer_disk == DiskState::UpToDate
    };
    wait(&a, "UpToDate", both)?;
    wait(&b, "UpToDate", both)?;
    a.admin(Admin::Primary { force: false }).map_err(e)?;
    wait(&a, "Primary", |s| s.role == Role::Primary)?;
    Ok(vec![a, b])
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cpu}, {cores} cores, kernel {}", kernel.trim())
}

fn main() -> Result<()> {
    let mut dir = PathBuf::from("/var/tmp/engine-bench");
    let mut size_mib = 256u64;
    let mut secs = 3.0f64;
    let mut patterns: Vec<Pattern> = PATTERNS.to_vec();
    let mut configs: Vec<String> = CONFIGS.iter().map(|s| s.to_string()).collect();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let v = args.get(i + 1).cloned();
        let need = || v.clone().with_context(|| format!("{} needs a value", args[i]));
        match args[i].as_str() {
            "--dir" => dir = PathBuf::from(need()?),
            "--size-mib" => size_mib = need()?.parse().context("--size-mib")?,
            "--secs" => secs = need()?.parse().context("--secs")?,
            "--patterns" => {
                let want = need()?;
                patterns = PATTERNS
                    .iter()
                    .copied()
                    .filter(|p| want.split(',').any(|w| w == p.name))
                    .collect();
                if patterns.is_empty() {
                    bail!("--patterns: none of {want:?} is known");
                }
            }
            "--configs" => {
                let want = need()?;
                configs = want.split(',').map(String::from).collect();
                if let Some(bad) = configs.iter().find(|c| !CONFIGS.contains(&c.as_str())) {
                    bail!("--configs: unknown {bad:?} (known: {CONFIGS:?})");
                }
            }
            "-h" | "--help" => {
                println!("engine-bench [--dir DIR] [--size-mib N] [--secs S] [--patterns LIST] [--configs LIST]");
                return Ok(());
            }
            other => bail!("unknown argument {other:?}"),
        }
        i += 2;
    }
    std::fs::create_dir_all(&dir)?;
    let bytes = size_mib << 20;
    // Engine files carry internal metadata at the end: a little larger.
    let md_extra = 8 << 20;
    for (f, b) in [
        ("raw-a", bytes),
        ("raw-b", bytes),
        ("node-a", bytes + md_extra),
        ("node-b", bytes + md_extra),
    ] {
        prepare(&dir.join(f), b).with_context(|| format!("prepare {f}"))?;
    }
    println!("machine: {}", machine());
    println!("files: {} ({} MiB each), {secs} s per run", dir.display(), size_mib);
    let rtt = tcp_rtt(20_000)?;
    println!("loopback TCP round trip: mean {:.1} us, p99 {} us", rtt.mean_us(), rtt.pct_us(0.99));
    let flush = raw_flush(&dir.join("raw-a"), 200, bytes)?;
    println!(
        "flush (fdatasync) after a 4 KiB write: mean {:.1} us, p99 {} us",
        flush.mean_us(),
        flush.pct_us(0.99)
    );
    let raw_files = [dir.join("raw-a"), dir.join("raw-b")];
    let mut results: Vec<(String, String, Res)> = Vec::new();
    for cfg in &configs {
        let nodes = if cfg.starts_with("raw") { Vec::new() } else { start_engines(cfg, &dir)? };
        for p in &patterns {
            let r = match cfg.as_str() {
                "raw1" => raw_run(&raw_files[..1], p, bytes, secs)?,
                "raw2" => raw_run(&raw_files, p, bytes, secs)?,
                "standalone-blocking" => engine_run(&nodes[0], p, secs)?,
                _ => engine_queue_run(&nodes[0], p, secs)?,
            };
            eprintln!(
                "{:<12} {:<11} {:>9.0} IOPS {:>8.1} MB/s mean {:>8.1} us p99 {:>6} us",
                p.name,
                cfg,
                r.iops(),
                r.mbs(),
                r.hist.mean_us(),
                r.hist.pct_us(0.99)
            );
            results.push((p.name.to_string(), cfg.clone(), r));
        }
        drop(nodes);
    }
    println!();
    println!("| pattern | config | IOPS | MB/s | mean us | p99 us | CPU us/write | allocs/write |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    for p in &patterns {
        for (pn, c, r) in results.iter().filter(|(pn, _, _)| pn == p.name) {
            println!(
                "| {pn} | {c} | {:.0} | {:.1} | {:.1} | {} | {:.1} | {:.2} |",
                r.iops(),
                r.mbs(),
                r.hist.mean_us(),
                r.hist.pct_us(0.99),
                r.cpu_us_per_op(),
                r.allocs as f64 / r.ops.max(1) as f64
            );
        }
    }
    let get =
        |p: &str, c: &str| results.iter().find(|(pn, cn, _)| pn == p && cn == c).map(|x| &x.2);
    println!();
    println!(
        "| pattern | standalone / raw1 | protoA / raw2 | protoC / raw2 | standalone-noflush / raw1 | protoC-noflush / raw2 |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for p in &patterns {
        let ratio = |a: &str, b: &str| match (get(p.name, a), get(p.name, b)) {
            (Some(x), Some(y)) if y.iops() > 0.0 => format!("{:.2}", x.iops() / y.iops()),
            _ => "-".into(),
        };
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            p.name,
            ratio("standalone", "raw1"),
            ratio("protoA", "raw2"),
            ratio("protoC", "raw2"),
            ratio("standalone-noflush", "raw1"),
            ratio("protoC-noflush", "raw2")
        );
    }
    // QD1 protocol C's mean latency above a raw write plus the loopback round trip.
    let over_rtt = |label: &str, c: &Res, r: &Res| {
        let over = c.hist.mean_us() - (r.hist.mean_us() + rtt.mean_us());
        println!();
        println!(
            "{label} mean latency {:.1} us - (raw QD1 write {:.1} us + loopback RTT {:.1} us) = {:.1} us",
            c.hist.mean_us(),
            r.hist.mean_us(),
            rtt.mean_us(),
            over
        );
        over
    };
    if let (Some(c), Some(r)) = (get("rand4k-qd1", "protoC-noflush"), get("rand4k-qd1", "raw1")) {
        over_rtt("QD1 protocol C without flushes:", c, r);
    }
    if let (Some(c), Some(r)) = (get("rand4k-qd1", "protoC"), get("rand4k-qd1", "raw1")) {
        let over = over_rtt("QD1 protocol C", c, r);
        println!(
            "  the same minus one peer flush per write (barrier → flush, mean {:.1} us): {:.1} us",
            flush.mean_us(),
            over - flush.mean_us()
        );
    }
    Ok(())
}
