//! `CorosyncMembership` against real corosync 3 (knet) in two network namespaces.
//!
//! Each test builds its own bridge namespace and two node namespaces (`rmembr`, `rmem1`,
//! `rmem2` on 10.213.157.0/24; `rmep*` on 10.213.158.0/24), starts one corosync per node
//! namespace (each with its own /run bind mount, since corosync locks a fixed pid file;
//! client IPC uses abstract sockets, scoped to the namespace) and runs this same test binary
//! inside each namespace as an agent (the ignored `agent` test, selected by environment).
//! Agents print what they see as `RMEM ...` lines and take `send TEXT`, `sendbig N`,
//! `snapshot` and `quit` on stdin. Everything is torn down by a Drop guard, also on failure.
//! Needs root and the `corosync` package; without them the tests print why and pass.

// Real processes and real corosync: wall-clock timeouts are the point here.
#![allow(clippy::disallowed_methods)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use cluster_core::membership::corosync::CorosyncMembership;
use cluster_core::membership::{choose_dc, Membership, MembershipEvent};

const GROUP: &str = "rmemtest";
const AGENT_ENV: &str = "RMEM_AGENT_GROUP";

#[path = "support/netns_lab.rs"]
mod netns_lab;
use netns_lab::must;
use netns_lab::quiet as run;

/// The namespaces, corosyncs and agents of one test run; Drop removes all of it.
struct Cluster {
    prefix: &'static str,
    subnet: &'static str,
    unnamed2: bool,
    dir: tempfile::TempDir,
    corosync: Vec<Option<Child>>,
    agents: Vec<Agent>,
}

/// corosync.conf for node `i`; with `unnamed2`, node 2 has no `name:` (its name is then its
/// `ring0_addr`).
fn write_conf(prefix: &str, subnet: &str, unnamed2: bool, dir: &Path, i: usize) -> PathBuf {
    let nd = dir.join(format!("n{i}"));
    std::fs::create_dir_all(nd.join("run")).unwrap();
    std::fs::create_dir_all(nd.join("state")).unwrap();
    let mut nodes = String::new();
    for j in 1..=2 {
        let name =
            if unnamed2 && j == 2 { String::new() } else { format!("    name: {prefix}{j}\n") };
        nodes.push_str(&format!(
            "  node {{\n{name}    nodeid: {j}\n    ring0_addr: {subnet}.{j}\n  }}\n"
        ));
    }
    let conf = format!(
        "totem {{\n  version: 2\n  cluster_name: {prefix}\n  transport: knet\n  \
         crypto_cipher: none\n  crypto_hash: none\n  token: 1000\n}}\n\
         nodelist {{\n{nodes}}}\n\
         quorum {{\n  provider: corosync_votequorum\n  two_node: 1\n}}\n\
         logging {{\n  to_stderr: yes\n  to_logfile: yes\n  logfile: {log}\n  to_syslog: no\n  \
         timestamp: hires\n}}\n\
         system {{\n  state_dir: {state}\n}}\n",
        log = nd.join("corosync.log").display(),
        state = nd.join("state").display(),
    );
    let path = nd.join("corosync.conf");
    std::fs::write(&path, conf).unwrap();
    path
}

impl Cluster {
    /// Namespaces `{prefix}1`, `{prefix}2` and `{prefix}br` on `{subnet}.0/24`.
    fn up(prefix: &'static str, subnet: &'static str, unnamed2: bool) -> Cluster {
        let dir = tempfile::Builder::new().prefix(&format!("{prefix}-")).tempdir().unwrap();
        let mut c = Cluster {
            prefix,
            subnet,
            unnamed2,
            dir,
            corosync: vec![None, None],
            agents: Vec::new(),
        };
        c.remove_namespaces(); // leftovers of an earlier, killed run of this very test
        let br = c.bridge_ns();
        let nodes: Vec<String> = (1..=2).map(|i| c.ns(i)).collect();
        netns_lab::build(&br, &nodes, subnet);
        for i in 1..=2 {
            c.start_corosync(i);
        }
        c
    }

