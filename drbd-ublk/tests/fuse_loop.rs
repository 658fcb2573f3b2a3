//! Real-kernel tests of the loop-over-FUSE front-end (root): ext4 on the device, flushes,
//! read-only (Secondary) mode, refusing to stop while mounted, backend errors, parallel I/O
//! and the stuck-backend watchdog. Every test builds its own backing file, run directory and
//! device root in a fresh temp dir; guards unmount and tear down also when a test fails.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use drbd_ublk::fuse::{
    BlockBackend, FileBackend, FileBackendOptions, FuseLoopDevice, FuseLoopOptions, LinkStyle,
};

const MIB: u64 = 1 << 20;

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn run(cmd: &str, args: &[&str]) -> Output {
    Command::new(cmd).args(args).output().unwrap_or_else(|e| panic!("{cmd}: {e}"))
}

fn run_ok(cmd: &str, args: &[&str]) -> String {
    let out = run(cmd, args);
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A temp dir for one test with its backing file, run dir, device root and ext4 mount point.
struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new(tag: &str, size: u64) -> Scratch {
        let dir = tempfile::Builder::new().prefix(&format!("drbd-fuse-{tag}-")).tempdir().unwrap();
        let f = std::fs::File::create(dir.path().join("backing.img")).unwrap();
        f.set_len(size).unwrap();
        std::fs::create_dir(dir.path().join("mnt")).unwrap();
        Scratch { dir }
    }
    fn backing(&self) -> PathBuf {
        self.dir.path().join("backing.img")
    }
    fn mnt(&self) -> PathBuf {
        self.dir.path().join("mnt")
    }
    fn opts(&self) -> FuseLoopOptions {
        FuseLoopOptions {
            run_dir: self.dir.path().join("run"),
            dev_root: self.dir.path().join("dev-drbd"),
            ..FuseLoopOptions::default()
        }
    }
    fn file_backend(&self) -> Arc<dyn BlockBackend> {
        Arc::new(FileBackend::open(&self.backing(), FileBackendOptions::default()).unwrap())
    }
}

/// Unmounts the ext4 mount point on drop (lazily if busy), so a failing test does not leave
/// the loop device held.
struct Mounted(PathBuf);

impl Mounted {
    fn mount(dev: &Path, at: &Path, extra: &[&str]) -> io::Result<Mounted> {
        let mut args: Vec<&str> = extra.to_vec();
        args.extend([dev.to_str().unwrap(), at.to_str().unwrap()]);
        let out = run("mount", &args);
        if !out.status.success() {
            return Err(io::Error::other(String::from_utf8_lossy(&out.stderr).into_owned()));
        }
        Ok(Mounted(at.to_path_buf()))
    }
    fn umount(self) {
        run_ok("umount", &[self.0.to_str().unwrap()]);
        std::mem::forget(self);
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let p = self.0.to_str().unwrap();
        if !run("umount", &[p]).status.success() {
            let _ = run("umount", &["-l", p]);
        }
    }
}

