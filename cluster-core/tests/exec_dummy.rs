//! Executor tests with Debian's ocf:heartbeat:Dummy, ocf:pacemaker:Stateful and agents written
//! on the fly into a temporary OCF_ROOT (environment dump, slow agent, chatty agent, LSB).

mod exec_common;

use std::collections::BTreeMap;
use std::time::Duration;

use cluster_core::exec::interpret::{classify, expected_rc, Outcome};
use cluster_core::exec::recurring::{Clock, RecurringOps};
use cluster_core::exec::{
    AgentClass, AgentRequest, AgentRunner, CloneInstance, ExecConfig, ExecStatus, NotifyVars,
    OcfExit, ProcessRunner,
};
use exec_common::{alive, runner, script};

fn dummy(rsc: &str, action: &str, interval_ms: u64) -> AgentRequest {
    AgentRequest::ocf(rsc, "heartbeat", "Dummy", action).with_interval_ms(interval_ms)
}

#[test]
fn exec_dummy_lifecycle() {
    let tmp = tempfile::tempdir().unwrap();
    let mut r = runner(tmp.path());
    let rsc = "rexec-d1";
    let probe = r.run(dummy(rsc, "monitor", 0));
    assert_eq!((probe.rc, probe.status), (OcfExit::NotRunning, ExecStatus::Done), "{probe:?}");
    assert_eq!(classify("monitor", 0, expected_rc("monitor", 0, false), &probe), Outcome::Inactive);
    // A probe of a stopped Dummy is silent: no exit reason.
    assert_eq!(probe.exit_reason, None);

    let start = r.run(dummy(rsc, "start", 0));
    assert_eq!(start.rc, OcfExit::Ok, "{start:?}");
    assert!(tmp.path().join(format!("Dummy-{rsc}.state")).exists());
    let probe = r.run(dummy(rsc, "monitor", 0));
    assert_eq!(probe.rc, OcfExit::Ok);
    let exp = expected_rc("monitor", 0, false);
    assert_eq!(classify("monitor", 0, exp, &probe), Outcome::FoundActive { promoted: false });
    let mon = r.run(dummy(rsc, "monitor", 10_000));
    assert_eq!(mon.rc, OcfExit::Ok);
    assert_eq!(r.run(dummy(rsc, "validate-all", 0)).rc, OcfExit::Ok);

    assert_eq!(r.run(dummy(rsc, "stop", 0)).rc, OcfExit::Ok);
    assert_eq!(r.run(dummy(rsc, "stop", 0)).rc, OcfExit::Ok, "stop is idempotent");
    let mon = r.run(dummy(rsc, "monitor", 10_000));
    assert_eq!(mon.rc, OcfExit::NotRunning);
    // A recurring monitor (not a probe) gives the reason, parsed from stderr.
    assert_eq!(mon.exit_reason.as_deref(), Some("No process state file found"));
    let exp = expected_rc("monitor", 10_000, false);
    assert!(matches!(classify("monitor", 10_000, exp, &mon), Outcome::Failed(_)));

    let bogus = r.run(dummy(rsc, "bogus", 0));
    assert_eq!(bogus.rc, OcfExit::Unimplemented);
    let md = r.run(dummy(rsc, "meta-data", 0));
    assert_eq!(md.rc, OcfExit::Ok);
    assert!(md.stdout.contains("<resource-agent name=\"Dummy\""), "{}", md.stdout);
}

#[test]
fn exec_not_installed_and_invalid() {
    let tmp = tempfile::tempdir().unwrap();
    let mut r = runner(tmp.path());
    let res = r.run(AgentRequest::ocf("x", "heartbeat", "NoSuchAgent", "monitor"));
    assert_eq!((res.rc, res.status), (OcfExit::NotInstalled, ExecStatus::NotInstalled));
    // A probe of a missing agent: "cannot run here", not a failure.
    assert_eq!(classify("monitor", 0, OcfExit::NotRunning, &res), Outcome::Inactive);
    let res = r.run(AgentRequest::ocf("x", "heartbeat", "../heartbeat/Dummy", "start"));
    assert_eq!((res.rc, res.status), (OcfExit::NotConfigured, ExecStatus::ErrorFatal));
    let res = r.run(AgentRequest::ocf("x", "no-provider", "Dummy", "start"));
    assert_eq!(res.status, ExecStatus::NotInstalled);
}

