//! Helpers of the drbd-ublkd end-to-end tests: temp dirs, mounts, daemons and drbdadm runs,
//! each undone on drop (also when a test fails).
// End-to-end tests wait on real time.
#![allow(clippy::disallowed_methods, dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const ADM: &str = env!("CARGO_BIN_EXE_drbdadm");
pub const DAEMON: &str = env!("CARGO_BIN_EXE_drbd-ublkd");
pub const OVERVIEW: &str = env!("CARGO_BIN_EXE_drbd-overview");

/// Temp directory, removed on drop (after everything inside is torn down).
pub struct Dir(pub PathBuf);
impl Drop for Dir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // Show the daemons' logs of a failed test.
            for l in ["daemon.log", "a.log", "b.log"] {
                if let Ok(t) = std::fs::read_to_string(self.0.join(l)) {
                    eprintln!("---- {l}\n{t}");
                }
            }
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A mounted file system, unmounted (lazily if needed) on drop.
pub struct Mount(pub PathBuf);
impl Drop for Mount {
    fn drop(&mut self) {
        let ok = Command::new("umount").arg(&self.0).status().is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
}

/// A running daemon, shut down (then killed) on drop.
pub struct Daemon {
    pub child: Child,
    pub env: Vec<(String, String)>,
}
impl Drop for Daemon {
    fn drop(&mut self) {
        let mut c = Command::new(DAEMON);
        c.arg("--shutdown").envs(self.env.iter().cloned());
        let _ = c.stdout(Stdio::null()).stderr(Stdio::null()).status();
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Node {
    pub dir: PathBuf,
    pub env: Vec<(String, String)>,
}

impl Node {
    pub fn adm(&self, args: &[&str]) -> (i32, String, String) {
        let conf = self.dir.join("drbd.conf");
        let o = Command::new(ADM)
            .arg("-c")
            .arg(&conf)
            .args(args)
            .envs(self.env.iter().cloned())
            .output()
            .expect("run drbdadm");
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }
    pub fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.adm(args);
        assert_eq!(code, 0, "drbdadm {args:?}: {err}");
        out
    }
}

pub fn sh(cmd: &str, args: &[&str]) -> String {
    let o = Command::new(cmd).args(args).output().expect(cmd);
    assert!(o.status.success(), "{cmd} {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// Waits up to `secs` for `f` to hold.
pub fn wait_for(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(secs) {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}

/// Waits for the control socket of a daemon to appear.
pub fn wait_socket(run_dir: &Path) {
    let sock = run_dir.join("ctl.sock");
    assert!(wait_for(10, || sock.exists()), "no control socket at {}", sock.display());
}

/// A sparse file of `bytes`.
pub fn backing_file(path: &Path, bytes: u64) {
    let f = std::fs::File::create(path).unwrap();
    f.set_len(bytes).unwrap();
}

/// Starts `drbd-ublkd` (optionally inside network namespace `netns`) with `env`.
pub fn start_daemon(
    conf: &Path,
    host: &str,
    netns: Option<&str>,
    env: &[(String, String)],
    log: &Path,
) -> Daemon {
    let log = std::fs::File::create(log).unwrap();
    let mut c = match netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, DAEMON]);
            c
        }
        None => Command::new(DAEMON),
    };
    c.arg("--config").arg(conf).arg("--hostname").arg(host);
    let child = c.envs(env.iter().cloned()).stdout(Stdio::null()).stderr(log).spawn().unwrap();
    Daemon { child, env: env.to_vec() }
}

/// Deterministic pseudo-random bytes (xorshift).
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}
