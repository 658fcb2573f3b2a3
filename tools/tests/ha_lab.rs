//! The whole HA lab (walkthrough Part 3, steps 28–34) on real kernels: two nodes, each a
//! network + mount + UTS namespace, running corosync, `clusterd` and `drbd-ublkd`; the
//! replicated resource `wwwdata` as the promotable clone `WebDataClone` (`ocf:linbit:drbd`,
//! which is our agent inside the nodes), `WebFS` (Debian's `ocf:heartbeat:Filesystem` on
//! `/dev/drbd/by-res/wwwdata`), `ClusterIP` (`IPaddr2`) and `WebSite` (Debian's
//! `ocf:heartbeat:apache`), configured with the walkthrough's own crm commands through node 1's
//! CIB socket. Then the active node is killed hard and everything comes up on the other one,
//! with an fsynced file intact. Finally the killed node boots again (fresh /run, only its own
//! address): it waits for its peer instead of taking the DC role alone, rejoins, and its DRBD
//! resyncs as the only Secondary (no split brain).
//!
//! # A node
//! A holder process per node (`ip netns exec halN unshare --mount --uts ... sleep`) owns the
//! node's namespaces; every process of the node joins them with `nsenter -m -u -n`. Inside a
//! node: host name `halN` (so corosync's node name, `uname -n` for DRBD and the CIB's node
//! name agree), `/run` bind-mounted from `$tmp/nN/run` (sockets, agent state), a private tmpfs
//! on `/dev/drbd` (the by-res links of this node only) and on `/var/www` (with an empty
//! `html` mount point), the test's `drbd.conf` / `drbd.d` over `/etc`, the node's Apache
//! configuration over `/etc/apache2/apache2.conf` (so the walkthrough's Debian path works),
//! and our agent binary over `/usr/lib/ocf/resource.d/linbit/drbd`. Nothing outside the
//! namespaces changes except an empty `/dev/drbd` directory (the mount point), removed again.
//!
//! # Killing a node
//! Every process whose mount namespace is the node's is sent SIGKILL (the holder too): corosync,
//! clusterd, drbd-ublkd, Apache, agents. With the last process the mount namespace goes away,
//! the ext4 mount and the FUSE mount with it, and the loop device (bound with autoclear) is
//! released; the test checks that the loop device is unbound. Its link is then taken down: the
//! dead machine's addresses (the floating one included) answer nobody.
//!
//! Needs root, corosync, resource-agents, apache2, curl, /dev/fuse and the agent binary
//! `drbd-ublk-ocf` next to the tools (built by `cargo build --workspace`); skips otherwise.

// Real processes and real corosync: wall-clock timeouts are the point here.
#![allow(clippy::disallowed_methods)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

#[path = "../../cluster-core/tests/support/netns_lab.rs"]
mod netns_lab;
use netns_lab::quiet;

const PREFIX: &str = "hal";
const SUBNET: &str = "10.213.180";
const VIP: &str = "10.213.180.100";
const CLIENT: &str = "10.213.180.254";
const OCF: &str = "/usr/lib/ocf/resource.d";
const LINBIT: &str = "/usr/lib/ocf/resource.d/linbit/drbd";
const PAGE: &str = "<html><body>halab: served from the replicated file system</body></html>\n";

fn bin(name: &str) -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_clusterd")).with_file_name(name)
}

fn skip_reason() -> Option<String> {
    if !netns_lab::is_root() {
        return Some("needs root".into());
    }
    for t in ["corosync", "corosync-cmapctl", "apache2", "curl", "nsenter", "unshare"] {
        if !quiet("sh", &["-c", &format!("command -v {t}")]) {
            return Some(format!("{t} is not installed"));
        }
    }
    for a in ["heartbeat/Filesystem", "heartbeat/IPaddr2", "heartbeat/apache"] {
        if !Path::new(OCF).join(a).exists() {
            return Some(format!("resource-agents is not installed ({a} missing)"));
        }
    }
    if !Path::new(LINBIT).exists() {
        return Some(format!("{LINBIT} missing (the mount point for our agent)"));
    }
    if !Path::new("/etc/drbd.conf").exists() || !Path::new("/etc/drbd.d").is_dir() {
        return Some("/etc/drbd.conf or /etc/drbd.d missing (bind-mount targets)".into());
    }
    if !Path::new("/etc/apache2/apache2.conf").exists() {
        return Some("/etc/apache2/apache2.conf missing".into());
    }
    if !Path::new("/dev/fuse").exists() {
        return Some("no /dev/fuse".into());
    }
    if !bin("drbd-ublk-ocf").exists() {
        return Some("drbd-ublk-ocf not built (cargo build -p agents)".into());
    }
    None
}

