//! Every bad command names the offending word, writes nothing and exits 1.

#[path = "crm_common.rs"]
mod common;

use common::Sandbox;

fn setup() -> Sandbox {
    let sb = Sandbox::new("err");
    sb.ok("configure property stonith-enabled=false");
    sb.ok("configure primitive ClusterIP ocf:heartbeat:IPaddr2 params ip=10.213.41.9 cidr_netmask=32 op monitor interval=30s");
    sb.ok("configure primitive WebSite ocf:heartbeat:apache params configfile=/etc/apache2/apache2.conf");
    sb
}

/// Runs `line` (one shot) and checks: exit 1, stderr holds `needle`, the CIB is byte-identical.
fn rejects(sb: &Sandbox, line: &[&str], needle: &str) {
    let before = sb.cib();
    let (rc, out, err) = sb.crm(line, "");
    assert_eq!(rc, 1, "crm {line:?} should fail; stdout {out} stderr {err}");
    assert!(err.contains(needle), "crm {line:?}: stderr {err:?} lacks {needle:?}");
    assert_eq!(sb.cib(), before, "crm {line:?} changed the CIB");
}

#[test]
fn crm_errors_name_the_word_and_write_nothing() {
    let sb = setup();
    let cases: &[(&[&str], &str)] = &[
        (
            &["configure", "primitive", "x", "IPaddr2", "parms", "ip=1"],
            "crm: unknown keyword 'parms' (did you mean 'params'?)",
        ),
        (
            &["configure", "primitive", "x", "IPaddr2", "op", "monitr", "interval=10s"],
            "invalid action 'monitr' (did you mean 'monitor'?)",
        ),
        (
            &["configure", "primitive", "x", "IPaddr2", "op", "monitor", "intervl=10s"],
            "unknown attribute 'intervl' in op monitor (did you mean 'interval'?)",
        ),
        (
            &["configure", "primitive", "x", "ocff:heartbeat:IPaddr2"],
            "unknown resource class 'ocff'",
        ),
        (&["configure", "primitive", "ClusterIP", "Dummy"], "object 'ClusterIP' already exists"),
        (
            &["configure", "primitive", "x", "IPaddr2", "params", "ipp=10.213.41.10"],
            "ocf:heartbeat:IPaddr2: parameter 'ipp' does not exist (did you mean 'ip'?)",
        ),
        (
            &["configure", "primitive", "x", "IPaddr2", "params", "cidr_netmask=24"],
            "ocf:heartbeat:IPaddr2: required parameter 'ip' not defined",
        ),
        (
            &[
                "configure",
                "primitive",
                "x",
                "Filesystem",
                "params",
                "device=/dev/x",
                "directory=/srv",
                "fstyp=ext4",
            ],
            "parameter 'fstyp' does not exist (did you mean 'fstype'?)",
        ),
        (&["configure", "primitive", "9x", "Dummy"], "invalid id '9x'"),
        (
            &["configure", "primitive", "x", "Dummy", "meta", "target-rol=Stopped"],
            "unknown attribute 'target-rol' in meta (did you mean 'target-role'?)",
        ),
        (
            &["configure", "property", "stonith-enable=false"],
            "unknown attribute 'stonith-enable' in property (did you mean 'stonith-enabled'?)",
        ),
        (
            &["configure", "property", "no-quorum-policy=bogus"],
            "no-quorum-policy: invalid value 'bogus'",
        ),
        (
            &["configure", "colocation", "c1", "inf:", "WebSite", "Ghost"],
            "resource 'Ghost' does not exist",
        ),
        (
            &["configure", "colocation", "c1", "inf:", "WebSite", "ClusterIP:Mastr"],
            "invalid role 'Mastr' (did you mean 'Master'?)",
        ),
        (
            &["configure", "colocation", "c1", "lots:", "WebSite", "ClusterIP"],
            "invalid score 'lots'",
        ),
        (
            &["configure", "colocation", "c1", "inf", "WebSite", "ClusterIP"],
            "colocation: expected 'SCORE:', found 'inf'",
        ),
        (
            &["configure", "order", "o1", "Mandatry:", "ClusterIP", "WebSite"],
            "unknown keyword 'Mandatry' (did you mean 'Mandatory'?)",
        ),
        (
            &["configure", "order", "o1", "inf:", "ClusterIP:strat", "WebSite"],
            "invalid action 'strat' (did you mean 'start'?)",
        ),
        (
            &["configure", "location", "l1", "WebSite", "50", "node1"],
            "location: expected 'SCORE: NODE' or 'rule', found '50'",
        ),
        (
            &["configure", "location", "l1", "WebSite", "rule", "50:", "#uname", "eqq", "node1"],
            "unknown keyword 'eqq' (did you mean 'eq'?)",
        ),
        (&["configure", "ms", "m1", "Ghost"], "resource 'Ghost' does not exist"),
        (&["configure", "group", "g1", "ClusterIP", "ClusterIP"], "listed twice"),
        (&["configure", "delete", "Ghost"], "object 'Ghost' does not exist"),
        (&["configure", "show", "Ghost"], "object 'Ghost' does not exist"),
        (
            &["configure", "primitve", "x", "Dummy"],
            "unknown command 'primitve' (did you mean 'primitive'?)",
        ),
        (&["configure", "primitive", "x", "Dummy", "params", "a=\"open"], "unterminated quote"),
        (&["resource", "move", "Ghost", "node1"], "resource 'Ghost' does not exist"),
        (&["resource", "move", "WebSite", "node9"], "node 'node9' does not exist"),
        (&["resource", "move", "WebSite"], "Resource 'WebSite' not moved: active in 0 locations"),
        (&["resource", "move", "WebSite", "node1", "PT1X"], "lifetime: invalid value 'PT1X'"),
        (&["resource", "stop", "Ghost"], "resource 'Ghost' does not exist"),
        (&["resource", "strat", "WebSite"], "unknown command 'strat' (did you mean 'start'?)"),
        (&["node", "standby", "node9"], "node 'node9' does not exist"),
        (&["node", "attribute", "node9", "set", "x", "1"], "node 'node9' does not exist"),
        (&["cib", "use", "nosuch"], "nosuch: no such shadow CIB"),
        (&["cib", "commit", "nosuch"], "nosuch: no such shadow CIB"),
        (
            &["ra", "info", "stonith:fence_nosuch"],
            "stonith:fence_nosuch: got no meta-data, does this RA exist?",
        ),
        (&["ra", "list", "systemd"], "class systemd does not exist"),
        (&["bogus"], "unknown command 'bogus'"),
        (&["--bogus"], "unknown option '--bogus'"),
    ];
    for (line, needle) in cases {
        // Lines with a quote are given as one shell word to the tokenizer via stdin instead.
        if line.iter().any(|w| w.contains('"')) {
            let before = sb.cib();
            let (rc, _, err) = sb.crm(&[], &format!("{}\n", line.join(" ")));
            assert_eq!(rc, 1);
            assert!(err.contains(needle), "{err}");
            assert_eq!(sb.cib(), before);
            continue;
        }
        rejects(&sb, line, needle);
    }
}

