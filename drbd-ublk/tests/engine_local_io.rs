//! The engine's local I/O path (io_uring, `O_DIRECT`) and `on-io-error detach`, on real
//! files, real tmpfs mounts and real TCP on loopback.
//!
//! The failing disk is a sparse backing file on a small tmpfs that is then filled up: writes
//! into its holes fail with ENOSPC, exactly as a device that starts failing.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use drbd_ublk::ctl::ResourceStatus;
use drbd_ublk::daemon::engine::{Admin, QueuedOp};
use drbd_ublk::daemon::testbed::{Node, NodeSpec};
use drbd_ublk::fuse::BlockBackend;
use drbd_ublk::repl::{ConnState, DiskState, Payload, Protocol, Role};

const WAIT: Duration = Duration::from_secs(20);

/// A scratch directory, optionally with a tmpfs mounted on it; removed on drop.
struct Scratch {
    dir: PathBuf,
    mounted: bool,
}

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("engio-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch { dir, mounted: false }
    }

    fn tmpfs(tag: &str, size: &str) -> Scratch {
        let mut s = Scratch::new(tag);
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "engio-tmpfs"])
            .arg(&s.dir)
            .status()
            .expect("run mount");
        assert!(st.success(), "mount tmpfs on {}", s.dir.display());
        s.mounted = true;
        s
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if self.mounted {
            let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn sparse(path: &Path, bytes: u64) {
    let f = File::create(path).expect("create backing file");
    f.set_len(bytes).expect("size backing file");
}

/// A scratch directory with two sparse backing files `a` and `b` of `bytes` each.
fn two_backings(tag: &str, bytes: u64) -> (Scratch, PathBuf, PathBuf) {
    let s = Scratch::new(tag);
    let (a, b) = (s.path("a"), s.path("b"));
    sparse(&a, bytes);
    sparse(&b, bytes);
    (s, a, b)
}

/// Fills the file system holding `dir` until it reports ENOSPC.
fn fill(dir: &Path) {
    let mut f = File::create(dir.join("filler")).expect("create filler");
    let chunk = vec![0x77u8; 64 << 10];
    loop {
        match f.write(&chunk) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
            Err(e) => panic!("fill: {e}"),
        }
    }
}

fn wait(node: &Node, what: &str, cond: impl Fn(&ResourceStatus) -> bool) {
    assert!(node.wait_for(WAIT, cond), "{what}: timed out; status {:?}", node.status());
}

fn spec(resource: &str, node: &str, backing: PathBuf) -> NodeSpec {
    NodeSpec {
        flushes: true,
        resource: resource.into(),
        node: node.into(),
        backing,
        protocol: Protocol::C,
        link: None,
    }
}

fn free_port() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr")
}

/// Two engines connected over loopback, both UpToDate, `a` Primary.
fn pair(a_backing: PathBuf, b_backing: PathBuf, resource: &str) -> (Node, Node) {
    pair_with(a_backing, b_backing, resource, Protocol::C)
}

fn pair_with(
    a_backing: PathBuf,
    b_backing: PathBuf,
    resource: &str,
    protocol: Protocol,
) -> (Node, Node) {
    let (pa, pb) = (free_port(), free_port());
    let mut sa = spec(resource, "alpha", a_backing);
    sa.link = Some((pa, "beta".into(), pb));
    sa.protocol = protocol;
    let mut sb = spec(&format!("{resource}-peer"), "beta", b_backing);
    sb.link = Some((pb, "alpha".into(), pa));
    sb.protocol = protocol;
    let a = Node::start(&sa).expect("start alpha");
    let b = Node::start(&sb).expect("start beta");
    a.admin(Admin::Connect { discard_my_data: false }).expect("connect alpha");
    b.admin(Admin::Connect { discard_my_data: false }).expect("connect beta");
    wait(&a, "connected", |s| s.cstate == ConnState::Connected);
    wait(&b, "connected", |s| s.cstate == ConnState::Connected);
    a.admin(Admin::NewCurrentUuid { clear_bitmap: true }).expect("new-current-uuid");
    let both =
        |s: &ResourceStatus| s.disk == DiskState::UpToDate && s.peer_disk == DiskState::UpToDate;
    wait(&a, "UpToDate", both);
    wait(&b, "UpToDate", both);
    a.admin(Admin::Primary { force: false }).expect("primary");
    wait(&a, "Primary", |s| s.role == Role::Primary);
    (a, b)
}

fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

