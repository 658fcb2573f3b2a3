//! ocf:heartbeat:IPaddr2 run by the executor inside a network namespace the test creates.

mod exec_common;

use cluster_core::exec::interpret::{classify, expected_rc, Outcome};
use cluster_core::exec::{AgentRequest, OcfExit};
use exec_common::{runner, sh, Netns};

#[test]
fn exec_ipaddr2_in_netns() {
    let tmp = tempfile::tempdir().unwrap();
    let ns = Netns::new(&format!("rexec-ip-{}", std::process::id()), "rxva", "10.213.91.1/24");
    let mut r = runner(tmp.path());
    let vip = AgentRequest::ocf("rexec-vip", "heartbeat", "IPaddr2", "monitor")
        .with_param("ip", "10.213.91.50")
        .with_param("cidr_netmask", "24")
        .with_param("nic", "rxva")
        .with_netns(&ns.name);
    let run = |r: &mut _, a: &str, iv: u64| exec_common_run(r, &vip, a, iv);

    assert_eq!(run(&mut r, "validate-all", 0).rc, OcfExit::Ok);
    assert_eq!(run(&mut r, "monitor", 0).rc, OcfExit::NotRunning);
    let start = run(&mut r, "start", 0);
    assert_eq!(start.rc, OcfExit::Ok, "{start:?}");
    assert!(ns.addrs().contains("inet 10.213.91.50/24"), "{}", ns.addrs());
    // The root namespace is untouched.
    assert!(!sh(&["ip", "-o", "addr", "show"]).contains("10.213.91.50"));
    assert_eq!(run(&mut r, "monitor", 10_000).rc, OcfExit::Ok);

    // Failure: the address is removed behind the agent's back.
    sh(&["ip", "-n", &ns.name, "addr", "del", "10.213.91.50/24", "dev", "rxva"]);
    let mon = run(&mut r, "monitor", 10_000);
    assert_eq!(mon.rc, OcfExit::NotRunning, "{mon:?}");
    let exp = expected_rc("monitor", 10_000, false);
    assert!(matches!(classify("monitor", 10_000, exp, &mon), Outcome::Failed(_)));

    // Recovery: stop (idempotent), start again, stop.
    assert_eq!(run(&mut r, "stop", 0).rc, OcfExit::Ok);
    assert_eq!(run(&mut r, "start", 0).rc, OcfExit::Ok);
    assert!(ns.addrs().contains("10.213.91.50"));
    assert_eq!(run(&mut r, "stop", 0).rc, OcfExit::Ok);
    assert!(!ns.addrs().contains("10.213.91.50"));
    assert_eq!(run(&mut r, "monitor", 0).rc, OcfExit::NotRunning);

    // An address on no local subnet: start fails with the agent's reason.
    let bad = vip.clone().with_param("ip", "10.213.199.5");
    let mut bad = bad;
    bad.params.remove("nic");
    bad.params.remove("cidr_netmask");
    let res = exec_common_run(&mut r, &bad, "start", 0);
    assert_eq!(res.rc, OcfExit::ErrGeneric, "{res:?}");
    assert_eq!(res.exit_reason.as_deref(), Some("[findif] failed"));
    // Without the ip parameter: not configured (fatal).
    let mut noip = vip.clone();
    noip.params.remove("ip");
    let res = exec_common_run(&mut r, &noip, "start", 0);
    assert_eq!(res.rc, OcfExit::NotConfigured, "{res:?}");
}

fn exec_common_run(
    r: &mut cluster_core::exec::ProcessRunner,
    base: &AgentRequest,
    action: &str,
    interval_ms: u64,
) -> cluster_core::exec::OpResult {
    r.run(base.for_action(action, interval_ms))
}

#[test]
fn exec_timeout_inside_netns_kills_group() {
    use cluster_core::exec::{ExecConfig, ExecStatus, ProcessRunner};
    let tmp = tempfile::tempdir().unwrap();
    let ns = Netns::new(&format!("rexec-to-{}", std::process::id()), "rxvt", "10.213.91.129/25");
    let root = tmp.path().join("ocf");
    exec_common::script(&root.join("resource.d/rexec/slow"), "#!/bin/sh\nsleep 300 &\nsleep 300\n");
    let cfg = ExecConfig {
        ocf_root: root,
        kill_grace_ms: 300,
        rsctmp: tmp.path().into(),
        ..ExecConfig::default()
    };
    let mut r = ProcessRunner::new(cfg);
    let req =
        AgentRequest::ocf("s", "rexec", "slow", "start").with_netns(&ns.name).with_timeout_ms(500);
    let res = r.run(req);
    assert_eq!(res.status, ExecStatus::Timeout, "{res:?}");
    let mut left = String::from("?");
    for _ in 0..200 {
        left = sh(&["ip", "netns", "pids", &ns.name]);
        if left.trim().is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(left.trim(), "", "processes left in the namespace");
}