    fn ns(&self, i: usize) -> String {
        format!("{}{i}", self.prefix)
    }

    fn bridge_ns(&self) -> String {
        format!("{}br", self.prefix)
    }

    fn remove_namespaces(&self) {
        for i in 1..=2 {
            run("ip", &["netns", "del", &self.ns(i)]);
        }
        run("ip", &["netns", "del", &self.bridge_ns()]);
    }

    /// Sets node `i`'s link up or down (a network partition without stopping anything).
    fn link(&self, i: usize, up: bool) {
        must("ip", &["-n", &self.ns(i), "link", "set", "eth0", if up { "up" } else { "down" }]);
    }

    fn start_corosync(&mut self, i: usize) {
        let conf = write_conf(self.prefix, self.subnet, self.unnamed2, self.dir.path(), i);
        let nd = self.dir.path().join(format!("n{i}"));
        let log = std::fs::File::create(nd.join("stderr.log")).unwrap();
        // `ip netns exec` runs in a fresh mount namespace: give this corosync its own /run.
        let script = format!(
            "mount --bind '{}' /run && exec corosync -f -c '{}'",
            nd.join("run").display(),
            conf.display()
        );
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns(i), "sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn corosync");
        self.corosync[i - 1] = Some(child);
        let t0 = Instant::now();
        loop {
            if run(
                "ip",
                &[
                    "netns",
                    "exec",
                    &self.ns(i),
                    "corosync-cmapctl",
                    "-g",
                    "runtime.votequorum.this_node_id",
                ],
            ) {
                eprintln!("corosync {i} answers after {:?}", t0.elapsed());
                return;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "corosync {i} not answering; log: {}",
                std::fs::read_to_string(nd.join("stderr.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM (a clean corosync shutdown), then SIGKILL after 10 s.
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
        // libqb leaves ring buffers named after the server pid when it cannot clean up.
        if let Ok(rd) = std::fs::read_dir("/dev/shm") {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with(&format!("qb-{pid}-"))
                    || name.starts_with(&format!("qb-corosync-{pid}-"))
                {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    }

    fn spawn_agent(&mut self, i: usize) -> usize {
        let exe = std::env::current_exe().unwrap();
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.ns(i)])
            .arg(&exe)
            .args(["--ignored", "--exact", "agent", "--nocapture", "--test-threads=1"])
            .env(AGENT_ENV, GROUP)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn agent");
        let stdout = child.stdout.take().unwrap();
        let stdin = child.stdin.take().unwrap();
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                // libtest may print `test agent ... ` on the same line before the first report.
                if let Some((_, rest)) = line.split_once("RMEM ") {
                    if tx.send(rest.to_string()).is_err() {
                        break;
                    }
                }
            }
        });
        self.agents.push(Agent { node: i, child, stdin: Some(stdin), rx, seen: Vec::new() });
        self.agents.len() - 1
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for a in &mut self.agents {
            let _ = a.child.kill();
            let _ = a.child.wait();
        }
        for i in 1..=2 {
            self.stop_corosync(i);
        }
        self.remove_namespaces();
    }
}

struct Agent {
    node: usize,
    child: Child,
    stdin: Option<ChildStdin>,
    rx: Receiver<String>,
    seen: Vec<String>,
}

impl Agent {
    fn cmd(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("agent stdin");
        writeln!(stdin, "{line}").expect("write to agent");
        stdin.flush().unwrap();
    }

    /// The first line (from now on) for which `pred` holds; panics with the log on timeout.
    fn wait_for(&mut self, what: &str, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
        let t0 = Instant::now();
        loop {
            let left = timeout.saturating_sub(t0.elapsed());
            match self.rx.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if pred(&line) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "agent on node {} did not report {what} within {timeout:?}; it said:\n{}",
                    self.node,
                    self.seen.join("\n")
                ),
            }
        }
    }
}