/// Many writes in flight at once through the queued interface (4 KiB and 1 MiB, the latter
/// split over several ring buffers), a FUA write and a flush: everything lands at the right
/// place of the backing file and reads back through the engine.
#[test]
fn queued_writes_reach_the_backing_file() {
    let s = Scratch::new("queued");
    let backing = s.path("disk");
    sparse(&backing, 48 << 20);
    let node = Node::start(&spec("engio-q", "alpha", backing.clone())).expect("start");
    node.admin(Admin::NewCurrentUuid { clear_bitmap: true }).expect("new-current-uuid");
    node.admin(Admin::Primary { force: false }).expect("primary");
    let mut q = node.queue(32);
    let mut expect = Vec::new();
    for i in 0..32u64 {
        let off = (i * 37 % 512) * 4096 + (8 << 20);
        let data = pattern(i as u8, 4096);
        q.submit(
            i,
            QueuedOp::Write { sector: off / 512, data: Payload::from(data.clone()), fua: i == 5 },
        )
        .expect("submit");
        expect.push((off, data));
    }
    assert_eq!(q.in_flight(), 32);
    let mut seen = 0;
    while let Some(d) = q.wait().expect("wait") {
        d.result.expect("write ok");
        seen += 1;
    }
    assert_eq!(seen, 32);
    let big = pattern(200, 1 << 20);
    q.submit(
        99,
        QueuedOp::Write { sector: (20 << 20) / 512, data: Payload::from(big.clone()), fua: false },
    )
    .expect("submit 1 MiB");
    q.submit(100, QueuedOp::Flush).expect("flush");
    while let Some(d) = q.wait().expect("wait") {
        d.result.expect("ok");
    }
    expect.push((20 << 20, big));
    let backend = node.backend();
    let file = File::open(&backing).expect("open backing");
    for (off, data) in &expect {
        let mut via_engine = vec![0u8; data.len()];
        backend.read_at(&mut via_engine, *off).expect("read through the engine");
        assert!(via_engine == *data, "engine read at {off}");
        let mut on_disk = vec![0u8; data.len()];
        file.read_exact_at(&mut on_disk, *off).expect("read backing file");
        assert!(on_disk == *data, "backing file at {off}");
    }
    assert!(node.status().dw >= 32 * 4 + 1024, "dw counts written KiB: {:?}", node.status());
}

/// `on-io-error detach`: a Primary whose backing device starts failing drops it (Failed,
/// then Diskless); the write that hit the error succeeds through the peer, and reads are
/// served by the peer afterwards.
#[test]
fn write_error_detaches_and_the_peer_serves_io() {
    let failing = Scratch::tmpfs("fail", "16M");
    let good = Scratch::new("good");
    let a_backing = failing.path("disk");
    let b_backing = good.path("disk");
    // 12 MiB of data plus internal metadata; sparse: only the metadata is allocated.
    sparse(&a_backing, 13 << 20);
    sparse(&b_backing, 13 << 20);
    let (a, b) = pair(a_backing, b_backing, "engio-det");
    let backend = a.backend();
    let first = pattern(1, 64 << 10);
    backend.write_at(&first, 0).expect("write before the failure");
    // The tmpfs is full from now on: writes into holes of the backing file fail.
    fill(&failing.dir);
    let second = pattern(2, 1 << 20);
    backend.write_at(&second, 4 << 20).expect("a write the peer completes");
    wait(&a, "Diskless after the I/O error", |s| s.disk == DiskState::Diskless);
    let st = a.status();
    assert_eq!(st.cstate, ConnState::Connected);
    assert_eq!(st.role, Role::Primary);
    assert_eq!(st.peer_disk, DiskState::UpToDate);
    // Reads come from the peer: the block the local disk never stored reads back right.
    let mut buf = vec![0u8; second.len()];
    backend.read_at(&mut buf, 4 << 20).expect("read through the peer");
    assert!(buf == second, "data written at the failure reads back from the peer");
    let mut buf = vec![0u8; first.len()];
    backend.read_at(&mut buf, 0).expect("read");
    assert!(buf == first);
    // Writes go on, to the peer only.
    let third = pattern(3, 64 << 10);
    backend.write_at(&third, 8 << 20).expect("write while diskless");
    let mut buf = vec![0u8; third.len()];
    backend.read_at(&mut buf, 8 << 20).expect("read");
    assert!(buf == third);
    let peer_file = OpenOptions::new().read(true).open(good.path("disk")).expect("open peer disk");
    let mut on_peer = vec![0u8; third.len()];
    peer_file.read_exact_at(&mut on_peer, 8 << 20).expect("read peer backing file");
    assert!(on_peer == third, "the peer's backing file has the write");
    drop(b);
}