/// Waits up to 5 s for loop device `name` (`loopN`) to lose its backing file.
fn wait_unbound(name: &str) -> bool {
    let sys = format!("/sys/block/{name}/loop/backing_file");
    for _ in 0..250 {
        if !Path::new(&sys).exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn mkfs(dev: &Path) {
    run_ok("mkfs.ext4", &["-q", "-F", dev.to_str().unwrap()]);
}

fn fsck_clean(target: &Path) {
    let out = run("fsck.ext4", &["-f", "-n", target.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "fsck of {target:?} not clean: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn ext4_round_trip_flushes_and_backing_holds_the_fs() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let s = Scratch::new("ext4", 96 * MIB);
    let drbd0 = s.dir.path().join("drbd0");
    let opts = FuseLoopOptions { device_link: Some(drbd0.clone()), ..s.opts() };
    let dev = FuseLoopDevice::start("r0", 0, s.file_backend(), &opts).unwrap();
    let link = opts.dev_root.join("by-res/r0/0");
    assert_eq!(std::fs::read_link(&link).unwrap(), dev.device());
    assert_eq!(dev.links(), vec![link.clone(), drbd0.clone()]);
    assert_eq!(std::fs::read_link(&drbd0).unwrap(), dev.device());
    let losetup =
        run_ok("losetup", &["-l", "-n", "-O", "DIO,LOG-SEC", dev.device().to_str().unwrap()]);
    assert_eq!(losetup.split_whitespace().collect::<Vec<_>>(), ["1", "512"], "{losetup}");

    mkfs(&link);
    let after_mkfs = dev.stats();
    assert!(after_mkfs.writes > 0 && after_mkfs.bytes_written > 0, "{after_mkfs:?}");
    assert!(after_mkfs.discards + after_mkfs.write_zeroes > 0, "mkfs discards: {after_mkfs:?}");

    let m = Mounted::mount(&link, &s.mnt(), &[]).unwrap();
    let mnt = s.mnt();
    let big = mnt.join("big.bin");
    run_ok("dd", &["if=/dev/urandom", &format!("of={}", big.display()), "bs=1M", "count=24"]);
    run_ok("cp", &["-r", "/usr/share/doc/e2fsprogs", mnt.join("doc").to_str().unwrap()]);
    let flushes_before = dev.stats().flushes;
    run_ok("sync", &[]);
    let st = dev.stats();
    assert!(st.flushes > flushes_before, "sync must reach the backend as FSYNC: {st:?}");
    assert!(st.bytes_written >= 24 * MIB, "{st:?}");
    let sums = run_ok(
        "sh",
        &["-c", &format!("cd {} && find . -type f | sort | xargs md5sum", mnt.display())],
    );
    assert!(sums.contains("./big.bin"));
    m.umount();
    fsck_clean(dev.device());

    let m = Mounted::mount(&link, &s.mnt(), &[]).unwrap();
    let sums_file = s.dir.path().join("sums");
    std::fs::write(&sums_file, &sums).unwrap();
    run_ok(
        "sh",
        &["-c", &format!("cd {} && md5sum --quiet -c {}", mnt.display(), sums_file.display())],
    );
    assert!(dev.stats().reads > 0);
    m.umount();

    dev.stop(false).unwrap();
    assert!(std::fs::symlink_metadata(&link).is_err(), "by-res link removed");
    assert!(std::fs::symlink_metadata(&drbd0).is_err(), "device link removed");
    assert!(!opts.dev_root.join("by-res/r0").exists(), "per-resource directory removed");
    assert!(!opts.run_dir.join("fuse/r0/0").exists(), "mount point removed");
    fsck_clean(&s.backing());
}

#[test]
fn stop_while_mounted_is_refused_with_ebusy() {
    if !is_root() {
        return;
    }
    let s = Scratch::new("busy", 64 * MIB);
    let opts = FuseLoopOptions { link_style: LinkStyle::Implicit, ..s.opts() };
    let dev = FuseLoopDevice::start("busy", 0, s.file_backend(), &opts).unwrap();
    let link = opts.dev_root.join("by-res/busy");
    assert_eq!(std::fs::read_link(&link).unwrap(), dev.device());
    mkfs(dev.device());
    let m = Mounted::mount(dev.device(), &s.mnt(), &[]).unwrap();
    assert!(dev.in_use());
    let err = dev.stop(false).unwrap_err();
    assert_eq!(err.errno(), libc::EBUSY, "{err}");
    // Still fully working after the refusal.
    std::fs::write(s.mnt().join("after"), b"still here").unwrap();
    run_ok("sync", &[]);
    assert!(link.exists());
    m.umount();
    dev.stop(false).unwrap();
    assert!(std::fs::symlink_metadata(&link).is_err());
    fsck_clean(&s.backing());
}

#[test]
fn secondary_refuses_writes_and_demote_while_mounted() {
    if !is_root() {
        return;
    }
    let s = Scratch::new("ro", 64 * MIB);
    let opts = s.opts();
    let dev = FuseLoopDevice::start("ro", 1, s.file_backend(), &opts).unwrap();
    mkfs(dev.device());
    let m = Mounted::mount(dev.device(), &s.mnt(), &[]).unwrap();
    let err = dev.set_read_only(true, false).unwrap_err();
    assert_eq!(err.errno(), libc::EBUSY, "demote while mounted: {err}");
    assert!(!dev.is_read_only());
    m.umount();

    dev.set_read_only(true, false).unwrap();
    assert!(dev.is_read_only());
    let d = dev.device().to_str().unwrap();
    let out = run("dd", &["if=/dev/zero", &format!("of={d}"), "bs=4k", "count=1", "oflag=direct"]);
    assert!(!out.status.success(), "write to a Secondary must fail");
    // Another process opening the volume file for write gets EROFS, as DRBD gives it.
    let f = dev.file_path().to_str().unwrap().to_string();
    let out = run("dd", &["if=/dev/zero", &format!("of={f}"), "bs=4k", "count=1", "conv=notrunc"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("Read-only file system"), "{err}");
    assert!(dev.stats().refused_read_only >= 1);
    // Reads still work, and a read-write mount falls back to read-only.
    run_ok("dd", &[&format!("if={d}"), "of=/dev/null", "bs=64k", "count=16", "iflag=direct"]);
    let m = Mounted::mount(dev.device(), &s.mnt(), &[]).unwrap();
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    let line = mounts.lines().find(|l| l.contains(s.mnt().to_str().unwrap())).unwrap();
    assert!(line.contains(" ro,") || line.contains(" ro "), "{line}");
    m.umount();

    dev.set_read_only(false, false).unwrap();
    run_ok("dd", &["if=/dev/zero", &format!("of={d}"), "bs=4k", "count=1", "oflag=direct"]);
    dev.stop(false).unwrap();
}

/// A file backend that fails reads of one range with EIO, or blocks on it while `stuck`.
struct FaultyBackend {
    inner: FileBackend,
    bad: std::ops::Range<u64>,
    stuck: AtomicBool,
}

impl FaultyBackend {
    fn hits(&self, off: u64, len: usize) -> bool {
        off < self.bad.end && off + len as u64 > self.bad.start
    }
}

impl BlockBackend for FaultyBackend {
    fn size_bytes(&self) -> u64 {
        self.inner.size_bytes()
    }
    fn read_at(&self, buf: &mut [u8], off: u64) -> io::Result<()> {
        if self.hits(off, buf.len()) {
            // Bounded: a stuck request gives up after 20 s even if nobody aborts it.
            for _ in 0..2000 {
                if !self.stuck.load(Ordering::Relaxed) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            return Err(io::Error::from_raw_os_error(libc::EIO));
        }
        self.inner.read_at(buf, off)
    }
    fn write_at(&self, data: &[u8], off: u64) -> io::Result<()> {
        self.inner.write_at(data, off)
    }
    fn flush(&self) -> io::Result<()> {
        self.inner.flush()
    }
    fn discard(&self, off: u64, len: u64) -> io::Result<()> {
        self.inner.discard(off, len)
    }
    fn write_zeroes(&self, off: u64, len: u64) -> io::Result<()> {
        self.inner.write_zeroes(off, len)
    }
    fn writable(&self) -> bool {
        true
    }
}

#[test]
fn backend_eio_reaches_the_reader_and_the_daemon_keeps_serving() {
    if !is_root() {
        return;
    }
    let s = Scratch::new("eio", 64 * MIB);
    let inner = FileBackend::open(&s.backing(), FileBackendOptions::default()).unwrap();
    let backend =
        Arc::new(FaultyBackend { inner, bad: 8 * MIB..9 * MIB, stuck: AtomicBool::new(false) });
    let dev = FuseLoopDevice::start("eio", 0, backend, &s.opts()).unwrap();
    let d = dev.device().to_str().unwrap().to_string();
    let out = run(
        "dd",
        &[&format!("if={d}"), "of=/dev/null", "bs=4k", "skip=2048", "count=1", "iflag=direct"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("Input/output error"), "{err}");
    assert!(dev.stats().errors >= 1);
    // Outside the bad range everything still works, reads and writes.
    run_ok("dd", &["if=/dev/urandom", &format!("of={d}"), "bs=64k", "count=16", "oflag=direct"]);
    run_ok("dd", &[&format!("if={d}"), "of=/dev/null", "bs=64k", "count=16", "iflag=direct"]);
    // An explicit abort fails all I/O from then on, without hanging.
    dev.abort();
    assert!(dev.is_aborted());
    let out = run(
        "timeout",
        &["15", "dd", &format!("if={d}"), "of=/dev/null", "bs=4k", "count=1", "iflag=direct"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    dev.stop(false).unwrap();
}

#[test]
fn watchdog_aborts_a_stuck_backend_with_eio() {
    if !is_root() {
        return;
    }
    let s = Scratch::new("stuck", 64 * MIB);
    let inner = FileBackend::open(&s.backing(), FileBackendOptions::default()).unwrap();
    let backend =
        Arc::new(FaultyBackend { inner, bad: 8 * MIB..9 * MIB, stuck: AtomicBool::new(true) });
    let opts = FuseLoopOptions { io_timeout: Some(Duration::from_millis(500)), ..s.opts() };
    let dev = FuseLoopDevice::start("stuck", 0, backend.clone(), &opts).unwrap();
    let d = dev.device().to_str().unwrap().to_string();
    let out = run(
        "timeout",
        &[
            "15",
            "dd",
            &format!("if={d}"),
            "of=/dev/null",
            "bs=4k",
            "skip=2048",
            "count=1",
            "iflag=direct",
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "dd must fail with an I/O error, not time out: {err}");
    assert!(dev.is_aborted());
    backend.stuck.store(false, Ordering::Relaxed);
    dev.stop(true).unwrap();
    assert!(std::fs::symlink_metadata(opts.dev_root.join("by-res/stuck/0")).is_err());
}

#[test]
fn parallel_writers_verify_with_fio() {
    if !is_root() {
        return;
    }
    if run("sh", &["-c", "command -v fio"]).status.code() != Some(0) {
        eprintln!("skipped: fio not installed");
        return;
    }
    let s = Scratch::new("par", 64 * MIB);
    let dev = FuseLoopDevice::start("par", 0, s.file_backend(), &s.opts()).unwrap();
    let d = dev.device().to_str().unwrap().to_string();
    run_ok(
        "fio",
        &[
            "--name=par",
            &format!("--filename={d}"),
            "--ioengine=io_uring",
            "--direct=1",
            "--rw=randwrite",
            "--bs=4k",
            "--iodepth=16",
            "--numjobs=4",
            "--size=8M",
            "--offset_increment=16M",
            "--verify=crc32c",
            "--verify_fatal=1",
            "--do_verify=1",
            "--verify_state_save=0",
        ],
    );
    let st = dev.stats();
    assert!(st.writes >= 4 * 2048 && st.reads >= 4 * 2048 / 256, "{st:?}");
    dev.stop(false).unwrap();
}

#[test]
fn fua_discard_and_zeroout_reach_the_backend() {
    if !is_root() {
        return;
    }
    let s = Scratch::new("ops", 64 * MIB);
    let dev = FuseLoopDevice::start("ops", 0, s.file_backend(), &s.opts()).unwrap();
    let d = dev.device().to_str().unwrap().to_string();
    // FUA (O_DSYNC on the block device) arrives as WRITE followed by FSYNC.
    let before = dev.stats();
    run_ok(
        "dd",
        &["if=/dev/urandom", &format!("of={d}"), "bs=4k", "count=1", "oflag=direct,dsync"],
    );
    let after = dev.stats();
    assert_eq!(after.writes, before.writes + 1, "{after:?}");
    assert!(after.flushes > before.flushes, "FUA must reach the backend as a flush: {after:?}");

    // Discard: the range reads back as zeroes.
    run_ok("dd", &["if=/dev/urandom", &format!("of={d}"), "bs=1M", "count=4", "oflag=direct"]);
    run_ok("blkdiscard", &["-o", "0", "-l", "1048576", &d]);
    assert!(dev.stats().discards > after.discards);
    // Write-zeroes with NOUNMAP (blkdiscard -z) arrives as ZERO_RANGE.
    run_ok("blkdiscard", &["-z", "-o", "1048576", "-l", "1048576", &d]);
    assert!(dev.stats().write_zeroes > after.write_zeroes + before.write_zeroes);
    let out = run("cmp", &["-n", "2097152", &d, "/dev/zero"]);
    assert!(out.status.success(), "discarded/zeroed range must read as zeroes");
    // The rest of what was written is intact (not all zero).
    let out = run(
        "sh",
        &[
            "-c",
            &format!(
                "dd if={d} bs=1M skip=2 count=2 iflag=direct status=none | cmp -s - /dev/zero"
            ),
        ],
    );
    assert!(!out.status.success(), "data outside the range must survive");
    dev.stop(false).unwrap();
}

#[test]
fn forced_stop_while_mounted_fails_io_instead_of_hanging() {
    if !is_root() {
        return;
    }
    let s = Scratch::new("force", 64 * MIB);
    let dev = FuseLoopDevice::start("force", 0, s.file_backend(), &s.opts()).unwrap();
    let loop_name = dev.device().file_name().unwrap().to_str().unwrap().to_string();
    mkfs(dev.device());
    let m = Mounted::mount(dev.device(), &s.mnt(), &[]).unwrap();
    dev.stop(true).unwrap();
    // The file system now gets I/O errors (and goes read-only); nothing blocks.
    let out = run(
        "timeout",
        &[
            "20",
            "sh",
            "-c",
            &format!("dd if=/dev/zero of={}/f bs=1M count=4 conv=fsync", s.mnt().display()),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    m.umount();
    // Last close detached the loop device.
    assert!(wait_unbound(&loop_name), "{loop_name} still bound");
}

#[test]
fn failed_start_leaves_nothing_behind() {
    if !is_root() {
        return;
    }
    let s = Scratch::new("rollback", 64 * MIB);
    // A regular file where the device link should go: never replaced, so start fails late,
    // after the mount and the loop device exist.
    let occupied = s.dir.path().join("drbd9");
    std::fs::write(&occupied, b"not a link").unwrap();
    let opts = FuseLoopOptions { device_link: Some(occupied.clone()), ..s.opts() };
    let err = FuseLoopDevice::start("rb", 0, s.file_backend(), &opts).unwrap_err();
    assert_eq!(err.errno(), libc::EEXIST, "{err}");
    assert_eq!(std::fs::read(&occupied).unwrap(), b"not a link");
    assert!(!opts.run_dir.join("fuse").exists(), "mount point left behind");
    assert!(std::fs::symlink_metadata(opts.dev_root.join("by-res/rb/0")).is_err());
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    assert!(!mounts.contains(opts.run_dir.to_str().unwrap()), "FUSE still mounted");
    let bound = run_ok("losetup", &["-j", s.backing().to_str().unwrap()]);
    assert!(bound.is_empty(), "{bound}");

    // A read-only backend cannot be started as Primary, and cannot be promoted.
    let ro = Arc::new(
        FileBackend::open(&s.backing(), FileBackendOptions { direct: true, read_only: true })
            .unwrap(),
    );
    let err = FuseLoopDevice::start("rb", 0, ro.clone(), &s.opts()).unwrap_err();
    assert_eq!(err.errno(), libc::EROFS);
    let opts = FuseLoopOptions { read_only: true, ..s.opts() };
    let dev = FuseLoopDevice::start("rb", 0, ro, &opts).unwrap();
    assert_eq!(dev.set_read_only(false, false).unwrap_err().errno(), libc::EROFS);
    assert_eq!(run_ok("blockdev", &["--getro", dev.device().to_str().unwrap()]).trim(), "1");
    dev.stop(false).unwrap();

    // A Secondary's read-only flag (BLKROSET) belongs to the minor and would outlive the
    // binding: the next user of the minor must not inherit it.
    let dev = FuseLoopDevice::start("rb", 0, s.file_backend(), &opts).unwrap();
    let loop_dev = dev.device().to_str().unwrap().to_string();
    assert_eq!(run_ok("blockdev", &["--getro", &loop_dev]).trim(), "1");
    dev.stop(false).unwrap();
    assert_eq!(run_ok("blockdev", &["--getro", &loop_dev]).trim(), "0");
}

/// Set (to a scratch dir) when the test binary re-executes itself as a daemon to be killed.
const CRASH_CHILD_ENV: &str = "DRBD_FUSE_CRASH_CHILD_DIR";

#[test]
fn crash_child_serves_until_killed() {
    // Only does something when re-executed by `daemon_crash_...` below.
    let Ok(dir) = std::env::var(CRASH_CHILD_ENV) else { return };
    let dir = PathBuf::from(dir);
    let backend =
        FileBackend::open(&dir.join("backing.img"), FileBackendOptions::default()).unwrap();
    let opts = FuseLoopOptions {
        run_dir: dir.join("run"),
        dev_root: dir.join("dev-drbd"),
        ..FuseLoopOptions::default()
    };
    let dev = FuseLoopDevice::start("crash", 0, Arc::new(backend), &opts).unwrap();
    std::fs::write(dir.join("ready"), dev.device().to_str().unwrap()).unwrap();
    // Bounded: the parent kills us long before this.
    std::thread::sleep(Duration::from_secs(60));
    std::process::abort();
}

/// Kills the child daemon if the test fails before it does.
struct ChildGuard(std::process::Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        for _ in 0..250 {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
fn daemon_crash_fails_io_and_a_restart_serves_the_volume_again() {
    if !is_root() {
        return;
    }
    let s = Scratch::new("crash", 64 * MIB);
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash_child_serves_until_killed", "--nocapture", "--test-threads=1"])
        .env(CRASH_CHILD_ENV, s.dir.path())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut child = ChildGuard(child);
    let ready = s.dir.path().join("ready");
    for _ in 0..400 {
        if ready.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let old_dev = PathBuf::from(std::fs::read_to_string(&ready).expect("child daemon started"));
    mkfs(&old_dev);
    let m = Mounted::mount(&old_dev, &s.mnt(), &[]).unwrap();
    let kept = s.mnt().join("kept.bin");
    run_ok("dd", &["if=/dev/urandom", &format!("of={}", kept.display()), "bs=1M", "count=2"]);
    run_ok("sync", &[]);
    let sum = run_ok("md5sum", &[kept.to_str().unwrap()]);

    child.0.kill().unwrap();
    // The daemon must die promptly; if it hangs in exit, abort its FUSE connection so the
    // machine is not left with a stuck mount, then fail.
    let child_mnt = s.dir.path().join("run/fuse/crash/0");
    let mut exited = false;
    for _ in 0..500 {
        if child.0.try_wait().unwrap().is_some() {
            exited = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    if !exited {
        let _ = run("umount", &["-f", child_mnt.to_str().unwrap()]);
        panic!("killed daemon did not exit within 10 s");
    }
    // I/O now fails at once (EIO), nothing hangs.
    let out = run(
        "timeout",
        &[
            "20",
            "sh",
            "-c",
            &format!("dd if=/dev/zero of={}/f bs=1M count=2 conv=fsync", s.mnt().display()),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    m.umount();
    // Autoclear: the loop device unbinds at its last close.
    let name = old_dev.file_name().unwrap().to_str().unwrap().to_string();
    assert!(wait_unbound(&name), "{old_dev:?} still bound after the daemon died");

    // A restarted daemon mounts over the dead mount point and serves the data again.
    let opts = s.opts();
    let dev = FuseLoopDevice::start("crash", 0, s.file_backend(), &opts).unwrap();
    let link = opts.dev_root.join("by-res/crash/0");
    assert_eq!(std::fs::read_link(&link).unwrap(), dev.device());
    let m = Mounted::mount(dev.device(), &s.mnt(), &[]).unwrap();
    assert_eq!(run_ok("md5sum", &[kept.to_str().unwrap()]), sum);
    m.umount();
    fsck_clean(dev.device());
    dev.stop(false).unwrap();
}