fn env_of(stdout: &str) -> BTreeMap<String, String> {
    stdout
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn exec_environment_is_exact() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("ocf");
    script(
        &root.join("resource.d/rexec/envdump"),
        "#!/bin/sh\nenv\necho 'ocf-exit-reason:dumped' >&2\nexit 0\n",
    );
    let cfg = ExecConfig {
        ocf_root: root.clone(),
        path_prefix: vec!["/opt/rexec/bin".into()],
        sbin_dir: Some("/opt/rexec/bin".into()),
        ..ExecConfig::default()
    };
    let mut r = ProcessRunner::new(cfg);
    let mut req = AgentRequest::ocf("web", "rexec", "envdump", "notify")
        .with_param("ip", "10.213.91.5")
        .with_meta("target-role", "Started")
        .with_meta("clone-max", "2")
        .with_interval_ms(0)
        .with_timeout_ms(30_000);
    req.check_level = Some(10);
    req.clone = Some(CloneInstance { number: 1, globally_unique: true });
    req.notify = Some(NotifyVars {
        notify_type: "post".into(),
        operation: "promote".into(),
        promote: vec![("web:1".into(), "node2".into())],
        promoted: vec![("web:1".into(), "node2".into())],
        unpromoted: vec![("web:0".into(), "node1".into())],
        all_uname: vec!["node1".into(), "node2".into()],
        ..NotifyVars::default()
    });
    let res = r.run(req);
    assert_eq!(res.rc, OcfExit::Ok, "{res:?}");
    assert_eq!(res.exit_reason.as_deref(), Some("dumped"));
    let env = env_of(&res.stdout);
    let want = [
        ("OCF_ROOT", root.display().to_string()),
        ("OCF_RA_VERSION_MAJOR", "1".into()),
        ("OCF_RA_VERSION_MINOR", "1".into()),
        ("OCF_RESOURCE_INSTANCE", "web:1".into()),
        ("OCF_RESOURCE_TYPE", "envdump".into()),
        ("OCF_RESOURCE_PROVIDER", "rexec".into()),
        ("OCF_EXIT_REASON_PREFIX", "ocf-exit-reason:".into()),
        ("OCF_RESKEY_crm_feature_set", "3.16.2".into()),
        ("OCF_RESKEY_ip", "10.213.91.5".into()),
        ("OCF_CHECK_LEVEL", "10".into()),
        ("OCF_RESKEY_CRM_meta_target_role", "Started".into()),
        ("OCF_RESKEY_CRM_meta_clone_max", "2".into()),
        ("OCF_RESKEY_CRM_meta_clone", "1".into()),
        ("OCF_RESKEY_CRM_meta_globally_unique", "true".into()),
        ("OCF_RESKEY_CRM_meta_interval", "0".into()),
        ("OCF_RESKEY_CRM_meta_timeout", "30000".into()),
        ("OCF_RESKEY_CRM_meta_name", "notify".into()),
        ("OCF_RESKEY_CRM_meta_id", "web".into()),
        ("OCF_RESKEY_CRM_meta_class", "ocf".into()),
        ("OCF_RESKEY_CRM_meta_provider", "rexec".into()),
        ("OCF_RESKEY_CRM_meta_type", "envdump".into()),
        ("OCF_RESKEY_CRM_meta_notify_type", "post".into()),
        ("OCF_RESKEY_CRM_meta_notify_operation", "promote".into()),
        ("OCF_RESKEY_CRM_meta_notify_key_operation", "promoted".into()),
        ("OCF_RESKEY_CRM_meta_notify_promote_resource", "web:1 ".into()),
        ("OCF_RESKEY_CRM_meta_notify_promoted_uname", "node2 ".into()),
        ("OCF_RESKEY_CRM_meta_notify_master_uname", "node2 ".into()),
        ("OCF_RESKEY_CRM_meta_notify_slave_resource", "web:0 ".into()),
        ("OCF_RESKEY_CRM_meta_notify_stop_resource", " ".into()),
        ("OCF_RESKEY_CRM_meta_notify_all_uname", "node1 node2 ".into()),
        ("PATH", "/opt/rexec/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()),
        ("HA_SBIN_DIR", "/opt/rexec/bin".into()),
        ("HA_LOGFACILITY", "none".into()),
        ("HA_debug", "0".into()),
        ("HA_RSCTMP", "/run/resource-agents".into()),
        ("PCMK_service", "pacemaker-execd".into()),
    ];
    for (k, v) in want {
        assert_eq!(env.get(k), Some(&v), "variable {k}");
    }
    assert!(!env.contains_key("HOME"), "the environment is cleared");
    // Anonymous clones see the base id.
    let mut req = AgentRequest::ocf("d2", "rexec", "envdump", "monitor");
    req.clone = Some(CloneInstance { number: 3, globally_unique: false });
    let env = env_of(&r.run(req).stdout);
    assert_eq!(env.get("OCF_RESOURCE_INSTANCE").map(String::as_str), Some("d2"));
}

#[test]
fn exec_timeout_kills_whole_group() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("ocf");
    let pidfile = tmp.path().join("child.pid");
    // The agent starts a child that ignores SIGTERM, records its pid, then sleeps itself.
    let body = format!(
        "#!/bin/sh\n(trap '' TERM; exec sleep 300) &\necho $! > {}\necho started\nsleep 300\n",
        pidfile.display()
    );
    script(&root.join("resource.d/rexec/slow"), &body);
    let cfg = ExecConfig { ocf_root: root, kill_grace_ms: 300, ..ExecConfig::default() };
    let mut r = ProcessRunner::new(cfg);
    let req = AgentRequest::ocf("slow1", "rexec", "slow", "start").with_timeout_ms(700);
    let res = r.run(req);
    assert_eq!((res.rc, res.status), (OcfExit::ErrGeneric, ExecStatus::Timeout), "{res:?}");
    assert!(res.duration_ms >= 700 && res.duration_ms < 5_000, "{}", res.duration_ms);
    assert!(res.stdout.contains("started"));
    let pid: u32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
    for _ in 0..100 {
        if !alive(pid) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!alive(pid), "child {pid} of the timed-out agent survived");

    // An agent that ignores SIGTERM altogether gets SIGKILL after the grace period.
    let root = r.config().ocf_root.clone();
    script(
        &root.join("resource.d/rexec/stubborn"),
        "#!/bin/sh
trap '' TERM
sleep 300
exit 0
",
    );
    let req = AgentRequest::ocf("stubborn1", "rexec", "stubborn", "stop").with_timeout_ms(500);
    let res = r.run(req);
    assert_eq!(res.status, ExecStatus::Timeout, "{res:?}");
    assert!(res.duration_ms >= 800 && res.duration_ms < 5_000, "{}", res.duration_ms);
    assert_eq!(res.exit_reason.as_deref(), Some("stop timed out after 500 ms"));
}