/// Without a peer the failed disk cannot be dropped by a Primary (nothing would serve the
/// data): it shows as Failed and requests fail with EIO instead of returning stale data.
#[test]
fn write_error_without_peer_leaves_the_disk_failed() {
    let failing = Scratch::tmpfs("alone", "16M");
    let backing = failing.path("disk");
    sparse(&backing, 13 << 20);
    let node = Node::start(&spec("engio-alone", "alpha", backing)).expect("start");
    node.admin(Admin::NewCurrentUuid { clear_bitmap: true }).expect("new-current-uuid");
    node.admin(Admin::Primary { force: false }).expect("primary");
    let backend = node.backend();
    backend.write_at(&pattern(1, 4096), 0).expect("write before the failure");
    fill(&failing.dir);
    let e = backend.write_at(&pattern(2, 4096), 1 << 20).expect_err("write on the full disk");
    assert_eq!(e.raw_os_error(), Some(libc::EIO));
    wait(&node, "Failed", |s| s.disk == DiskState::Failed);
    // The failed disk is not used any more, even where it still has the data.
    let mut buf = vec![0u8; 4096];
    let e = backend.read_at(&mut buf, 0).expect_err("read from a failed disk");
    assert_eq!(e.raw_os_error(), Some(libc::EIO));
    assert_eq!(node.status().disk, DiskState::Failed);
}

/// Protocol A completes writes ahead of the peer, but only as far as the send backlog
/// allows (DRBD: as far as the socket's send buffer): while the peer does not read,
/// completions stop after a bounded amount, and go on when it reads again.
#[test]
fn protocol_a_completions_wait_for_the_send_backlog() {
    let (_s, a_path, b_path) = two_backings("proto-a-backlog", 80 << 20);
    let (a, b) = pair_with(a_path, b_path, "engio-pa", Protocol::A);

    const W: u64 = 64 << 10;
    let stall = Duration::from_secs(3);
    b.stall(stall);
    #[allow(clippy::disallowed_methods)]
    let t0 = std::time::Instant::now();
    let mut q = a.queue(8);
    let (mut tag, mut done) = (0u64, 0u64);
    let data = Payload::from(pattern(7, W as usize));
    while t0.elapsed() < Duration::from_millis(1500) {
        while q.in_flight() < 8 {
            let sector = (tag % 1024) * W / 512;
            q.submit(tag, QueuedOp::Write { sector, data: Payload::clone(&data), fua: false })
                .expect("submit");
            tag += 1;
        }
        match q.try_wait() {
            Some(d) => {
                d.result.expect("write ok");
                done += 1;
            }
            None => std::thread::sleep(Duration::from_millis(1)),
        }
    }
    // The peer's receive queue (256 messages), both socket buffers and our own backlog
    // limit hold a few tens of MiB; the local disk alone would complete far more.
    assert!(done * W < 96 << 20, "{} MiB completed while the peer read nothing", (done * W) >> 20);
    while let Some(d) = q.wait().expect("wait") {
        d.result.expect("write ok");
        done += 1;
    }
    assert!(t0.elapsed() >= stall - Duration::from_millis(500) || done == tag);
    assert_eq!(done, tag, "every write completed once the peer read again");
    assert_eq!(a.status().cstate, ConnState::Connected);
}

/// Rounds of the engine's own thread allowed for `elapsed` of work when requests do not pass
/// through it: its clock (every 50 ms) and a few wake-ups around it.
fn thread_rounds_allowed(elapsed: Duration) -> u64 {
    8 + 2 * (elapsed.as_millis() as u64 / 50 + 1)
}

/// A request is carried out by the thread that submits it and completed by the same thread
/// when it waits (it reaps the ring itself): the engine's own thread is not involved, with
/// the queued and with the blocking interface, standalone and under protocol C (where the
/// peer's acknowledgement is handled by the connection's reader). On the peer, the
/// connection's reader writes the received data and reaps the ring itself too.
#[test]
fn requests_complete_without_the_engine_thread() {
    let (_s, a_path, b_path) = two_backings("inline", 48 << 20);
    const N: u64 = 300;
    let run = |node: &Node, peer: Option<&Node>| {
        let before = node.engine_thread_rounds();
        let peer_before = peer.map(|p| p.engine_thread_rounds());
        #[allow(clippy::disallowed_methods)]
        let t0 = std::time::Instant::now();
        let mut q = node.queue(1);
        let backend = node.backend();
        for i in 0..N {
            let data = pattern(i as u8, 4096);
            let off = (i * 7919 % 2048) * 4096;
            if i % 2 == 0 {
                q.submit(i, QueuedOp::Write { sector: off / 512, data: data.into(), fua: false })
                    .expect("submit");
                q.wait().expect("wait").expect("in flight").result.expect("write ok");
            } else {
                backend.write_at(&data, off).expect("write");
            }
        }
        let rounds = node.engine_thread_rounds() - before;
        let allowed = thread_rounds_allowed(t0.elapsed());
        assert!(rounds <= allowed, "{rounds} rounds of the engine thread for {N} writes");
        if let (Some(p), Some(b)) = (peer, peer_before) {
            let rounds = p.engine_thread_rounds() - b;
            assert!(rounds <= allowed, "{rounds} rounds of the peer's engine thread");
        }
    };
    let node = Node::start(&spec("engio-in", "alpha", a_path.clone())).expect("start");
    node.admin(Admin::NewCurrentUuid { clear_bitmap: true }).expect("new-current-uuid");
    node.admin(Admin::Primary { force: false }).expect("primary");
    run(&node, None);
    drop(node);
    let (a, b) = pair(a_path, b_path, "engio-inc");
    run(&a, Some(&b));
}