impl Agent {
    /// Waits until one line matched `p1` and one `p2`, in either order (CPG and votequorum
    /// report independently); returns the last matches.
    fn wait_both(
        &mut self,
        what: &str,
        p1: impl Fn(&str) -> bool,
        p2: impl Fn(&str) -> bool,
    ) -> (String, String) {
        let (mut m1, mut m2) = (None, None);
        while m1.is_none() || m2.is_none() {
            let l = self.wait_for(what, LONG, |l| p1(l) || p2(l));
            if p1(&l) {
                m1 = Some(l.clone());
            }
            if p2(&l) {
                m2 = Some(l);
            }
        }
        (m1.unwrap(), m2.unwrap())
    }
}

fn is_quorum(l: &str) -> bool {
    l.starts_with("quorum ")
}

fn members_are(line: &str, ids: &[u32]) -> bool {
    let Some(rest) = line.strip_prefix("members ") else { return false };
    let list = rest.split(' ').next().unwrap_or("");
    let got: Vec<u32> = list
        .split(',')
        .filter(|s| !s.is_empty())
        .filter_map(|m| m.split(':').next()?.parse().ok())
        .collect();
    got == ids
}

fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split(' ').find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
}

const LONG: Duration = Duration::from_secs(30);

/// Why the real-corosync tests cannot run here, if they cannot.
fn skip_reason() -> Option<&'static str> {
    if !netns_lab::is_root() {
        return Some("needs root (network namespaces, corosync)");
    }
    if !run("sh", &["-c", "command -v corosync && command -v corosync-cmapctl"]) {
        return Some("corosync is not installed (apt-get install corosync)");
    }
    None
}

/// Two nodes with an agent each, both having seen both members and two_node quorum.
/// Returns the cluster and the agents' indexes; checks the DC choice agrees.
fn formed(prefix: &'static str, subnet: &'static str, unnamed2: bool) -> (Cluster, usize, usize) {
    let t0 = Instant::now();
    let mut c = Cluster::up(prefix, subnet, unnamed2);
    let name2 = if unnamed2 { format!("{subnet}.2") } else { format!("{prefix}2") };
    eprintln!("[{prefix}] corosyncs up after {:?}", t0.elapsed());
    let a1 = c.spawn_agent(1);
    let a2 = c.spawn_agent(2);
    for (a, id) in [(a1, 1), (a2, 2)] {
        let l = c.agents[a].wait_for("local id", LONG, |l| l.starts_with("local "));
        assert_eq!(l, format!("local {id}"));
    }
    let mut dcs = Vec::new();
    for a in [a1, a2] {
        let (l, q) = c.agents[a].wait_both(
            "both members, quorate with 2 votes",
            |l| members_are(l, &[1, 2]),
            |l| {
                is_quorum(l)
                    && field(l, "quorate") == Some("true")
                    && field(l, "votes") == Some("2")
            },
        );
        // Names come from nodelist.node.N.name, else ring0_addr.
        assert!(l.contains(&format!("1:{prefix}1:")) && l.contains(&format!("2:{name2}:")), "{l}");
        dcs.push(field(&l, "dc").unwrap().to_string());
        assert_eq!(field(&q, "two_node"), Some("true"), "{q}");
        assert_eq!(field(&q, "wait_for_all"), Some("true"), "{q}");
        assert_eq!(field(&q, "quorum"), Some("1"), "{q}");
        assert_eq!(field(&q, "expected"), Some("2"), "{q}");
        assert_eq!(field(&q, "nodes"), Some("1,2"), "{q}");
    }
    assert_eq!(dcs, ["1", "1"], "DC choice differs between nodes");
    eprintln!("[{prefix}] membership, quorum and DC agreed after {:?}", t0.elapsed());
    (c, a1, a2)
}

