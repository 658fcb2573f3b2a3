//! Shared helpers of the executor tests: a runner with an isolated HA_RSCTMP, network
//! namespaces and loop devices that remove themselves on drop (also when a test fails).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use cluster_core::exec::{ExecConfig, ProcessRunner};

/// A runner whose agents keep their state files in `rsctmp`.
pub fn runner(rsctmp: &Path) -> ProcessRunner {
    let cfg =
        ExecConfig { rsctmp: rsctmp.to_path_buf(), kill_grace_ms: 500, ..ExecConfig::default() };
    ProcessRunner::new(cfg)
}

/// Runs a command, panicking with its output if it fails.
pub fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0]).args(&args[1..]).output().expect("spawn");
    assert!(
        out.status.success(),
        "{args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a command and ignores the result (cleanup paths).
pub fn sh_quiet(args: &[&str]) {
    let _ = Command::new(args[0]).args(&args[1..]).output();
}

/// A network namespace with a veth pair whose both ends live inside it; deleted on drop
/// together with every process still running in it.
pub struct Netns {
    /// Namespace name.
    pub name: String,
    /// The veth end carrying `addr`.
    pub dev: String,
}

impl Netns {
    /// Creates namespace `name` with veth `dev` (address `addr`, e.g. `10.213.91.1/24`).
    pub fn new(name: &str, dev: &str, addr: &str) -> Netns {
        sh_quiet(&["ip", "netns", "del", name]);
        sh(&["ip", "netns", "add", name]);
        let ns = Netns { name: name.to_string(), dev: dev.to_string() };
        let peer = format!("{dev}p");
        sh(&["ip", "-n", name, "link", "add", dev, "type", "veth", "peer", "name", &peer]);
        sh(&["ip", "-n", name, "addr", "add", addr, "dev", dev]);
        for d in [dev, peer.as_str(), "lo"] {
            sh(&["ip", "-n", name, "link", "set", d, "up"]);
        }
        ns
    }

    /// `ip -o addr show` inside the namespace.
    pub fn addrs(&self) -> String {
        sh(&["ip", "-n", &self.name, "-o", "addr", "show"])
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Ok(out) = Command::new("ip").args(["netns", "pids", &self.name]).output() {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                sh_quiet(&["kill", "-KILL", pid]);
            }
        }
        sh_quiet(&["ip", "netns", "del", &self.name]);
    }
}

/// An ext4 image on a loop device, detached (and unmounted) on drop.
pub struct LoopDev {
    /// `/dev/loopN`.
    pub dev: String,
    /// Where the test mounts it (unmounted on drop if still mounted).
    pub mountpoint: PathBuf,
}

impl LoopDev {
    /// Creates a `size_mb` ext4 image in `dir` and attaches it.
    pub fn ext4(dir: &Path, size_mb: u64, mountpoint: PathBuf) -> LoopDev {
        let img = dir.join("rexec-fs.img");
        let f = std::fs::File::create(&img).expect("image");
        f.set_len(size_mb << 20).expect("size");
        sh(&["mkfs.ext4", "-q", "-F", img.to_str().unwrap()]);
        let dev = sh(&["losetup", "-f", "--show", img.to_str().unwrap()]).trim().to_string();
        let lo = LoopDev { dev, mountpoint };
        // A loop device keeps a read-only flag set with BLKROSET across attachments.
        if sh(&["blockdev", "--getro", &lo.dev]).trim() == "1" {
            sh(&["blockdev", "--setrw", &lo.dev]);
        }
        std::fs::create_dir_all(&lo.mountpoint).expect("mountpoint");
        lo
    }

    /// True when `mountpoint` is in /proc/mounts.
    pub fn mounted(&self) -> bool {
        let m = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
        let mp = self.mountpoint.display().to_string();
        m.lines().any(|l| l.split_whitespace().nth(1) == Some(mp.as_str()))
    }
}

impl Drop for LoopDev {
    fn drop(&mut self) {
        if self.mounted() {
            sh_quiet(&["umount", "-l", self.mountpoint.to_str().unwrap()]);
        }
        sh_quiet(&["losetup", "-d", &self.dev]);
    }
}

/// True if a process with this pid exists (and is not a zombie).
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'),
        Err(_) => false,
    }
}

/// Writes an executable shell script.
pub fn script(path: &Path, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, body).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Waits up to `ms` until `/proc/<pid>` disappears (zombies reaped); returns whether it did.
pub fn wait_gone(pid: u32, ms: u64) -> bool {
    for _ in 0..ms / 10 {
        if !Path::new(&format!("/proc/{pid}")).exists() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    false
}