#[test]
fn exec_output_is_bounded_and_concurrency_limited() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("ocf");
    // 1 MiB on stdout and on stderr: more than a pipe holds, so an unbounded reader or a
    // reader that stops reading would deadlock.
    script(
        &root.join("resource.d/rexec/chatty"),
        "#!/bin/sh\nhead -c 1048576 /dev/zero | tr '\\0' a\nhead -c 1048576 /dev/zero | tr '\\0' b >&2\necho 'ocf-exit-reason:too chatty' >&2\nexit 1\n",
    );
    script(&root.join("resource.d/rexec/nap"), "#!/bin/sh\nsleep 0.3\nexit 7\n");
    let cfg = ExecConfig {
        ocf_root: root,
        output_limit_bytes: 4096,
        max_concurrent: 2,
        ..ExecConfig::default()
    };
    let mut r = ProcessRunner::new(cfg);
    let res = r.run(AgentRequest::ocf("c", "rexec", "chatty", "start"));
    assert_eq!(res.rc, OcfExit::ErrGeneric);
    assert!(res.stdout.len() < 4200 && res.stdout.starts_with("aaaa"), "{}", res.stdout.len());
    assert!(res.stdout.contains("1044480 bytes of output dropped"), "{}", &res.stdout[4090..]);
    assert!(res.stderr.contains("bytes of output dropped"));

    let ids: Vec<_> = (0..5)
        .map(|i| r.start(AgentRequest::ocf(&format!("n{i}"), "rexec", "nap", "monitor")))
        .collect();
    assert_eq!(r.running_count(), 2);
    assert_eq!(r.queued_count(), 3);
    let mut seen = Vec::new();
    let mut max_running = 0;
    for _ in 0..1000 {
        max_running = max_running.max(r.running_count());
        if let Some((id, res)) = r.poll_result() {
            assert_eq!(res.rc, OcfExit::NotRunning);
            seen.push(id);
        }
        if seen.len() == ids.len() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    // Two run at once, so completions of one wave may come in either order; what FIFO
    // queueing guarantees: n2 and n3 start only when n0 or n1 has finished, and n4 only when
    // two of those have, so n4 finishes after both n0 and n1.
    let mut sorted = seen.clone();
    sorted.sort_by_key(|id| ids.iter().position(|x| x == id));
    assert_eq!(sorted, ids, "every request completes once: {seen:?}");
    let pos = |k: usize| seen.iter().position(|x| *x == ids[k]).unwrap();
    let first_wave = pos(0).min(pos(1));
    assert!(pos(2) > first_wave && pos(3) > first_wave, "queued before running: {seen:?}");
    assert!(pos(4) > pos(0) && pos(4) > pos(1), "n4 jumped the queue: {seen:?}");
    assert!(max_running <= 2);

    // A queue bound of 1: with both slots busy, the second waiting request is refused.
    let root = r.config().ocf_root.clone();
    let cfg =
        ExecConfig { ocf_root: root, max_concurrent: 2, max_queued: 1, ..ExecConfig::default() };
    let mut r = ProcessRunner::new(cfg);
    let ids: Vec<_> = (0..4)
        .map(|i| r.start(AgentRequest::ocf(&format!("q{i}"), "rexec", "nap", "monitor")))
        .collect();
    let refused = r.wait_for(ids[3], Duration::from_millis(10)).expect("refused at once");
    assert_eq!(
        (refused.status, refused.exit_reason.as_deref()),
        (ExecStatus::Error, Some("queue full"))
    );
    for id in &ids[..3] {
        assert_eq!(r.wait_for(*id, Duration::from_secs(10)).unwrap().rc, OcfExit::NotRunning);
    }
}