#[test]
fn two_nodes_real_corosync() {
    if let Some(why) = skip_reason() {
        println!("SKIP two_nodes_real_corosync: {why}");
        return;
    }
    let t_start = Instant::now();
    let (mut c, a1, a2) = formed("rmem", "10.213.157", false);

    // A read-only snapshot from node 2 lists both daemons (the same pids) and the quorum.
    c.agents[a2].cmd("snapshot");
    let snap = c.agents[a2].wait_for("snapshot", LONG, |l| l.starts_with("snapshot "));
    let members = c.agents[a2]
        .seen
        .iter()
        .rev()
        .find(|l| members_are(l, &[1, 2]))
        .and_then(|l| l.strip_prefix("members "))
        .and_then(|l| l.split(' ').next())
        .unwrap()
        .to_string();
    assert_eq!(snap, format!("snapshot local=2 members={members} quorate=true votes=2"));

    // Ordered delivery: messages from node 1 arrive at node 2 (and back at node 1) in order.
    let n = 30;
    let t_send = Instant::now();
    for k in 0..n {
        c.agents[a1].cmd(&format!("send m{k:03}"));
    }
    for a in [a2, a1] {
        let mut got = Vec::new();
        while got.len() < n {
            let l = c.agents[a].wait_for("messages", LONG, |l| l.starts_with("msg "));
            // Lines are `msg FROM DATA PID`: compare without the pid.
            got.push(l.rsplit_once(' ').map(|(h, _)| h.to_string()).unwrap_or_default());
        }
        let want: Vec<String> = (0..n).map(|k| format!("msg 1 m{k:03}")).collect();
        assert_eq!(got, want, "order or content differs");
    }
    eprintln!("{n} ordered messages delivered to both nodes in {:?}", t_send.elapsed());

    // The largest message the layer accepts (CPG fragments it) arrives whole, in order.
    let t_big = Instant::now();
    let max = cluster_core::membership::MAX_MESSAGE;
    c.agents[a2].cmd(&format!("sendbig {max}"));
    c.agents[a2].cmd("send after-big");
    for a in [a1, a2] {
        let l = c.agents[a]
            .wait_for("big message", LONG, |l| l.starts_with("big ") || l.starts_with("msg "));
        assert!(l.starts_with(&format!("big 2 {max} intact=true ")), "{l}");
        let l = c.agents[a].wait_for("message after the big one", LONG, |l| l.starts_with("msg "));
        assert!(l.starts_with("msg 2 after-big "), "{l}");
    }
    eprintln!("{max} byte message delivered to both nodes in {:?}", t_big.elapsed());

    // Stop corosync on node 2: node 1 sees the group shrink and stays quorate (two_node).
    let t_stop = Instant::now();
    c.stop_corosync(2);
    let (l, q) = c.agents[a1].wait_both(
        "node 2 leaving the group and the quorum",
        |l| members_are(l, &[1]),
        |l| is_quorum(l) && field(l, "votes") == Some("1"),
    );
    assert_eq!(field(&l, "dc"), Some("1"), "{l}");
    assert_eq!(field(&q, "quorate"), Some("true"), "two_node must keep quorum: {q}");
    assert_eq!(field(&q, "nodes"), Some("1"), "{q}");
    // A graceful corosync stop takes its clients out of their groups first (corosync 3.1
    // reports that as an orderly leave); a crash or a cut link reports NodeDown (see below).
    // When node 2's client sees its corosync go and exits before the leave is delivered,
    // node 1 hears of the client's end first: ProcessDown.
    assert!(l.ends_with(":Left") || l.ends_with(":NodeDown") || l.ends_with(":ProcessDown"), "{l}");
    eprintln!("node 1 saw node 2 go after {:?}", t_stop.elapsed());
    // The agent on node 2 learns that its corosync is gone.
    let l = c.agents[a2].wait_for("disconnect", LONG, |l| l.starts_with("disconnected"));
    eprintln!("node 2 agent: {l}");

    // Node 1 still delivers to itself, then leaves and finalizes cleanly.
    c.agents[a1].cmd("send alone");
    c.agents[a1].wait_for("own message", LONG, |l| l.starts_with("msg 1 alone "));
    c.agents[a1].cmd("quit");
    let bye = c.agents[a1].wait_for("clean shutdown", LONG, |l| l.starts_with("bye "));
    assert!(bye.ends_with("Ok(())"), "{bye}");
    eprintln!("agent 1: {bye}; whole test {:?}", t_start.elapsed());
}