#[test]
fn crm_forced_unknown_property_is_accepted() {
    let sb = setup();
    rejects(
        &sb,
        &["configure", "property", "my-own-option=1"],
        "unknown attribute 'my-own-option' in property",
    );
    let (rc, _, err) = sb.crm(&["-F", "configure", "property", "my-own-option=1"], "");
    assert_eq!(rc, 0, "{err}");
    assert!(sb.cib().contains(r#"id="cib-bootstrap-options-my-own-option""#));
}

#[test]
fn crm_batch_error_keeps_going_and_fails_overall() {
    let sb = setup();
    let (rc, _, err) =
        sb.crm(&[], "configure primitive a Dummy parms x=1\nconfigure primitive b Dummy\n");
    assert_eq!(rc, 1);
    assert!(err.contains("'parms'"), "{err}");
    let cib = sb.cib();
    assert!(!cib.contains(r#"<primitive id="a""#) && cib.contains(r#"<primitive id="b""#));
    // An error inside a staged configure session discards only that command.
    let (rc, _, _) =
        sb.crm(&["configure"], "primitive c Dummy\ncolocation x inf: c Ghost\ncommit\n");
    assert_eq!(rc, 1);
    assert!(sb.cib().contains(r#"<primitive id="c""#) && !sb.cib().contains(r#"id="x""#));
}

#[test]
fn crm_without_a_cib_says_it_cannot_reach_the_cluster() {
    if std::path::Path::new("/var/lib/pacemaker/cib/cib.xml").exists() {
        eprintln!("a live CIB exists on this machine; skipping");
        return;
    }
    let sb = Sandbox::new("nolive");
    let (rc, _, err) = sb.crm_env(&["configure", "show"], "", &[("CIB_file", "")]);
    assert_eq!(rc, 1);
    assert!(err.contains("cannot reach the cluster"), "{err}");
    let (rc, _, err) =
        sb.crm_env(&["configure", "property", "stonith-enabled=false"], "", &[("CIB_file", "")]);
    assert_eq!(rc, 1);
    assert!(err.contains("cannot reach the cluster"), "{err}");
}
