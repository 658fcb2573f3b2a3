//! ocf:heartbeat:Filesystem mounting ext4 from a loop device over a temporary file.

mod exec_common;

use cluster_core::exec::{AgentRequest, OcfExit};
use exec_common::{runner, LoopDev};

#[test]
fn exec_filesystem_ext4_on_loop() {
    let tmp = tempfile::tempdir().unwrap();
    let lo = LoopDev::ext4(tmp.path(), 32, tmp.path().join("rexec-mnt"));
    let mut r = runner(tmp.path());
    let fs = AgentRequest::ocf("rexec-fs", "heartbeat", "Filesystem", "monitor")
        .with_param("device", &lo.dev)
        .with_param("directory", lo.mountpoint.to_str().unwrap())
        .with_param("fstype", "ext4")
        .with_timeout_ms(60_000);
    let run = |r: &mut cluster_core::exec::ProcessRunner, a: &str, iv: u64, lvl: Option<u32>| {
        let mut q = fs.for_action(a, iv);
        q.check_level = lvl;
        r.run(q)
    };
    assert_eq!(run(&mut r, "monitor", 0, None).rc, OcfExit::NotRunning);
    let start = run(&mut r, "start", 0, None);
    assert_eq!(start.rc, OcfExit::Ok, "{start:?}");
    assert!(lo.mounted());
    assert_eq!(run(&mut r, "monitor", 20_000, None).rc, OcfExit::Ok);
    // Depth 20 writes and reads a status file inside the mount.
    let deep = run(&mut r, "monitor", 20_000, Some(20));
    assert_eq!(deep.rc, OcfExit::Ok, "{deep:?}");
    std::fs::write(lo.mountpoint.join("data"), b"kept").unwrap();
    let stop = run(&mut r, "stop", 0, None);
    assert_eq!(stop.rc, OcfExit::Ok, "{stop:?}");
    assert!(!lo.mounted());
    assert_eq!(run(&mut r, "monitor", 20_000, None).rc, OcfExit::NotRunning);
    // Data survives a remount.
    assert_eq!(run(&mut r, "start", 0, None).rc, OcfExit::Ok);
    assert_eq!(std::fs::read(lo.mountpoint.join("data")).unwrap(), b"kept");
    assert_eq!(run(&mut r, "stop", 0, None).rc, OcfExit::Ok);

    let missing = fs.clone().with_param("device", "/dev/rexec-nonexistent");
    let res = r.run(missing.for_action("start", 0));
    assert_eq!(res.rc, OcfExit::NotInstalled, "{res:?}");
    assert!(res.exit_reason.unwrap_or_default().contains("Couldn't find device"));
}