fn apache_conf(nd: &Path, i: usize) -> String {
    let d = nd.join("apache");
    let d = d.display();
    let mut c = String::new();
    for m in ["mpm_prefork", "authz_core", "authz_host", "status", "dir"] {
        c.push_str(&format!("LoadModule {m}_module /usr/lib/apache2/modules/mod_{m}.so\n"));
    }
    c.push_str(&format!(
        "ServerRoot \"{d}\"\nServerName {PREFIX}{i}\nListen 80\nPidFile {d}/apache.pid\n\
         DefaultRuntimeDir {d}\nErrorLog {d}/error.log\nUser www-data\nGroup www-data\n\
         StartServers 1\nMinSpareServers 1\nMaxSpareServers 2\n\
         DocumentRoot \"/var/www/html\"\nDirectoryIndex index.html\n\
         <Directory \"/var/www/html\">\n  Require all granted\n</Directory>\n\
         <Location /server-status>\n  SetHandler server-status\n  Require local\n</Location>\n"
    ));
    c
}

struct Lab {
    dir: PathBuf,
    holders: Vec<Option<Child>>,
    holder_pids: Vec<u32>,
    daemons: Vec<Child>,
    /// Corosync pids: their libqb files in /dev/shm are removed at the end (a killed corosync
    /// leaves them behind).
    corosyncs: Vec<u32>,
    made_dev_drbd: bool,
}

impl Lab {
    fn ns(i: usize) -> String {
        format!("{PREFIX}{i}")
    }

    fn nd(&self, i: usize) -> PathBuf {
        self.dir.join(format!("n{i}"))
    }

    fn remove_namespaces() {
        for i in 1..=2 {
            quiet("ip", &["netns", "del", &Self::ns(i)]);
        }
        quiet("ip", &["netns", "del", &format!("{PREFIX}br")]);
    }