#[test]
fn exec_lsb_status_mapping_and_systemd_absent() {
    let tmp = tempfile::tempdir().unwrap();
    let initd = tmp.path().join("init.d");
    let state = tmp.path().join("running");
    let body = format!(
        "#!/bin/sh\ncase \"$1\" in\nstart) touch {s};;\nstop) rm -f {s};;\nstatus) [ -e {s} ] && exit 0; exit 3;;\n*) exit 3;;\nesac\n",
        s = state.display()
    );
    script(&initd.join("rexec-svc"), &body);
    script(&initd.join("rexec-dead"), "#!/bin/sh\n[ \"$1\" = status ] && exit 1\nexit 0\n");
    let cfg = ExecConfig {
        lsb_dir: initd,
        systemctl: "/nonexistent/systemctl".into(),
        ..ExecConfig::default()
    };
    let mut r = ProcessRunner::new(cfg);
    let lsb = |a: &str| AgentRequest::new("svc", AgentClass::Lsb, "rexec-svc", a);
    assert_eq!(r.run(lsb("monitor")).rc, OcfExit::NotRunning, "status 3 -> 7");
    assert_eq!(r.run(lsb("start")).rc, OcfExit::Ok);
    assert_eq!(r.run(lsb("monitor")).rc, OcfExit::Ok);
    assert_eq!(r.run(lsb("stop")).rc, OcfExit::Ok);
    assert_eq!(r.run(lsb("reload")).rc, OcfExit::Unimplemented, "3 on a non-status action");
    let dead = AgentRequest::new("d", AgentClass::Lsb, "rexec-dead", "monitor");
    assert_eq!(r.run(dead).rc, OcfExit::NotRunning, "status 1 (dead, pid file) -> 7");
    // service: falls back to LSB without systemd.
    let svc = AgentRequest::new("svc", AgentClass::Service, "rexec-svc", "monitor");
    assert_eq!(r.run(svc).rc, OcfExit::NotRunning);
    let sd = r.run(AgentRequest::new("u", AgentClass::Systemd, "rexec.service", "start"));
    assert_eq!((sd.rc, sd.status), (OcfExit::NotInstalled, ExecStatus::NotInstalled));
    let missing = r.run(AgentRequest::new("m", AgentClass::Lsb, "rexec-missing", "start"));
    assert_eq!(missing.status, ExecStatus::NotInstalled);
}

struct ManualClock(u64);
impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0
    }
}

