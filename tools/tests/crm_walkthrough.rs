//! The walkthrough's crm commands, verbatim, against a CIB file; Pacemaker's own
//! `crm_verify` judges the result.

#[path = "crm_common.rs"]
mod common;

use common::Sandbox;

/// Steps 5–9 and 14–18 as one-shot commands.
fn part1(sb: &Sandbox) {
    // Step 5.
    let (rc, help, _) = sb.crm(&["--help"], "");
    assert_eq!(rc, 0);
    assert!(help.contains("usage:") && help.contains("configure"));
    assert_eq!(sb.ok("configure show"), "node 1: node1\nnode 2: node2\n");
    // Step 6: Pacemaker complains while stonith is enabled without a device, not after.
    let (rc, out) = sb.crm_verify();
    assert_ne!(rc, 0, "crm_verify should reject stonith without devices: {out}");
    let e0 = sb.epoch();
    sb.ok("configure property stonith-enabled=false");
    assert_eq!(sb.epoch(), e0 + 1);
    let (rc, out) = sb.crm_verify();
    assert_eq!(rc, 0, "crm_verify after stonith-enabled=false: {out}");
    // Step 7, 8.
    sb.ok("configure property no-quorum-policy=ignore");
    sb.ok("configure primitive ClusterIP ocf:heartbeat:IPaddr2 params ip=10.213.40.9 cidr_netmask=32 op monitor interval=30s");
    // Step 9.
    let classes = sb.ok("ra classes");
    let lines: Vec<&str> = classes.lines().collect();
    assert_eq!(lines.len(), 4, "{classes}");
    assert_eq!((lines[0], lines[2], lines[3]), ("lsb", "service", "stonith"));
    assert!(
        lines[1].starts_with("ocf / ")
            && lines[1].contains(" heartbeat")
            && lines[1].contains(" pacemaker")
    );
    assert!(sb
        .ok("ra list ocf pacemaker")
        .starts_with("ClusterMon      Dummy           HealthCPU"));
    let hb = sb.ok("ra list ocf heartbeat");
    assert!(hb.contains("IPaddr2") && hb.contains("apache") && hb.contains("Filesystem"), "{hb}");
    // Steps 14–17.
    sb.ok("configure primitive WebSite ocf:heartbeat:apache params configfile=/etc/apache2/apache2.conf op monitor interval=1min");
    sb.ok("configure colocation website-with-ip INFINITY: WebSite ClusterIP");
    sb.ok("configure order apache-after-ip mandatory: ClusterIP WebSite");
    sb.ok("configure location prefer-node1 WebSite 50: node1");
    // Step 18.
    sb.ok("resource move WebSite node1");
    assert!(sb.cib().contains(
        r#"<rsc_location id="cli-prefer-WebSite" rsc="WebSite" role="Started" node="node1" score="INFINITY"/>"#
    ));
    assert!(sb
        .ok("configure show")
        .contains("location cli-prefer-WebSite WebSite role=Started inf: node1\n"));
    let (rc, out) = sb.crm_verify();
    assert_eq!(rc, 0, "{out}");
    sb.ok("resource unmove WebSite");
    assert!(!sb.cib().contains("cli-prefer-WebSite"));
}

const PART1_SHOW: &str = "node 1: node1
node 2: node2
primitive ClusterIP IPaddr2 \\
\tparams ip=10.213.40.9 cidr_netmask=32 \\
\top monitor interval=30s
primitive WebSite apache \\
\tparams configfile=\"/etc/apache2/apache2.conf\" \\
\top monitor interval=1min
order apache-after-ip Mandatory: ClusterIP WebSite
location prefer-node1 WebSite 50: node1
colocation website-with-ip inf: WebSite ClusterIP
property cib-bootstrap-options: \\
\tstonith-enabled=false \\
\tno-quorum-policy=ignore
";

#[test]
fn crm_walkthrough_part1_one_shot_commands() {
    let sb = Sandbox::new("wt1");
    part1(&sb);
    assert_eq!(sb.ok("configure show"), PART1_SHOW);
    let cib = sb.cib();
    for needle in [
        r#"<nvpair name="stonith-enabled" value="false" id="cib-bootstrap-options-stonith-enabled"/>"#,
        r#"<primitive id="ClusterIP" class="ocf" provider="heartbeat" type="IPaddr2">"#,
        r#"<nvpair name="ip" value="10.213.40.9" id="ClusterIP-instance_attributes-ip"/>"#,
        r#"<op name="monitor" interval="30s" id="ClusterIP-monitor-30s"/>"#,
        r#"<op name="monitor" interval="1min" id="WebSite-monitor-1min"/>"#,
        r#"<rsc_colocation id="website-with-ip" score="INFINITY" rsc="WebSite" with-rsc="ClusterIP"/>"#,
        r#"<rsc_order id="apache-after-ip" kind="Mandatory" first="ClusterIP" then="WebSite"/>"#,
        r#"<rsc_location id="prefer-node1" rsc="WebSite" score="50" node="node1"/>"#,
    ] {
        assert!(cib.contains(needle), "missing {needle} in\n{cib}");
    }
    let (rc, out) = sb.crm_verify();
    assert_eq!(rc, 0, "{out}");
}