#[test]
fn partition_and_merge_real_corosync() {
    if let Some(why) = skip_reason() {
        println!("SKIP partition_and_merge_real_corosync: {why}");
        return;
    }
    let t_start = Instant::now();
    // Node 2 has no name in this corosync.conf: its ring0_addr stands in (checked in formed).
    let (mut c, a1, a2) = formed("rmep", "10.213.158", true);

    // A clean leave of node 2's daemon: node 1 sees it leave CPG; votequorum is unchanged.
    c.agents[a2].cmd("quit");
    c.agents[a2].wait_for("clean shutdown", LONG, |l| l.starts_with("bye "));
    let l = c.agents[a1].wait_for("daemon on node 2 leaving", LONG, |l| members_are(l, &[1]));
    assert!(l.contains(" left=2:") && l.ends_with(":Left"), "{l}");
    let a2 = c.spawn_agent(2);
    c.agents[a2].wait_for("rejoined", LONG, |l| members_are(l, &[1, 2]));
    c.agents[a1].wait_for("node 2 back", LONG, |l| members_are(l, &[1, 2]));

    // The daemon on node 2 is killed: CPG reports a process gone, the node stays.
    c.agents[a2].child.kill().unwrap();
    let l = c.agents[a1].wait_for("daemon on node 2 killed", LONG, |l| members_are(l, &[1]));
    assert!(l.contains(" left=2:") && l.ends_with(":ProcessDown"), "{l}");
    let a2 = c.spawn_agent(2);
    c.agents[a2].wait_for("rejoined", LONG, |l| members_are(l, &[1, 2]));
    c.agents[a1].wait_for("node 2 back", LONG, |l| members_are(l, &[1, 2]));

    // Cut node 2's link: each side sees only itself, both keep quorum (two_node without a
    // fence device means both halves are quorate: that is why Pacemaker wants fencing).
    let t_cut = Instant::now();
    c.link(2, false);
    for (a, id) in [(a1, 1u32), (a2, 2)] {
        let (l, q) = c.agents[a].wait_both(
            "partitioned",
            |l| members_are(l, &[id]) && l.ends_with(":NodeDown"),
            |l| is_quorum(l) && field(l, "votes") == Some("1"),
        );
        assert_eq!(field(&l, "dc"), Some(id.to_string().as_str()), "{l}");
        assert_eq!(field(&q, "quorate"), Some("true"), "{q}");
    }
    eprintln!("partition seen by both sides after {:?}", t_cut.elapsed());

    // Heal: the membership merges, both agree on the DC again, messages flow in order.
    let t_heal = Instant::now();
    c.link(2, true);
    for a in [a1, a2] {
        let (l, _) = c.agents[a].wait_both(
            "merged",
            |l| members_are(l, &[1, 2]),
            |l| is_quorum(l) && field(l, "votes") == Some("2"),
        );
        assert_eq!(field(&l, "dc"), Some("1"), "{l}");
    }
    eprintln!("merge seen by both sides after {:?}", t_heal.elapsed());
    for k in 0..5 {
        c.agents[a2].cmd(&format!("send p{k}"));
    }
    for a in [a1, a2] {
        for k in 0..5 {
            let l = c.agents[a].wait_for("message after merge", LONG, |l| l.starts_with("msg "));
            assert!(l.starts_with(&format!("msg 2 p{k} ")), "{l}");
        }
    }
    eprintln!("whole partition test {:?}", t_start.elapsed());
}