#[test]
fn exec_recurring_monitor_detects_failure() {
    let tmp = tempfile::tempdir().unwrap();
    let mut r = runner(tmp.path());
    let rsc = "rexec-rec";
    assert_eq!(r.run(dummy(rsc, "start", 0)).rc, OcfExit::Ok);
    let mut clock = ManualClock(0);
    let mut rec = RecurringOps::new(16);
    rec.add(dummy(rsc, "monitor", 10_000), clock.now_ms()).unwrap();
    assert!(rec.add(dummy(rsc, "monitor", 0), 0).is_err());
    let mut results = Vec::new();
    // Simulated time: 35 s pass in steps of 1 s, the state file is removed at t = 15 s.
    while clock.0 <= 35_000 {
        if clock.0 == 15_000 {
            std::fs::remove_file(tmp.path().join(format!("Dummy-{rsc}.state"))).unwrap();
        }
        rec.tick(clock.now_ms(), &mut r);
        // Let the started runs complete before the simulated clock moves on.
        while r.running_count() > 0 || r.queued_count() > 0 {
            std::thread::sleep(Duration::from_millis(5));
            if let Some((id, res)) = r.poll_result() {
                let up = rec.on_result(id, &res, clock.now_ms()).expect("a recurring run");
                results.push((clock.0, res.rc, up.changed));
            }
        }
        while let Some((id, res)) = r.poll_result() {
            let up = rec.on_result(id, &res, clock.now_ms()).expect("a recurring run");
            results.push((clock.0, res.rc, up.changed));
        }
        clock.0 += 1_000;
    }
    let want = vec![
        (0, OcfExit::Ok, true),
        (10_000, OcfExit::Ok, false),
        (20_000, OcfExit::NotRunning, true),
        (30_000, OcfExit::NotRunning, false),
    ];
    assert_eq!(results, want);
    assert_eq!(rec.remove(&format!("{rsc}_monitor_10000")), None);
    assert!(rec.is_empty());
}

#[test]
fn exec_stateful_without_cluster_helpers() {
    let tmp = tempfile::tempdir().unwrap();
    let mut r = runner(tmp.path());
    let base = AgentRequest::ocf("rexec-st", "pacemaker", "Stateful", "monitor")
        .with_param("state", tmp.path().join("st.state").to_str().unwrap())
        .with_meta("clone-max", "2")
        .with_meta("promotable", "true")
        .with_meta("on_node", "node1");
    let mut base = base;
    base.clone = Some(CloneInstance { number: 0, globally_unique: false });
    let run = |r: &mut ProcessRunner, a: &str, iv: u64| r.run(base.for_action(a, iv));
    assert_eq!(run(&mut r, "monitor", 0).rc, OcfExit::NotRunning);
    assert_eq!(run(&mut r, "start", 0).rc, OcfExit::Ok);
    assert_eq!(run(&mut r, "monitor", 10_000).rc, OcfExit::Ok);
    assert_eq!(run(&mut r, "promote", 0).rc, OcfExit::Ok);
    let m = run(&mut r, "monitor", 10_000);
    assert_eq!(m.rc, OcfExit::RunningPromoted);
    assert_eq!(
        classify("monitor", 10_000, expected_rc("monitor", 10_000, true), &m),
        Outcome::Success
    );
    assert_eq!(run(&mut r, "demote", 0).rc, OcfExit::Ok);
    assert_eq!(run(&mut r, "monitor", 11_000).rc, OcfExit::Ok);
    assert_eq!(run(&mut r, "stop", 0).rc, OcfExit::Ok);
    assert_eq!(run(&mut r, "monitor", 0).rc, OcfExit::NotRunning);
}

#[test]
fn exec_one_operation_per_resource_and_cancel() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("ocf");
    let log = tmp.path().join("serial.log");
    let body = format!(
        "#!/bin/sh\necho \"$OCF_RESOURCE_INSTANCE begin\" >> {l}\nsleep 0.5\necho \"$OCF_RESOURCE_INSTANCE end\" >> {l}\nexit 0\n",
        l = log.display()
    );
    script(&root.join("resource.d/rexec/serial"), &body);
    script(&root.join("resource.d/rexec/forever"), "#!/bin/sh\nsleep 300\n");
    let cfg = ExecConfig { ocf_root: root, max_concurrent: 4, ..ExecConfig::default() };
    let mut r = ProcessRunner::new(cfg);
    let a1 = r.start(AgentRequest::ocf("A", "rexec", "serial", "start"));
    let a2 = r.start(AgentRequest::ocf("A", "rexec", "serial", "monitor"));
    let b1 = r.start(AgentRequest::ocf("B", "rexec", "serial", "start"));
    assert_eq!((r.running_count(), r.queued_count()), (2, 1), "A's second op waits, B runs");
    for id in [a1, a2, b1] {
        assert_eq!(r.wait_for(id, Duration::from_secs(10)).unwrap().rc, OcfExit::Ok);
    }
    let text = std::fs::read_to_string(&log).unwrap();
    let a: Vec<&str> = text.lines().filter(|l| l.starts_with("A ")).collect();
    assert_eq!(a, ["A begin", "A end", "A begin", "A end"], "{text}");
    let first_a_end = text.lines().position(|l| l == "A end").unwrap();
    let b_begin = text.lines().position(|l| l == "B begin").unwrap();
    assert!(b_begin < first_a_end, "B ran alongside A: {text}");

    // Cancelling a running and a queued operation.
    let f1 = r.start(AgentRequest::ocf("F", "rexec", "forever", "start"));
    let f2 = r.start(AgentRequest::ocf("F", "rexec", "forever", "stop"));
    assert!(r.cancel(f2));
    assert!(r.cancel(f1));
    let res = r.wait_for(f1, Duration::from_secs(5)).unwrap();
    assert_eq!(res.status, ExecStatus::Cancelled);
    assert!(res.duration_ms < 3_000);
    assert_eq!(r.wait_for(f2, Duration::from_secs(1)).unwrap().status, ExecStatus::Cancelled);
    assert!(!r.cancel(f1), "already finished");
}

