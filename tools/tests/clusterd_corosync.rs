//! `clusterd` end to end: two network-namespace nodes with real corosync (two_node), one
//! `clusterd` per node, the configuration submitted with the real tools through node 1's CIB
//! socket, and Debian's `ocf:heartbeat:Dummy` agent run by the daemons, with a floating
//! `IPaddr2` address (10.213.171.100 on eth0) colocated with it.
//!
//! Layout: namespaces `rcdbr` (bridge), `rcd1`, `rcd2` on 10.213.171.0/24. Every process of
//! node N (corosync, clusterd and hence its agents) runs with its own /run bind-mounted from
//! `$tmp/nN/run`, so the daemon's default socket `/run/clusterd/cib.sock` and the Dummy state
//! file `/run/rcd-dummy.state` are per node and visible from the test at `$tmp/nN/run/...`.
//! The tools run in the test's own namespace with `CLUSTERD_RUN_DIR` pointing at a node's
//! socket directory. A Drop guard kills daemons and corosyncs and deletes the namespaces, also
//! when an assertion fails. Needs root, corosync and resource-agents; otherwise it skips.

// Real processes and real corosync: wall-clock timeouts are the point here.
#![allow(clippy::disallowed_methods)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use cluster_core::cib::Element;

const PREFIX: &str = "rcd";
const SUBNET: &str = "10.213.171";
const DUMMY: &str = "/usr/lib/ocf/resource.d/heartbeat/Dummy";
const STATE: &str = "rcd-dummy.state";
const VIP: &str = "10.213.171.100";

#[path = "../../cluster-core/tests/support/netns_lab.rs"]
mod netns_lab;
use netns_lab::quiet as run;

fn skip_reason() -> Option<&'static str> {
    if !netns_lab::is_root() {
        return Some("needs root (network namespaces, corosync)");
    }
    if !run("sh", &["-c", "command -v corosync && command -v corosync-cmapctl"]) {
        return Some("corosync is not installed");
    }
    if !Path::new(DUMMY).exists() {
        return Some("resource-agents is not installed");
    }
    None
}

/// A directory removed on drop.
struct TmpDir(PathBuf);

impl TmpDir {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TmpDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Cluster {
    dir: TmpDir,
    corosync: Vec<Option<Child>>,
    daemons: Vec<Option<Child>>,
}

impl Cluster {
    fn ns(i: usize) -> String {
        format!("{PREFIX}{i}")
    }

    fn nd(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("n{i}"))
    }

    fn remove_namespaces() {
        for i in 1..=2 {
            run("ip", &["netns", "del", &Self::ns(i)]);
        }
        run("ip", &["netns", "del", &format!("{PREFIX}br")]);
    }