const SESSION_28_33: &str = r#"cib new drbd
configure primitive WebData ocf:linbit:drbd params drbd_resource=wwwdata op monitor interval=60s
configure ms WebDataClone WebData meta master-max=1 master-node-max=1 clone-max=2 clone-node-max=1 notify=true
configure show
cib commit drbd
cib new fs
configure primitive WebFS ocf:heartbeat:Filesystem params device="/dev/drbd/by-res/wwwdata" directory="/var/www/html" fstype="ext4"
configure colocation fs_on_drbd inf: WebFS WebDataClone:Master
configure order WebFS-after-WebData inf: WebDataClone:promote WebFS:start
configure colocation WebSite-with-WebFS inf: WebSite WebFS
configure order WebSite-after-WebFS inf: WebFS WebSite
cib commit fs
quit
"#;

const FINAL_SHOW: &str = "node 1: node1
node 2: node2
primitive ClusterIP IPaddr2 \\
\tparams ip=10.213.40.9 cidr_netmask=32 \\
\top monitor interval=30s
primitive WebData ocf:linbit:drbd \\
\tparams drbd_resource=wwwdata \\
\top monitor interval=60s
primitive WebFS Filesystem \\
\tparams device=\"/dev/drbd/by-res/wwwdata\" directory=\"/var/www/html\" fstype=ext4
primitive WebSite apache \\
\tparams configfile=\"/etc/apache2/apache2.conf\" \\
\top monitor interval=1min
ms WebDataClone WebData \\
\tmeta master-max=1 master-node-max=1 clone-max=2 clone-node-max=1 notify=true
order WebFS-after-WebData Mandatory: WebDataClone:promote WebFS:start
order WebSite-after-WebFS Mandatory: WebFS WebSite
colocation WebSite-with-WebFS inf: WebSite WebFS
order apache-after-ip Mandatory: ClusterIP WebSite
colocation fs_on_drbd inf: WebFS WebDataClone:Master
location prefer-node1 WebSite 50: node1
colocation website-with-ip inf: WebSite ClusterIP
property cib-bootstrap-options: \\
\tstonith-enabled=false \\
\tno-quorum-policy=ignore
";