#[test]
fn exec_stateful_calls_helpers_from_sbin_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let sbin = tmp.path().join("sbin");
    let log = tmp.path().join("helper.log");
    // A stand-in for crm_attribute that records how the agent calls it.
    let body = format!(
        "#!/bin/sh\necho \"$* node=$OCF_RESKEY_CRM_meta_on_node rsc=$OCF_RESOURCE_INSTANCE\" >> {}\nexit 0\n",
        log.display()
    );
    script(&sbin.join("crm_attribute"), &body);
    let cfg = ExecConfig {
        sbin_dir: Some(sbin.clone()),
        path_prefix: vec![sbin],
        node_name: Some("node1".into()),
        rsctmp: tmp.path().to_path_buf(),
        ..ExecConfig::default()
    };
    let mut r = ProcessRunner::new(cfg);
    let mut base = AgentRequest::ocf("rexec-sh", "pacemaker", "Stateful", "start")
        .with_param("state", tmp.path().join("sh.state").to_str().unwrap())
        .with_meta("promotable", "true");
    base.clone = Some(CloneInstance { number: 0, globally_unique: false });
    for a in ["start", "promote", "demote", "stop"] {
        assert_eq!(r.run(base.for_action(a, 0)).rc, OcfExit::Ok, "{a}");
    }
    let calls = std::fs::read_to_string(&log).unwrap();
    let want = [
        "--promotion -v 5 node=node1 rsc=rexec-sh",
        "--promotion -v 10 node=node1 rsc=rexec-sh",
        "--promotion -v 5 node=node1 rsc=rexec-sh",
        "--promotion -D node=node1 rsc=rexec-sh",
    ];
    assert_eq!(calls.lines().collect::<Vec<_>>(), want);
}

#[test]
fn exec_executor_real_clock_reports_monitor_failure() {
    use cluster_core::exec::recurring::SystemClock;
    use cluster_core::exec::Executor;
    let tmp = tempfile::tempdir().unwrap();
    let rsctmp = tmp.path().join("rsctmp");
    let clock = SystemClock::new();
    let mut ex = Executor::new(runner(&rsctmp), 4);
    assert!(rsctmp.is_dir(), "the runner creates HA_RSCTMP");
    let rsc = "rexec-exe";
    ex.execute(dummy(rsc, "start", 0));
    ex.add_recurring(dummy(rsc, "monitor", 200), clock.now_ms()).unwrap();
    let mut events = Vec::new();
    let mut removed = false;
    while clock.now_ms() < 10_000 && events.len() < 3 {
        if let Some(ev) = ex.poll(clock.now_ms()) {
            events.push((ev.op_key.clone(), ev.result.rc, ev.outcome));
        }
        if events.len() == 2 && !removed {
            std::fs::remove_file(rsctmp.join(format!("Dummy-{rsc}.state"))).unwrap();
            removed = true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let key = format!("{rsc}_monitor_200");
    assert_eq!(events[0], (format!("{rsc}_start_0"), OcfExit::Ok, Outcome::Success));
    assert_eq!(events[1], (key.clone(), OcfExit::Ok, Outcome::Success));
    assert_eq!(events[2].0, key);
    assert_eq!(events[2].1, OcfExit::NotRunning);
    assert!(matches!(events[2].2, Outcome::Failed(_)));
    assert!(ex.cancel_recurring(&key));
}