    fn up() -> Cluster {
        let p = std::env::temp_dir().join(format!("rcd-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        let dir = TmpDir(p);
        let mut c = Cluster { dir, corosync: vec![None, None], daemons: vec![None, None] };
        Self::remove_namespaces();
        let br = format!("{PREFIX}br");
        let nodes: Vec<String> = (1..=2).map(Self::ns).collect();
        netns_lab::build(&br, &nodes, SUBNET);
        for i in 1..=2 {
            c.start_corosync(i);
        }
        c
    }

    fn write_conf(&self, i: usize) -> PathBuf {
        let nd = self.nd(i);
        for d in ["run", "state", "cib", "rsctmp"] {
            std::fs::create_dir_all(nd.join(d)).unwrap();
        }
        let mut nodes = String::new();
        for j in 1..=2 {
            nodes.push_str(&format!(
                "  node {{\n    name: {PREFIX}{j}\n    nodeid: {j}\n    ring0_addr: {SUBNET}.{j}\n  }}\n"
            ));
        }
        let conf = format!(
            "totem {{\n  version: 2\n  cluster_name: {PREFIX}\n  transport: knet\n  \
             crypto_cipher: none\n  crypto_hash: none\n  token: 1000\n}}\n\
             nodelist {{\n{nodes}}}\n\
             quorum {{\n  provider: corosync_votequorum\n  two_node: 1\n}}\n\
             logging {{\n  to_stderr: yes\n  to_syslog: no\n}}\n\
             system {{\n  state_dir: {state}\n}}\n",
            state = nd.join("state").display(),
        );
        let path = nd.join("corosync.conf");
        std::fs::write(&path, conf).unwrap();
        path
    }

    fn start_corosync(&mut self, i: usize) {
        let conf = self.write_conf(i);
        let nd = self.nd(i);
        let log = std::fs::File::create(nd.join("corosync.log")).unwrap();
        let script = format!(
            "mount --bind '{}' /run && exec corosync -f -c '{}'",
            nd.join("run").display(),
            conf.display()
        );
        self.corosync[i - 1] = Some(
            Command::new("ip")
                .args(["netns", "exec", &Self::ns(i), "sh", "-c", &script])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("spawn corosync"),
        );
        let t0 = Instant::now();
        while !run(
            "ip",
            &[
                "netns",
                "exec",
                &Self::ns(i),
                "corosync-cmapctl",
                "-g",
                "runtime.votequorum.this_node_id",
            ],
        ) {
            assert!(t0.elapsed() < Duration::from_secs(20), "corosync {i} not answering");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn start_daemon(&mut self, i: usize) {
        let nd = self.nd(i);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(nd.join("clusterd.log"))
            .unwrap();
        let script = format!(
            "mount --bind '{}' /run && exec '{}' --name {PREFIX}{i}",
            nd.join("run").display(),
            env!("CARGO_BIN_EXE_clusterd"),
        );
        self.daemons[i - 1] = Some(
            Command::new("ip")
                .args(["netns", "exec", &Self::ns(i), "sh", "-c", &script])
                .env("CLUSTERD_STATE_DIR", nd.join("cib"))
                .env("HA_RSCTMP", nd.join("rsctmp"))
                .env_remove("CLUSTERD_RUN_DIR")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("spawn clusterd"),
        );
    }

    fn stop_daemon(&mut self, i: usize) {
        if let Some(mut c) = self.daemons[i - 1].take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn stop_corosync(&mut self, i: usize) {
        let Some(mut child) = self.corosync[i - 1].take() else { return };
        let pid = child.id();
        run("kill", &["-TERM", &pid.to_string()]);
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        if let Ok(rd) = std::fs::read_dir("/dev/shm") {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with(&format!("qb-{pid}-"))
                    || name.starts_with(&format!("qb-corosync-{pid}-"))
                {
                    // Per-connection directories and blackbox files.
                    let p = e.path();
                    let _ = if p.is_dir() {
                        std::fs::remove_dir_all(&p)
                    } else {
                        std::fs::remove_file(&p)
                    };
                }
            }
        }
    }

    fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.nd(i).join("clusterd.log")).unwrap_or_default()
    }

    fn logs(&self) -> String {
        format!("--- node 1:\n{}\n--- node 2:\n{}", self.log(1), self.log(2))
    }

    /// A tool run against node `i`'s live CIB.
    fn tool(&self, i: usize, tool: &str, args: &[&str]) -> Output {
        let exe = Path::new(env!("CARGO_BIN_EXE_clusterd")).with_file_name(tool);
        Command::new(exe)
            .args(args)
            .env_remove("CIB_file")
            .env_remove("CIB_shadow")
            .env("CLUSTERD_RUN_DIR", self.nd(i).join("run/clusterd"))
            .output()
            .expect("spawn tool")
    }

    fn tool_ok(&self, i: usize, tool: &str, args: &[&str]) -> String {
        let o = self.tool(i, tool, args);
        assert!(
            o.status.success(),
            "{tool} {args:?} on node {i}: {}{}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr),
            self.logs()
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn cib(&self, i: usize) -> Element {
        Element::parse(&self.tool_ok(i, "cibadmin", &["-Q"])).unwrap()
    }

    /// Nodes whose eth0 carries the floating address.
    fn vip_on(&self) -> Vec<usize> {
        (1..=2)
            .filter(|i| {
                let o = Command::new("ip")
                    .args(["-n", &Self::ns(*i), "-o", "addr", "show", "dev", "eth0"])
                    .output()
                    .expect("ip");
                String::from_utf8_lossy(&o.stdout).contains(&format!("{VIP}/24"))
            })
            .collect()
    }

    fn holders(&self) -> Vec<usize> {
        (1..=2).filter(|i| self.nd(*i).join("run").join(STATE).exists()).collect()
    }

    fn wait(&self, what: &str, secs: u64, mut f: impl FnMut() -> bool) {
        let t0 = Instant::now();
        while !f() {
            assert!(
                t0.elapsed() < Duration::from_secs(secs),
                "timed out waiting for {what}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        eprintln!("[rcd] {what} after {:?}", t0.elapsed());
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 1..=2 {
            self.stop_daemon(i);
        }
        for i in 1..=2 {
            self.stop_corosync(i);
        }
        Self::remove_namespaces();
    }
}

fn epoch(c: &Element) -> Option<String> {
    c.attr("epoch").map(str::to_string)
}

#[test]
fn two_node_clusterd_runs_dummy_and_moves_it_on_standby() {
    if let Some(why) = skip_reason() {
        println!("SKIP two_node_clusterd_runs_dummy_and_moves_it_on_standby: {why}");
        return;
    }
    let t_start = Instant::now();
    let mut c = Cluster::up();
    // Without a daemon the live CIB is unreachable: Pacemaker's "not connected" exit code.
    assert_eq!(c.tool(1, "cibadmin", &["-Q"]).status.code(), Some(102));
    c.start_daemon(1);
    c.start_daemon(2);
    c.wait("both daemons agree on the DC", 30, || {
        c.log(1).contains("joined, DC is rcd1") && c.log(2).contains("joined, DC is rcd1")
    });
    c.wait("sockets", 10, || (1..=2).all(|i| c.nd(i).join("run/clusterd/cib.sock").exists()));

    // Cluster options with crm_attribute, the resource with cibadmin, all through node 1.
    c.tool_ok(1, "crm_attribute", &["-t", "crm_config", "-n", "stonith-enabled", "-v", "false"]);
    c.tool_ok(1, "crm_attribute", &["-t", "crm_config", "-n", "no-quorum-policy", "-v", "ignore"]);
    let rsc = c.dir.path().join("resources.xml");
    std::fs::write(
        &rsc,
        format!(
            r#"<resources>
  <primitive id="rcd-d" class="ocf" provider="heartbeat" type="Dummy">
    <instance_attributes id="rcd-d-ia">
      <nvpair id="rcd-d-ia-state" name="state" value="/run/{STATE}"/>
    </instance_attributes>
    <operations><op id="rcd-d-mon" name="monitor" interval="5s"/></operations>
  </primitive>
  <primitive id="rcd-ip" class="ocf" provider="heartbeat" type="IPaddr2">
    <instance_attributes id="rcd-ip-ia">
      <nvpair id="rcd-ip-ia-ip" name="ip" value="{VIP}"/>
      <nvpair id="rcd-ip-ia-mask" name="cidr_netmask" value="24"/>
      <nvpair id="rcd-ip-ia-nic" name="nic" value="eth0"/>
    </instance_attributes>
    <operations><op id="rcd-ip-mon" name="monitor" interval="5s"/></operations>
  </primitive>
</resources>"#
        ),
    )
    .unwrap();
    c.tool_ok(1, "cibadmin", &["-R", "-o", "resources", "-x", rsc.to_str().unwrap()]);
    c.tool_ok(
        1,
        "cibadmin",
        &[
            "-C",
            "-o",
            "constraints",
            "-X",
            r#"<rsc_colocation id="ip-with-d" rsc="rcd-ip" with-rsc="rcd-d" score="INFINITY"/>"#,
        ],
    );

    c.wait("Dummy started on one node", 60, || c.holders().len() == 1);
    std::thread::sleep(Duration::from_secs(2));
    let holders = c.holders();
    assert_eq!(holders.len(), 1, "Dummy runs on exactly one node\n{}", c.logs());
    let holder = holders[0];
    c.wait("floating IP on the Dummy's node only", 30, || c.vip_on() == vec![holder]);
    c.wait("crm_resource --locate via node 2 sees it", 30, || {
        let o = c.tool(2, "crm_resource", &["--locate", "-r", "rcd-d"]);
        String::from_utf8_lossy(&o.stdout).contains(&format!("is running on: rcd{holder}"))
    });
    c.wait("both CIB copies at the same epoch", 30, || {
        let (a, b) = (c.cib(1), c.cib(2));
        epoch(&a).is_some() && epoch(&a) == epoch(&b)
    });
    let cib2 = c.cib(2);
    let conf2 = cib2.child("configuration").unwrap();
    assert!(conf2.find_id("rcd-d").is_some(), "node 2 has the resource");
    // The saved copy on node 2 is the live one.
    let saved = std::fs::read_to_string(c.nd(2).join("cib/cib.xml")).unwrap();
    assert!(saved.contains("rcd-d"), "node 2 saved the CIB");

    // crm_verify -L checks the live CIB through the socket.
    c.tool_ok(2, "crm_verify", &["-L"]);
    // crm_mon and crm read the live CIB too; a crm configure change reaches both nodes.
    let mon = c.tool_ok(2, "crm_mon", &["-1"]);
    assert!(mon.contains("rcd-d") && mon.contains(&format!("Started rcd{holder}")), "{mon}");
    let before = epoch(&c.cib(2));
    c.tool_ok(1, "crm", &["configure", "property", "cluster-recheck-interval=5min"]);
    c.wait("crm's change on node 1 reaches node 2", 30, || {
        epoch(&c.cib(2)) != before && c.tool_ok(2, "crm", &["configure", "show"]).contains("5min")
    });

    // A transient attribute set through node 1 reaches node 2's copy; deleted through node 2.
    c.tool_ok(1, "crm_attribute", &["-N", "rcd1", "-l", "reboot", "-n", "rcd-x", "-v", "1"]);
    let query = ["-N", "rcd1", "-l", "reboot", "-n", "rcd-x", "-G", "-q"];
    c.wait("transient attribute on node 2", 30, || {
        String::from_utf8_lossy(&c.tool(2, "crm_attribute", &query).stdout).trim() == "1"
    });
    c.tool_ok(2, "crm_attribute", &["-N", "rcd1", "-l", "reboot", "-n", "rcd-x", "-D"]);
    c.wait("transient attribute deleted on node 1", 30, || {
        !c.tool(1, "crm_attribute", &query).status.success()
    });

    // The Dummy fails behind the cluster's back: its monitor notices, the failure is counted
    // and the resource recovered; `crm_resource --cleanup` (a status change, carried as a
    // cleanup request) then clears the fail count on every node.
    std::fs::remove_file(c.nd(holder).join("run").join(STATE)).unwrap();
    let has_failcount = |i: usize| c.cib(i).to_compact_string().contains("fail-count-rcd-d");
    c.wait("monitor failure counted", 30, || has_failcount(1));
    c.wait("recovered after the failure", 30, || c.holders().len() == 1);
    c.tool_ok(1, "crm_resource", &["--cleanup", "-r", "rcd-d"]);
    c.wait("fail count cleared on both nodes", 30, || !has_failcount(1) && !has_failcount(2));
    let holder = c.holders()[0];
    let other = 3 - holder;
    c.wait("floating IP still with the Dummy", 30, || c.vip_on() == vec![holder]);

    // Standby for the holder (through node 2's socket): Dummy moves.
    c.tool_ok(2, "crm_standby", &["-N", &format!("rcd{holder}"), "-v", "on"]);
    c.wait("Dummy moved to the other node", 60, || c.holders() == vec![other]);
    c.wait("floating IP moved with it", 30, || c.vip_on() == vec![other]);
    c.wait("locate reports the move", 30, || {
        let o = c.tool(1, "crm_resource", &["--locate", "-r", "rcd-d"]);
        String::from_utf8_lossy(&o.stdout).contains(&format!("is running on: rcd{other}"))
    });

    // Standby off; then a clean shutdown (`clusterd --shutdown`) of the node running it: the
    // resources move away before the daemon exits 0.
    c.tool_ok(1, "crm_standby", &["-N", &format!("rcd{holder}"), "-v", "off"]);
    std::thread::sleep(Duration::from_secs(2));
    let now = c.holders();
    assert_eq!(now.len(), 1, "still on exactly one node after standby off\n{}", c.logs());
    let (leaver, stayer) = (now[0], 3 - now[0]);
    let o = Command::new(env!("CARGO_BIN_EXE_clusterd"))
        .args(["--shutdown", "-t", "60"])
        .env("CLUSTERD_RUN_DIR", c.nd(leaver).join("run/clusterd"))
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "clean shutdown: {}\n{}",
        String::from_utf8_lossy(&o.stderr),
        c.logs()
    );
    assert_eq!(c.holders(), vec![stayer], "resources moved before the daemon left\n{}", c.logs());
    assert_eq!(c.vip_on(), vec![stayer]);
    let mut child = c.daemons[leaver - 1].take().unwrap();
    let t0 = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "daemon still running\n{}", c.logs());
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status {status}\n{}", c.logs());

    // It comes back and rejoins (its saved CIB loaded, the cluster's copy wins).
    let seen = |c: &Cluster| c.log(stayer).matches("members: rcd1 rcd2").count();
    let before = seen(&c);
    c.start_daemon(leaver);
    c.wait("rejoined", 30, || seen(&c) > before);
    c.wait("same epoch after the rejoin", 30, || {
        let (a, b) = (c.cib(1), c.cib(2));
        epoch(&a).is_some() && epoch(&a) == epoch(&b)
    });

    // The daemon of the node running the resources is killed: the survivor, with stonith
    // disabled, starts them too (nobody stopped them on the node whose daemon died).
    let (victim, survivor) = (stayer, leaver);
    c.stop_daemon(victim);
    c.wait("survivor takes over", 60, || c.nd(survivor).join("run").join(STATE).exists());
    c.wait("survivor holds the floating IP", 30, || c.vip_on().contains(&survivor));
    assert!(
        c.log(survivor).contains(&format!("joined, DC is rcd{survivor}")),
        "survivor is DC\n{}",
        c.logs()
    );
    // The killed daemon left its socket behind: tools report "not connected" (102).
    let o = c.tool(victim, "cibadmin", &["-Q"]);
    assert_eq!(o.status.code(), Some(102), "{}", String::from_utf8_lossy(&o.stderr));
    eprintln!("{}", c.logs());
    eprintln!("[rcd] whole test took {:?}", t_start.elapsed());
}

#[test]
fn clusterd_command_line_errors() {
    let exe = env!("CARGO_BIN_EXE_clusterd");
    let o = Command::new(exe).arg("--frob").output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown option \"--frob\""));
    let o = Command::new(exe).arg("--name").output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--name needs a value"));
    let o = Command::new(exe).args(["--shutdown", "-t", "soon"]).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("invalid --timeout"));
    // No daemon: the clean shutdown request fails and says so.
    let dir = std::env::temp_dir().join(format!("rcd-cli-{}", std::process::id()));
    let _t = TmpDir(dir.clone());
    std::fs::create_dir_all(&dir).unwrap();
    let o = Command::new(exe).arg("--shutdown").env("CLUSTERD_RUN_DIR", &dir).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("clean shutdown failed"));
}