    fn new() -> Lab {
        let dir = std::env::temp_dir().join(format!("halab-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let made_dev_drbd = !Path::new("/dev/drbd").exists();
        let mut lab = Lab {
            dir,
            holders: vec![None, None],
            holder_pids: vec![0, 0],
            daemons: Vec::new(),
            corosyncs: Vec::new(),
            made_dev_drbd,
        };
        Self::remove_namespaces();
        let br = format!("{PREFIX}br");
        let nodes: Vec<String> = (1..=2).map(Self::ns).collect();
        netns_lab::build(&br, &nodes, SUBNET);
        // The client: an address on the bridge itself.
        netns_lab::must("ip", &["-n", &br, "addr", "add", &format!("{CLIENT}/24"), "dev", "br0"]);
        if made_dev_drbd {
            std::fs::create_dir_all("/dev/drbd").unwrap();
        }
        lab.write_files();
        for i in 1..=2 {
            lab.start_holder(i);
        }
        lab
    }

    fn write_files(&self) {
        let etc = self.dir.join("etc");
        std::fs::create_dir_all(etc.join("drbd.d")).unwrap();
        std::fs::write(
            etc.join("drbd.conf"),
            "include \"drbd.d/global_common.conf\";\ninclude \"drbd.d/*.res\";\n",
        )
        .unwrap();
        std::fs::write(
            etc.join("drbd.d/global_common.conf"),
            "global {\n  usage-count no;\n}\ncommon {\n  protocol C;\n  net {\n    \
             after-sb-0pri discard-zero-changes;\n    after-sb-1pri discard-secondary;\n    \
             after-sb-2pri disconnect;\n  }\n}\n",
        )
        .unwrap();
        let mut res = String::from("resource wwwdata {\n");
        for i in 1..=2 {
            res.push_str(&format!(
                "  on {PREFIX}{i} {{\n    device    /dev/drbd1;\n    disk      {};\n    \
                 address   {SUBNET}.{i}:7789;\n    meta-disk internal;\n  }}\n",
                self.nd(i).join("disk.img").display()
            ));
        }
        res.push_str("}\n");
        std::fs::write(etc.join("drbd.d/wwwdata.res"), res).unwrap();
        for i in 1..=2 {
            let nd = self.nd(i);
            for d in ["run/lock", "state", "cib", "apache"] {
                std::fs::create_dir_all(nd.join(d)).unwrap();
            }
            let f = std::fs::File::create(nd.join("disk.img")).unwrap();
            f.set_len(64 << 20).unwrap();
            std::fs::write(nd.join("apache2.conf"), apache_conf(&nd, i)).unwrap();
            std::fs::write(nd.join("corosync.conf"), self.corosync_conf(i)).unwrap();
        }
    }

    fn corosync_conf(&self, i: usize) -> String {
        let mut nodes = String::new();
        for j in 1..=2 {
            nodes.push_str(&format!(
                "  node {{\n    name: {PREFIX}{j}\n    nodeid: {j}\n    ring0_addr: {SUBNET}.{j}\n  }}\n"
            ));
        }
        format!(
            "totem {{\n  version: 2\n  cluster_name: {PREFIX}\n  transport: knet\n  \
             crypto_cipher: none\n  crypto_hash: none\n  token: 1000\n}}\n\
             nodelist {{\n{nodes}}}\n\
             quorum {{\n  provider: corosync_votequorum\n  two_node: 1\n}}\n\
             logging {{\n  to_stderr: yes\n  to_syslog: no\n}}\n\
             system {{\n  state_dir: {}\n}}\n",
            self.nd(i).join("state").display(),
        )
    }

    fn start_holder(&mut self, i: usize) {
        let nd = self.nd(i);
        let etc = self.dir.join("etc");
        let script = format!(
            "set -e\nhostname {PREFIX}{i}\nmount --bind '{run}' /run\n\
             mount -t tmpfs -o mode=755,size=1m halab-dev /dev/drbd\n\
             mount -t tmpfs -o mode=755,size=1m halab-www /var/www\nmkdir /var/www/html\n\
             mount --bind '{etc}/drbd.conf' /etc/drbd.conf\n\
             mount --bind '{etc}/drbd.d' /etc/drbd.d\n\
             mount --bind '{agent}' {LINBIT}\n\
             mount --bind '{apache}' /etc/apache2/apache2.conf\n\
             echo ready\nexec sleep 100000\n",
            run = nd.join("run").display(),
            etc = etc.display(),
            agent = bin("drbd-ublk-ocf").display(),
            apache = nd.join("apache2.conf").display(),
        );
        let mut child = Command::new("ip")
            .args(["netns", "exec", &Self::ns(i), "unshare", "--mount", "--uts"])
            .args(["--propagation", "private", "sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(nd.join("holder.log")).unwrap())
            .spawn()
            .expect("spawn holder");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(
            line.trim(),
            "ready",
            "node {i} setup failed: {}",
            std::fs::read_to_string(nd.join("holder.log")).unwrap_or_default()
        );
        self.holder_pids[i - 1] = child.id();
        self.holders[i - 1] = Some(child);
    }

    /// A command inside node `i`.
    fn cmd(&self, i: usize, prog: &str) -> Command {
        let mut c = Command::new("nsenter");
        c.args(["-t", &self.holder_pids[i - 1].to_string(), "-m", "-u", "-n", "--", prog]);
        c
    }

    fn on(&self, i: usize, prog: &str, args: &[&str]) -> Output {
        self.cmd(i, prog).args(args).stdin(Stdio::null()).output().expect("nsenter")
    }

    fn on_ok(&self, i: usize, prog: &str, args: &[&str]) -> String {
        let o = self.on(i, prog, args);
        assert!(
            o.status.success(),
            "[{PREFIX}{i}] {prog} {args:?}: {}{}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr),
            self.logs()
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn drbdadm(&self, i: usize, args: &[&str]) -> String {
        let o = self.on(i, bin("drbdadm").to_str().unwrap(), args);
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }

    fn spawn(&mut self, i: usize, prog: &str, args: &[&str], log: &str) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.nd(i).join(log))
            .unwrap();
        let child = self
            .cmd(i, prog)
            .args(args)
            .env("CLUSTERD_STATE_DIR", self.nd(i).join("cib"))
            .env_remove("CLUSTERD_RUN_DIR")
            .env_remove("DRBD_UBLK_RUN_DIR")
            .env_remove("DRBD_UBLK_DEV_ROOT")
            .env_remove("DRBD_UBLK_HOSTNAME")
            .env_remove("HA_RSCTMP")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn");
        self.daemons.push(child);
    }

    fn log(&self, i: usize, name: &str) -> String {
        std::fs::read_to_string(self.nd(i).join(name)).unwrap_or_default()
    }

    fn logs(&self) -> String {
        let mut s = String::new();
        for i in 1..=2 {
            for f in ["clusterd.log", "drbd.log", "apache/error.log"] {
                s.push_str(&format!("--- {PREFIX}{i} {f}:\n{}\n", self.log(i, f)));
            }
        }
        s
    }

    fn wait(&self, what: &str, secs: u64, mut f: impl FnMut() -> bool) -> Duration {
        let t0 = Instant::now();
        while !f() {
            if t0.elapsed() >= Duration::from_secs(secs) {
                let cib = self.tool(1, "cibadmin", &["-Q"], None);
                panic!(
                    "timed out waiting for {what}\n{}\n--- live CIB (node 1):\n{}",
                    self.logs(),
                    String::from_utf8_lossy(&cib.stdout)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!("[halab] {what} after {:?}", t0.elapsed());
        t0.elapsed()
    }

    /// A tool run in the test's namespace against node `i`'s live CIB.
    fn tool(&self, i: usize, tool: &str, args: &[&str], stdin: Option<&str>) -> Output {
        let mut c = Command::new(bin(tool));
        c.args(args)
            .env_remove("CIB_file")
            .env_remove("CIB_shadow")
            .env("CIB_shadow_dir", self.dir.join("shadow"))
            .env("CLUSTERD_RUN_DIR", self.nd(i).join("run/clusterd"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().expect("spawn tool");
        let mut input = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            input.write_all(s.as_bytes()).unwrap();
        }
        drop(input);
        child.wait_with_output().unwrap()
    }

    fn crm(&self, args: &[&str], stdin: Option<&str>) -> String {
        let o = self.tool(1, "crm", args, stdin);
        let out =
            format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        eprintln!("[halab] crm {}\n{out}", args.join(" "));
        assert!(o.status.success(), "crm {args:?}: {out}\n{}", self.logs());
        out
    }

    /// Pids whose mount namespace is node `i`'s.
    fn node_pids(&self, i: usize) -> Vec<u32> {
        let holder = self.holder_pids[i - 1];
        let Ok(ns) = std::fs::read_link(format!("/proc/{holder}/ns/mnt")) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if let Ok(rd) = std::fs::read_dir("/proc") {
            for e in rd.flatten() {
                let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                    continue;
                };
                if std::fs::read_link(e.path().join("ns/mnt")).ok().as_ref() == Some(&ns) {
                    out.push(pid);
                }
            }
        }
        out
    }

    /// SIGKILL to every process of node `i` (holder last), until none is left.
    fn kill_node(&mut self, i: usize) {
        for _ in 0..50 {
            let holder = self.holder_pids[i - 1];
            let pids: Vec<u32> = self.node_pids(i).into_iter().filter(|p| *p != holder).collect();
            if pids.is_empty() {
                break;
            }
            for p in pids {
                quiet("kill", &["-KILL", &p.to_string()]);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // The machine is off: its addresses answer nobody any more.
        quiet("ip", &["-n", &Self::ns(i), "link", "set", "eth0", "down"]);
        if let Some(mut h) = self.holders[i - 1].take() {
            let _ = h.kill();
            let _ = h.wait();
        }
        // Reap our own children of that node (and every exited one).
        for c in &mut self.daemons {
            if let Ok(None) = c.try_wait() {
                if std::fs::read_link(format!("/proc/{}/ns/mnt", c.id())).is_err() {
                    let _ = c.wait();
                }
            }
        }
    }

    /// Powers node `i` on again: link up, a new holder, drbd-ublkd, corosync and clusterd.
    fn restart_node(&mut self, i: usize) {
        // A rebooted machine has only its own address (the floating one went with the crash).
        quiet("ip", &["-n", &Self::ns(i), "addr", "flush", "dev", "eth0"]);
        netns_lab::must(
            "ip",
            &["-n", &Self::ns(i), "addr", "add", &format!("{SUBNET}.{i}/24"), "dev", "eth0"],
        );
        quiet("ip", &["-n", &Self::ns(i), "link", "set", "eth0", "up"]);
        // /run is a tmpfs on a real machine: nothing in it survives the reboot.
        let run = self.nd(i).join("run");
        let _ = std::fs::remove_dir_all(&run);
        std::fs::create_dir_all(run.join("lock")).unwrap();
        self.start_holder(i);
        self.spawn(i, bin("drbd-ublkd").to_str().unwrap(), &["--foreground"], "drbd.log");
        let conf = self.nd(i).join("corosync.conf");
        self.spawn(i, "corosync", &["-f", "-c", conf.to_str().unwrap()], "corosync.log");
        let pid = self.daemons.last().unwrap().id();
        self.corosyncs.push(pid);
        self.wait("corosync answering after the restart", 20, || {
            self.on(i, "corosync-cmapctl", &["-g", "runtime.votequorum.this_node_id"])
                .status
                .success()
        });
        self.spawn(i, env!("CARGO_BIN_EXE_clusterd"), &[], "clusterd.log");
    }

    fn vip_on(&self) -> Vec<usize> {
        // A killed node keeps its addresses in its (dead) namespace: only live nodes count.
        (1..=2)
            .filter(|i| self.holders[i - 1].is_some())
            .filter(|i| {
                let o = Command::new("ip")
                    .args(["-n", &Self::ns(*i), "-o", "addr", "show", "dev", "eth0"])
                    .output()
                    .expect("ip");
                String::from_utf8_lossy(&o.stdout).contains(&format!(" {VIP}/"))
            })
            .collect()
    }

    fn mounted(&self, i: usize) -> bool {
        self.holders[i - 1].is_some()
            && self
                .on(i, "findmnt", &["-n", "-o", "FSTYPE", "/var/www/html"])
                .stdout
                .starts_with(b"ext4")
    }

    fn role(&self, i: usize) -> String {
        self.drbdadm(i, &["role", "wwwdata"])
    }

    fn get(&self, path: &str) -> Option<String> {
        let o = Command::new("ip")
            .args(["netns", "exec", &format!("{PREFIX}br"), "curl", "-s", "-f", "-m", "2"])
            .arg(format!("http://{VIP}{path}"))
            .output()
            .ok()?;
        o.status.success().then(|| String::from_utf8_lossy(&o.stdout).into_owned())
    }

    fn apache_running(&self, i: usize) -> bool {
        let pid = std::fs::read_to_string(self.nd(i).join("apache/apache.pid")).unwrap_or_default();
        let pid = pid.trim();
        !pid.is_empty() && self.node_pids(i).iter().any(|p| p.to_string() == pid)
    }

    fn loop_of(&self, i: usize) -> String {
        let o = self.on_ok(i, "readlink", &["-f", "/dev/drbd/by-res/wwwdata"]);
        o.trim().trim_start_matches("/dev/").to_string()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for i in 1..=2 {
            self.kill_node(i);
        }
        for c in &mut self.daemons {
            let _ = c.kill();
            let _ = c.wait();
        }
        Self::remove_namespaces();
        // libqb's per-connection directories and blackbox files of the killed corosyncs.
        if let Ok(rd) = std::fs::read_dir("/dev/shm") {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if self.corosyncs.iter().any(|p| {
                    name.starts_with(&format!("qb-{p}-"))
                        || name.starts_with(&format!("qb-corosync-{p}-"))
                }) {
                    let p = e.path();
                    let _ = if p.is_dir() {
                        std::fs::remove_dir_all(&p)
                    } else {
                        std::fs::remove_file(&p)
                    };
                }
            }
        }
        if self.made_dev_drbd {
            let _ = std::fs::remove_dir("/dev/drbd");
        }
        // Give autoclear loop devices a moment to let go of the FUSE files.
        std::thread::sleep(Duration::from_millis(200));
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn ha_apache_on_drbd_fails_over_when_the_active_node_dies() {
    if let Some(why) = skip_reason() {
        println!("SKIP ha_apache_on_drbd_fails_over_when_the_active_node_dies: {why}");
        return;
    }
    let t_start = Instant::now();
    let mut lab = Lab::new();
    let drbdadm = bin("drbdadm");
    let drbdadm = drbdadm.to_str().unwrap();

    // Part 2 as far as Part 3 needs it: metadata, daemons, up, the initial sync from node 1,
    // ext4 with the page on it, node 1 Secondary again; the resource stays up and connected
    // (as the walkthrough leaves it) and the cluster takes it over.
    for i in 1..=2 {
        assert_eq!(lab.on_ok(i, "uname", &["-n"]).trim(), format!("{PREFIX}{i}"));
        lab.on_ok(i, drbdadm, &["create-md", "wwwdata"]);
        lab.spawn(i, bin("drbd-ublkd").to_str().unwrap(), &["--foreground"], "drbd.log");
    }
    lab.wait("drbd-ublkd sockets", 20, || {
        (1..=2).all(|i| lab.nd(i).join("run/drbd-ublk/ctl.sock").exists())
    });
    for i in 1..=2 {
        lab.on_ok(i, drbdadm, &["up", "wwwdata"]);
    }
    lab.wait("connected", 30, || lab.drbdadm(1, &["cstate", "wwwdata"]) == "Connected");
    lab.on_ok(1, drbdadm, &["primary", "--force", "wwwdata"]);
    lab.on_ok(1, "mkfs.ext4", &["-q", "-F", "/dev/drbd/by-res/wwwdata"]);
    lab.on_ok(1, "mount", &["/dev/drbd/by-res/wwwdata", "/var/www/html"]);
    lab.on_ok(1, "sh", &["-c", &format!("printf '%s' '{PAGE}' > /var/www/html/index.html")]);
    lab.on_ok(1, "umount", &["/var/www/html"]);
    lab.wait("initial sync", 60, || lab.drbdadm(2, &["dstate", "wwwdata"]) == "UpToDate/UpToDate");
    lab.on_ok(1, drbdadm, &["secondary", "wwwdata"]);

    // Part 1: corosync and the cluster manager on both nodes.
    for i in 1..=2 {
        let conf = lab.nd(i).join("corosync.conf");
        lab.spawn(i, "corosync", &["-f", "-c", conf.to_str().unwrap()], "corosync.log");
        // nsenter execs the program: the child's pid is corosync's.
        let pid = lab.daemons.last().unwrap().id();
        lab.corosyncs.push(pid);
    }
    for i in 1..=2 {
        lab.wait("corosync answering", 20, || {
            lab.on(i, "corosync-cmapctl", &["-g", "runtime.votequorum.this_node_id"])
                .status
                .success()
        });
    }
    for i in 1..=2 {
        lab.spawn(i, env!("CARGO_BIN_EXE_clusterd"), &[], "clusterd.log");
    }
    lab.wait("both daemons agree on the DC", 30, || {
        (1..=2).all(|i| lab.log(i, "clusterd.log").contains(&format!("joined, DC is {PREFIX}1")))
    });
    lab.wait("CIB sockets", 10, || {
        (1..=2).all(|i| lab.nd(i).join("run/clusterd/cib.sock").exists())
    });
    let t_config = Instant::now();

    // Steps 6–8 and 14–17, then Part 3 (steps 28–33) as typed, through node 1.
    lab.crm(&["configure", "property", "stonith-enabled=false"], None);
    lab.crm(&["configure", "property", "no-quorum-policy=ignore"], None);
    lab.crm(
        &[
            "configure",
            "primitive",
            "ClusterIP",
            "ocf:heartbeat:IPaddr2",
            "params",
            &format!("ip={VIP}"),
            "cidr_netmask=32",
            "op",
            "monitor",
            "interval=30s",
        ],
        None,
    );
    lab.crm(
        &[
            "configure",
            "primitive",
            "WebSite",
            "ocf:heartbeat:apache",
            "params",
            "configfile=/etc/apache2/apache2.conf",
            "op",
            "monitor",
            "interval=1min",
        ],
        None,
    );
    lab.crm(
        &["configure", "colocation", "website-with-ip", "INFINITY:", "WebSite", "ClusterIP"],
        None,
    );
    lab.crm(&["configure", "order", "apache-after-ip", "mandatory:", "ClusterIP", "WebSite"], None);
    lab.crm(
        &["configure", "location", "prefer-node1", "WebSite", "50:", &format!("{PREFIX}1")],
        None,
    );
    let show = lab.crm(
        &[],
        Some(
            "cib new drbd\n\
             configure primitive WebData ocf:linbit:drbd params drbd_resource=wwwdata op monitor interval=60s\n\
             configure ms WebDataClone WebData meta master-max=1 master-node-max=1 clone-max=2 clone-node-max=1 notify=true\n\
             configure show\n\
             cib commit drbd\n\
             quit\n",
        ),
    );
    assert!(show.contains("ms WebDataClone WebData"), "{show}");
    lab.wait("one Primary, one Secondary", 60, || {
        let r: Vec<String> = (1..=2).map(|i| lab.role(i)).collect();
        r.iter().filter(|x| x.starts_with("Primary/")).count() == 1
            && r.iter().filter(|x| x.starts_with("Secondary/")).count() == 1
    });
    lab.crm(
        &[],
        Some(
            "cib new fs\n\
             configure primitive WebFS ocf:heartbeat:Filesystem params device=\"/dev/drbd/by-res/wwwdata\" directory=\"/var/www/html\" fstype=\"ext4\"\n\
             configure colocation fs_on_drbd inf: WebFS WebDataClone:Master\n\
             configure order WebFS-after-WebData inf: WebDataClone:promote WebFS:start\n\
             configure colocation WebSite-with-WebFS inf: WebSite WebFS\n\
             configure order WebSite-after-WebFS inf: WebFS WebSite\n\
             cib commit fs\n\
             quit\n",
        ),
    );

    // Step 34, first half: everything on one node, served through the floating IP.
    lab.wait("the page served through the floating IP", 90, || {
        lab.get("/index.html").is_some_and(|p| p == PAGE)
    });
    let active = lab.vip_on();
    assert_eq!(active.len(), 1, "VIP on one node\n{}", lab.logs());
    let (active, other) = (active[0], 3 - active[0]);
    assert!(lab.role(active).starts_with("Primary/"), "{}", lab.role(active));
    assert!(lab.role(other).starts_with("Secondary/"), "{}", lab.role(other));
    assert!(lab.mounted(active), "WebFS mounted on the Primary");
    assert!(!lab.mounted(other), "WebFS not mounted on the Secondary");
    assert!(lab.apache_running(active) && !lab.apache_running(other));
    // The passive node reaches the service through the floating IP too.
    let from_other = lab.on_ok(other, "curl", &["-s", "-f", "-m", "2", &format!("http://{VIP}/")]);
    assert_eq!(from_other, PAGE);
    let status = lab.on_ok(active, "curl", &["-s", "http://localhost/server-status"]);
    assert!(status.contains("Apache Server Status"), "{status}");
    eprintln!(
        "[halab] whole stack up on {PREFIX}{active} {:?} after the first crm command",
        t_config.elapsed()
    );
    let mon =
        String::from_utf8_lossy(&lab.tool(other, "crm_mon", &["-1"], None).stdout).into_owned();
    eprintln!("[halab] crm_mon -1 on {PREFIX}{other}:\n{mon}");

    // An acknowledged write: fsync returned on the Primary (protocol C: the peer has it).
    let acked = format!("acknowledged on {PREFIX}{active} before it died\n");
    lab.on_ok(
        active,
        "sh",
        &[
            "-c",
            &format!(
                "printf '%s' '{acked}' | dd of=/var/www/html/acked.txt conv=fsync status=none"
            ),
        ],
    );
    assert_eq!(lab.get("/acked.txt").as_deref(), Some(acked.as_str()));
    let lo = lab.loop_of(active);
    assert!(lo.starts_with("loop"), "{lo}");

    // Kill the active node hard.
    let t_kill = Instant::now();
    lab.kill_node(active);
    lab.wait("the killed node's loop device released", 20, || {
        !Path::new(&format!("/sys/block/{lo}/loop/backing_file")).exists()
    });
    assert!(lab.get("/index.html").is_none() || lab.vip_on() == vec![other]);

    // Everything comes up on the survivor, with the acknowledged write.
    lab.wait("the survivor serves the page", 90, || {
        lab.get("/index.html").is_some_and(|p| p == PAGE)
    });
    eprintln!("[halab] failover: served again {:?} after the kill", t_kill.elapsed());
    assert_eq!(lab.get("/acked.txt").as_deref(), Some(acked.as_str()), "{}", lab.logs());
    assert_eq!(lab.vip_on(), vec![other]);
    assert!(lab.role(other).starts_with("Primary/"), "{}", lab.role(other));
    assert!(lab.mounted(other));
    assert!(lab.apache_running(other));
    let mon =
        String::from_utf8_lossy(&lab.tool(other, "crm_mon", &["-1"], None).stdout).into_owned();
    eprintln!("[halab] crm_mon -1 on the survivor:\n{mon}");
    assert!(mon.contains(&format!("OFFLINE: [ {PREFIX}{active} ]")), "{mon}");

    // The killed node comes back (power on: link up, daemons started as at boot). Its
    // corosync needs a moment to merge with the survivor's: clusterd waits for it instead of
    // taking the DC role alone (which would promote its stale data: a split brain). It
    // rejoins, the survivor's CIB wins, its DRBD connects as Secondary and resyncs.
    // (Where the service ends up afterwards is the scheduler's business and not checked
    // here: see the README's "Not done yet".)
    let t_back = Instant::now();
    lab.restart_node(active);
    lab.wait("the returning node connected and UpToDate", 90, || {
        lab.drbdadm(active, &["dstate", "wwwdata"]) == "UpToDate/UpToDate"
            && lab.drbdadm(active, &["cstate", "wwwdata"]) == "Connected"
    });
    eprintln!("[halab] node back and in sync {:?} after its restart", t_back.elapsed());
    let roles: Vec<String> = (1..=2).map(|i| lab.role(i)).collect();
    assert_eq!(
        roles.iter().filter(|r| r.starts_with("Primary/")).count(),
        1,
        "one Primary: {roles:?}\n{}",
        lab.logs()
    );
    for i in 1..=2 {
        assert!(!lab.log(i, "drbd.log").contains("Split-Brain"), "{}", lab.logs());
    }
    assert!(
        lab.log(active, "clusterd.log").contains("alone at startup"),
        "the returning node waited for its peer\n{}",
        lab.logs()
    );
    eprintln!("[halab] whole test took {:?}", t_start.elapsed());
}