/// Runs inside a node's namespace when started by `two_nodes_real_corosync` (does nothing
/// otherwise): joins the group and reports events as `RMEM ...` lines on stdout.
#[test]
#[ignore = "helper process for two_nodes_real_corosync"]
fn agent() {
    let Ok(group) = std::env::var(AGENT_ENV) else { return };
    let mut m = match CorosyncMembership::connect(&group) {
        Ok(m) => m,
        Err(e) => {
            println!("RMEM error {e}");
            return;
        }
    };
    println!("RMEM local {}", m.local_node_id());
    let (tx, cmds) = channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    loop {
        while let Ok(cmd) = cmds.try_recv() {
            if let Some(text) = cmd.strip_prefix("send ") {
                if let Err(e) = m.send(text.as_bytes()) {
                    println!("RMEM error send: {e}");
                }
            } else if let Some(n) = cmd.strip_prefix("sendbig ") {
                // n bytes of a pattern the receiver can check.
                let n: usize = n.parse().unwrap();
                let data: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
                if let Err(e) = m.send(&data) {
                    println!("RMEM error send: {e}");
                }
            } else if cmd == "snapshot" {
                match cluster_core::membership::corosync::snapshot(&group) {
                    Ok(snap) => {
                        let l: Vec<String> = snap
                            .members
                            .iter()
                            .map(|x| format!("{}:{}:{}", x.node_id, x.name, x.pid))
                            .collect();
                        println!(
                            "RMEM snapshot local={} members={} quorate={} votes={}",
                            snap.local,
                            l.join(","),
                            snap.quorum.quorate,
                            snap.quorum.votes
                        );
                    }
                    Err(e) => println!("RMEM error snapshot: {e}"),
                }
            } else if cmd == "quit" {
                let t0 = Instant::now();
                let res = m.shutdown();
                println!("RMEM bye {:?} {res:?}", t0.elapsed());
                return;
            }
        }
        match m.next_event(Duration::from_millis(20)) {
            Ok(Some(MembershipEvent::MembersChanged { members, left, .. })) => {
                let show = |v: &[cluster_core::membership::Member]| {
                    let l: Vec<String> =
                        v.iter().map(|x| format!("{}:{}:{}", x.node_id, x.name, x.pid)).collect();
                    l.join(",")
                };
                let dc = choose_dc(&members).map(|d| d.to_string()).unwrap_or_default();
                let gone: Vec<String> = left
                    .iter()
                    .map(|d| {
                        let x = &d.member;
                        format!("{}:{}:{}:{:?}", x.node_id, x.name, x.pid, d.reason)
                    })
                    .collect();
                println!("RMEM members {} dc={dc} left={}", show(&members), gone.join(","));
            }
            Ok(Some(MembershipEvent::QuorumChanged(q))) => {
                let nodes: Vec<String> = q.nodes.iter().map(|n| n.to_string()).collect();
                println!(
                    "RMEM quorum quorate={} votes={} expected={} quorum={} two_node={} wait_for_all={} nodes={}",
                    q.quorate, q.votes, q.expected, q.quorum, q.two_node, q.wait_for_all, nodes.join(",")
                );
            }
            Ok(Some(MembershipEvent::Message { from, pid, data })) if data.len() > 1000 => {
                let intact = data.iter().enumerate().all(|(i, b)| *b == (i % 251) as u8);
                println!("RMEM big {from} {} intact={intact} {pid}", data.len());
            }
            Ok(Some(MembershipEvent::Message { from, pid, data })) => {
                println!("RMEM msg {from} {} {pid}", String::from_utf8_lossy(&data));
            }
            Ok(Some(MembershipEvent::Disconnected { reason })) => {
                println!("RMEM disconnected {reason}");
                return;
            }
            Ok(None) => {}
            Err(e) => {
                println!("RMEM error {e}");
                return;
            }
        }
    }
}

#[test]
fn bad_group_name_is_rejected_before_connecting() {
    use cluster_core::membership::MembershipError;
    for name in [String::new(), "x".repeat(128), "a\0b".to_string()] {
        match CorosyncMembership::connect(&name) {
            Err(MembershipError::BadGroupName(n)) => assert_eq!(n, name),
            other => panic!("{name:?}: {other:?}"),
        }
    }
}