#[test]
fn crm_walkthrough_part3_interactive_session() {
    let sb = Sandbox::new("wt3");
    part1(&sb);
    let (rc, out, err) = sb.crm(&[], SESSION_28_33);
    assert_eq!(rc, 0, "session failed: {err}");
    // `configure show` inside the session printed the drbd shadow.
    assert!(out.contains("ms WebDataClone WebData \\\n\tmeta master-max=1"), "{out}");
    assert!(sb.shadow("drbd").is_some() && sb.shadow("fs").is_some());
    assert_eq!(sb.ok("configure show"), FINAL_SHOW);
    let cib = sb.cib();
    assert!(cib.contains(r#"<master id="WebDataClone">"#));
    assert!(cib.contains(
        r#"<rsc_colocation id="fs_on_drbd" score="INFINITY" rsc="WebFS" with-rsc="WebDataClone" with-rsc-role="Master"/>"#
    ));
    assert!(cib.contains(
        r#"<rsc_order id="WebFS-after-WebData" kind="Mandatory" first="WebDataClone" first-action="promote" then="WebFS" then-action="start"/>"#
    ));
    let (rc, out) = sb.crm_verify();
    assert_eq!(rc, 0, "{out}");
}

#[test]
fn crm_shadow_is_not_live_until_committed() {
    let sb = Sandbox::new("shadow");
    sb.ok("configure property stonith-enabled=false");
    let live_before = sb.cib();
    let (rc, _, err) = sb.crm(
        &[],
        "cib new drbd\nconfigure primitive WebData ocf:linbit:drbd params drbd_resource=wwwdata op monitor interval=60s\nquit\n",
    );
    assert_eq!(rc, 0, "{err}");
    assert_eq!(sb.cib(), live_before, "the live CIB changed before commit");
    assert!(sb
        .shadow("drbd")
        .unwrap()
        .contains(r#"<primitive id="WebData" class="ocf" provider="linbit" type="drbd">"#));
    // The shadow is what crm works on with CIB_shadow set (as crm_shadow users do).
    let (rc, out, _) = sb.crm_env(
        &["configure", "show", "WebData"],
        "",
        &[("CIB_file", ""), ("CIB_shadow", "drbd")],
    );
    assert_eq!(rc, 0);
    assert!(out.starts_with("primitive WebData ocf:linbit:drbd"), "{out}");
    assert_eq!(sb.ok("cib list"), "drbd\n");
    let (rc, out, _) = sb.crm(&[], "cib use drbd\ncib diff\n");
    assert_eq!(rc, 0);
    assert!(out.contains("+primitive WebData ocf:linbit:drbd \\"), "{out}");
    let (rc, _, err) = sb.crm(&[], "cib use drbd\ncib delete drbd\n");
    assert_eq!(rc, 1, "deleting the shadow in use must fail");
    assert!(err.contains("in use"), "{err}");
    let (rc, _, err) = sb.crm(&["cib", "new", "drbd"], "");
    assert_eq!(rc, 1);
    assert!(err.contains("already exists"), "{err}");
    let e0 = sb.epoch();
    sb.ok("cib commit drbd");
    assert!(sb.epoch() > e0);
    assert!(sb.cib().contains(r#"<primitive id="WebData""#));
    sb.ok("cib delete drbd");
    assert!(sb.shadow("drbd").is_none());
}

#[test]
fn crm_configure_level_stages_until_commit() {
    let sb = Sandbox::new("stage");
    let script = "configure\nproperty stonith-enabled=false\nprimitive d1 Dummy\n";
    // Edits at the configure level are staged and written by `commit` (or on leaving it).
    let (rc, _, err) =
        sb.crm(&[], &format!("{script}commit\nprimitive d2 Dummy\nshow d2\nup\nquit\n"));
    assert_eq!(rc, 0, "{err}");
    assert!(
        sb.cib().contains(r#"<primitive id="d2""#),
        "leaving the level commits pending changes"
    );
    // `crm configure` with commands on stdin.
    let (rc, out, err) = sb.crm(
        &["configure"],
        "primitive d3 ocf:pacemaker:Dummy \\\n  op monitor interval=10s\nshow d3\ncommit\n",
    );
    assert_eq!(rc, 0, "{err}");
    assert_eq!(out, "primitive d3 ocf:pacemaker:Dummy \\\n\top monitor interval=10s\n");
    // -f FILE.
    let f = sb.dir.join("cmds.crm");
    std::fs::write(
        &f,
        "configure rsc_defaults resource-stickiness=100\nconfigure op_defaults timeout=60s\n",
    )
    .unwrap();
    let (rc, _, err) = sb.crm(&["-f", f.to_str().unwrap()], "");
    assert_eq!(rc, 0, "{err}");
    let show = sb.ok("configure show");
    assert!(show.ends_with("rsc_defaults rsc-options: \\\n\tresource-stickiness=100\nop_defaults op-options: \\\n\ttimeout=60s\n"), "{show}");
    let (rc, out) = sb.crm_verify();
    assert_eq!(rc, 0, "{out}");
}

#[test]
fn crm_conf1_vector_round_trips_through_show() {
    let sb = Sandbox::new("conf1");
    let conf = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/spec/cluster-vectors/conf1.crm"
    ));
    let Ok(conf) = conf else { return };
    // Nodes already exist in the sandbox; the rest goes through `crm configure` on stdin.
    let cmds: String =
        conf.lines().filter(|l| !l.starts_with("node ")).map(|l| format!("{l}\n")).collect();
    let (rc, _, err) = sb.crm(&["configure"], &format!("{cmds}commit\n"));
    assert_eq!(rc, 0, "{err}");
    let expected = "node 1: node1
node 2: node2
primitive drbd0 ocf:linbit:drbd \\
\tparams drbd_resource=r0 \\
\top monitor interval=29s role=Master \\
\top monitor interval=31s role=Slave
primitive fs Filesystem \\
\tparams device=\"/dev/drbd0\" directory=\"/srv\" fstype=ext4 \\
\top monitor interval=20s
primitive vip IPaddr2 \\
\tparams ip=10.99.0.50 cidr_netmask=24 \\
\top monitor interval=10s timeout=20s
ms ms_drbd0 drbd0 \\
\tmeta master-max=1 master-node-max=1 clone-max=2 clone-node-max=1 notify=true
order drbd_before_fs Mandatory: ms_drbd0:promote fs:start
order fs_before_vip Mandatory: fs vip
colocation fs_on_drbd inf: fs ms_drbd0:Master
location prefer_node1 vip 100: node1
colocation vip_with_fs inf: vip fs
property cib-bootstrap-options: \\
\tstonith-enabled=false \\
\tno-quorum-policy=ignore
rsc_defaults rsc-options: \\
\tresource-stickiness=100
op_defaults op-options: \\
\ttimeout=60s
";
    assert_eq!(sb.ok("configure show"), expected);
    let (rc, out) = sb.crm_verify();
    assert_eq!(rc, 0, "{out}");
    let xml = sb.ok("configure show xml");
    assert!(xml.starts_with("<configuration>") && xml.contains(r#"<master id="ms_drbd0">"#));
}

#[test]
fn crm_interactive_prompts_on_a_terminal() {
    // `script` gives crm a pseudo-terminal, so it behaves as for a person typing.
    let Ok(script) = which("script") else {
        eprintln!("script (util-linux) not installed; skipping");
        return;
    };
    let sb = Sandbox::new("tty");
    sb.ok("configure property stonith-enabled=false");
    let mut child = std::process::Command::new(script)
        .args(["-qec", env!("CARGO_BIN_EXE_crm"), "/dev/null"])
        .env("CIB_file", sb.cib_path())
        .env("CIB_shadow_dir", &sb.dir)
        .env_remove("CIB_shadow")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"cib new drbd\nconfigure\nprimitive WebData ocf:linbit:drbd params drbd_resource=wwwdata op monitor interval=60s\nshow WebData\ncommit\nend\ncib use live\nconfigure\nup\nquit\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    for prompt in ["crm(live)# ", "crm(drbd)# ", "crm(drbd)configure# ", "crm(live)configure# "] {
        assert!(text.contains(prompt), "no prompt {prompt:?} in {text:?}");
    }
    assert!(
        text.contains("primitive WebData ocf:linbit:drbd \\\n\tparams drbd_resource=wwwdata"),
        "{text}"
    );
    assert!(sb.shadow("drbd").unwrap().contains(r#"<primitive id="WebData""#));
    assert!(!sb.cib().contains("WebData"));
}

#[test]
fn crm_interactive_asks_before_dropping_pending_changes() {
    let Ok(script) = which("script") else {
        eprintln!("script (util-linux) not installed; skipping");
        return;
    };
    let sb = Sandbox::new("ask");
    let run = |input: &[u8]| {
        let mut child = std::process::Command::new(&script)
            .args(["-qec", env!("CARGO_BIN_EXE_crm"), "/dev/null"])
            .env("CIB_file", sb.cib_path())
            .env("CIB_shadow_dir", &sb.dir)
            .env_remove("CIB_shadow")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write as _;
        child.stdin.take().unwrap().write_all(input).unwrap();
        String::from_utf8_lossy(&child.wait_with_output().unwrap().stdout).replace('\r', "")
    };
    let out = run(b"configure\nprimitive keep_me Dummy\nend\ny\nquit\n");
    assert!(out.contains("There are changes pending. Do you want to commit them (y/n)? "), "{out}");
    assert!(sb.cib().contains(r#"<primitive id="keep_me""#));
    run(b"configure\nprimitive drop_me Dummy\nquit\nn\n");
    assert!(!sb.cib().contains("drop_me"));
}

fn which(name: &str) -> Result<std::path::PathBuf, ()> {
    let path = std::env::var_os("PATH").ok_or(())?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file()).ok_or(())
}

#[test]
fn crm_shares_shadow_files_with_pacemaker_crm_shadow() {
    let Ok(crm_shadow) = which("crm_shadow") else {
        eprintln!("crm_shadow not installed; skipping");
        return;
    };
    let sb = Sandbox::new("pmshadow");
    // Pacemaker creates the shadow, crm edits it, Pacemaker's tools read it back.
    let out = std::process::Command::new(crm_shadow)
        .args(["--create-empty", "pm", "--batch"])
        .env("CIB_shadow_dir", &sb.dir)
        .env_remove("CIB_file")
        .env_remove("CIB_shadow")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(sb.ok("cib list"), "pm\n");
    let env = [("CIB_file", ""), ("CIB_shadow", "pm")];
    for cmd in [
        "configure property stonith-enabled=false",
        "configure primitive d ocf:pacemaker:Dummy op monitor interval=10s",
    ] {
        let args: Vec<&str> = cmd.split(' ').collect();
        let (rc, _, err) = sb.crm_env(&args, "", &env);
        assert_eq!(rc, 0, "{cmd}: {err}");
    }
    let verify = std::process::Command::new("/usr/sbin/crm_verify")
        .arg("-L")
        .env("CIB_shadow_dir", &sb.dir)
        .env("CIB_shadow", "pm")
        .env_remove("CIB_file")
        .output()
        .unwrap();
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stderr));
    let q = std::process::Command::new("cibadmin")
        .arg("-Q")
        .env("CIB_shadow_dir", &sb.dir)
        .env("CIB_shadow", "pm")
        .env_remove("CIB_file")
        .output()
        .unwrap();
    let xml = String::from_utf8_lossy(&q.stdout);
    assert!(xml.contains(r#"<op name="monitor" interval="10s" id="d-monitor-10s"/>"#), "{xml}");
}