/// Blocking front-end threads and a queue use one engine at the same time, standalone and
/// replicated: every write lands, on both replicas, and reads back.
#[test]
fn many_threads_share_the_engine() {
    let (_s, a_path, b_path) = two_backings("threads", 48 << 20);
    const THREADS: u64 = 6;
    const PER: u64 = 60;
    let block = |t: u64, i: u64| ((t * PER + i) * 3 % (THREADS * PER + 7)) * 4096;
    let exercise = |node: &Node| {
        std::thread::scope(|sc| {
            for t in 0..THREADS {
                let backend = node.backend();
                sc.spawn(move || {
                    for i in 0..PER {
                        let data = pattern((t * 31 + i) as u8, 4096);
                        backend.write_at(&data, block(t, i)).expect("write");
                        let mut back = vec![0u8; 4096];
                        backend.read_at(&mut back, block(t, i)).expect("read");
                        assert!(back == data, "thread {t} block {i} reads back");
                    }
                });
            }
            let mut q = node.queue(16);
            sc.spawn(move || {
                let base = 32u64 << 20;
                for i in 0..200u64 {
                    if q.in_flight() == 16 {
                        q.wait().expect("wait").expect("one").result.expect("ok");
                    }
                    let data = Payload::from(pattern(i as u8 ^ 0x5a, 4096));
                    let sector = (base + (i % 64) * 4096) / 512;
                    q.submit(i, QueuedOp::Write { sector, data, fua: false }).expect("submit");
                }
                while let Some(d) = q.wait().expect("wait") {
                    d.result.expect("ok");
                }
            });
        });
    };
    let check = |path: &Path| {
        let f = File::open(path).expect("open backing");
        for t in 0..THREADS {
            for i in 0..PER {
                let mut on_disk = vec![0u8; 4096];
                f.read_exact_at(&mut on_disk, block(t, i)).expect("read backing");
                assert!(on_disk == pattern((t * 31 + i) as u8, 4096), "{t}/{i} on disk");
            }
        }
        for i in 136..200u64 {
            let mut on_disk = vec![0u8; 4096];
            f.read_exact_at(&mut on_disk, (32 << 20) + (i % 64) * 4096).expect("read backing");
            assert!(on_disk == pattern(i as u8 ^ 0x5a, 4096), "queued write {i} on disk");
        }
    };
    let node = Node::start(&spec("engio-mt", "alpha", a_path.clone())).expect("start");
    node.admin(Admin::NewCurrentUuid { clear_bitmap: true }).expect("new-current-uuid");
    node.admin(Admin::Primary { force: false }).expect("primary");
    exercise(&node);
    check(&a_path);
    drop(node);
    let (a, b) = pair(a_path.clone(), b_path.clone(), "engio-mtc");
    exercise(&a);
    check(&a_path);
    check(&b_path);
    drop((a, b));
}

/// A request waiting for the peer when the engine stops is answered (it does not hang).
#[test]
fn stopping_answers_waiting_requests() {
    let (_s, a_path, b_path) = two_backings("stop-waiting", 48 << 20);
    let (mut a, b) = pair(a_path, b_path, "engio-stop");
    b.stall(Duration::from_secs(4));
    std::thread::sleep(Duration::from_millis(100));
    let backend = a.backend();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(backend.write_at(&pattern(3, 4096), 0));
    });
    std::thread::sleep(Duration::from_millis(300));
    assert!(rx.try_recv().is_err(), "the write waits for the stalled peer");
    a.stop();
    let r = rx.recv_timeout(Duration::from_secs(10)).expect("the waiting write was answered");
    // Completed locally when the link went (the block is marked out of sync) or failed.
    let _ = r;
    let after = a.backend().write_at(&pattern(4, 4096), 4096);
    assert!(after.is_err(), "a stopped engine refuses requests");
}
