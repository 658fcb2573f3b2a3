//! The stonith class with Debian's fence_dummy (fence-agents): options on stdin, status codes,
//! pcmk_* parameters withheld, the host argument mapped through pcmk_host_map.

use cluster_core::exec::env::fence_stdin;
use cluster_core::exec::{
    AgentClass, AgentRequest, ExecConfig, ExecStatus, OcfExit, ProcessRunner,
};

#[test]
fn exec_stonith_fence_dummy() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("rexec-fence.status");
    let mut r = ProcessRunner::new(ExecConfig::default());
    let dev = AgentRequest::new("f-dummy", AgentClass::Stonith, "fence_dummy", "monitor")
        .with_param("type", "file")
        .with_param("status_file", state.to_str().unwrap())
        .with_param("pcmk_host_list", "node2")
        .with_param("pcmk_host_argument", "none");
    let fence = |r: &mut ProcessRunner, action: &str| {
        let mut q = dev.for_action(action, 0);
        q.fence_target = Some("node2".to_string());
        r.run(q)
    };
    assert_eq!(r.run(dev.for_action("start", 0)).rc, OcfExit::Ok);
    let st = fence(&mut r, "status");
    assert_eq!((st.rc, st.raw_exit), (OcfExit::NotRunning, Some(2)), "{st:?}");
    assert_eq!(st.stdout.trim(), "Status: OFF");
    assert_eq!(fence(&mut r, "on").rc, OcfExit::Ok);
    assert_eq!(fence(&mut r, "status").rc, OcfExit::Ok);
    let rb = fence(&mut r, "reboot");
    assert_eq!(rb.rc, OcfExit::Ok, "{rb:?}");
    assert_eq!(fence(&mut r, "off").rc, OcfExit::Ok);
    assert_eq!(fence(&mut r, "status").rc, OcfExit::NotRunning);
    let bad = fence(&mut r, "list");
    assert_eq!(
        (bad.rc, bad.status),
        (OcfExit::ErrGeneric, ExecStatus::Done),
        "no list in fence_dummy"
    );
    let md = r.run(dev.for_action("meta-data", 0));
    assert!(md.stdout.contains("<resource-agent name=\"fence_dummy\""), "{md:?}");
    // No warning about unknown options: pcmk_* stay with the fencer, no host argument sent.
    assert!(!st.stderr.contains("Ignoring unknown option"), "{}", st.stderr);
    let missing = r.run(AgentRequest::new("f", AgentClass::Stonith, "fence_rexec_none", "monitor"));
    assert_eq!(missing.status, ExecStatus::NotInstalled);
}

#[test]
fn exec_stonith_stdin_text() {
    let mut q = AgentRequest::new("f", AgentClass::Stonith, "fence_x", "off")
        .with_param("ip", "10.213.91.9")
        .with_param("pcmk_host_map", "node1:plug1;node2:plug2")
        .with_param("pcmk_delay_max", "5");
    q.fence_target = Some("node2".into());
    assert_eq!(fence_stdin(&q, "off"), "action=off\nip=10.213.91.9\nnodename=node2\nport=plug2\n");
    q = q.with_param("pcmk_host_argument", "plug");
    q.fence_target = Some("node3".into());
    assert_eq!(
        fence_stdin(&q, "reboot"),
        "action=reboot\nip=10.213.91.9\nnodename=node3\nplug=node3\n"
    );
}
