//! crm_mon against the observed crm_mon 2.1.5 outputs: each vector CIB rendered through
//! `CIB_file` and compared with Pacemaker's text, time stamps of "Last updated" normalised.
//! Also the error paths (no cluster, bad option, unreadable file) and the live-mode fallback
//! without a terminal.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const VECTORS: &str = "/work/shared/spec/cluster-vectors";

fn vector(name: &str) -> String {
    std::fs::read_to_string(Path::new(VECTORS).join(name)).unwrap()
}

/// Runs crm_mon with a clean environment plus `env`; returns (exit code, stdout, stderr).
fn crm_mon(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_crm_mon"));
    c.args(args).env_remove("CIB_file").env_remove("CIB_shadow").env("TZ", "UTC");
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.stdin(Stdio::null()).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The "Last updated" time comes from the clock: blank it out in both texts.
fn normalise(s: &str) -> String {
    s.lines()
        .map(|l| {
            if l.starts_with("  * Last updated: ") {
                "  * Last updated: X".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn check(cib: &str, args: &[&str], expected: &str) {
    let path = PathBuf::from(VECTORS).join(cib);
    let (rc, out, err) = crm_mon(args, &[("CIB_file", path.to_str().unwrap())]);
    assert_eq!(rc, 0, "stderr: {err}");
    let (got, want) = (normalise(&out), normalise(&vector(expected)));
    assert_eq!(got.trim_end(), want.trim_end(), "\n--- got\n{out}\n--- want\n{}", vector(expected));
}

#[test]
fn one_shot_matches_vector() {
    check("cib-mt.xml", &["-1"], "crm_mon1.txt");
}

#[test]
fn inactive_failcounts_attributes_match_vector() {
    check("cib-mt.xml", &["-1", "-r", "-f", "-A"], "crm_mon1-rfA.txt");
    check("cib-mt.xml", &["-1rfA"], "crm_mon1-rfA.txt");
}

#[test]
fn failed_actions_and_migration_summary_match_vector() {
    check("cib-fail.xml", &["-1"], "crm_mon-fail.txt");
}

#[test]
fn no_tty_falls_back_to_one_shot() {
    check("cib-mt.xml", &[], "crm_mon1.txt");
}

#[test]
fn output_as_text_is_accepted() {
    check("cib-mt.xml", &["-1", "--output-as=text"], "crm_mon1.txt");
    check("cib-mt.xml", &["-1", "--output-as", "text"], "crm_mon1.txt");
}

#[test]
fn last_updated_is_the_clock() {
    let path = PathBuf::from(VECTORS).join("cib-mt.xml");
    let (_, out, _) = crm_mon(&["-1"], &[("CIB_file", path.to_str().unwrap())]);
    let line = out.lines().find(|l| l.starts_with("  * Last updated: ")).unwrap();
    // Pacemaker's ctime-like stamp: "Tue Nov 24 17:43:24 2026".
    let stamp = line.trim_start_matches("  * Last updated: ");
    let parts: Vec<&str> = stamp.split_whitespace().collect();
    assert_eq!(parts.len(), 5, "{stamp}");
    assert!(parts[4].parse::<u32>().unwrap() >= 2024);
}

#[test]
fn shadow_is_read() {
    let dir = std::env::temp_dir().join(format!("crmmon-test-shadow-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    struct Rm(PathBuf);
    impl Drop for Rm {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _g = Rm(dir.clone());
    std::fs::write(dir.join("shadow.t1"), vector("cib-mt.xml")).unwrap();
    let (rc, out, err) =
        crm_mon(&["-1"], &[("CIB_shadow", "t1"), ("CIB_shadow_dir", dir.to_str().unwrap())]);
    assert_eq!(rc, 0, "{err}");
    assert_eq!(normalise(&out).trim_end(), normalise(&vector("crm_mon1.txt")).trim_end());
}

#[test]
fn no_cluster_is_an_error_102() {
    let (rc, out, err) = crm_mon(&["-1"], &[]);
    assert_eq!(rc, 102);
    assert!(out.is_empty());
    assert!(err.contains("crm_mon: Error: cluster is not available on this node"), "{err}");
}

#[test]
fn bad_option_is_usage_error() {
    let path = PathBuf::from(VECTORS).join("cib-mt.xml");
    let (rc, _, err) = crm_mon(&["-1", "--bogus"], &[("CIB_file", path.to_str().unwrap())]);
    assert_eq!(rc, 64);
    assert!(err.contains("unknown option '--bogus'"), "{err}");
    let (rc, _, err) =
        crm_mon(&["-1", "--output-as=json"], &[("CIB_file", path.to_str().unwrap())]);
    assert_eq!(rc, 64);
    assert!(err.contains("json"), "{err}");
}

#[test]
fn unreadable_cib_file_is_an_error() {
    let (rc, out, err) = crm_mon(&["-1"], &[("CIB_file", "/nonexistent/crmmon-test/cib.xml")]);
    assert_ne!(rc, 0);
    assert!(out.is_empty());
    assert!(err.contains("/nonexistent/crmmon-test/cib.xml"), "{err}");
}

#[test]
fn group_by_node_lists_resources_under_nodes() {
    let path = PathBuf::from(VECTORS).join("cib-mt.xml");
    let (rc, out, _) = crm_mon(&["-1", "-n"], &[("CIB_file", path.to_str().unwrap())]);
    assert_eq!(rc, 0);
    let n1 = out.find("  * Node node1: online:").unwrap();
    let n2 = out.find("  * Node node2: online:").unwrap();
    let vip = out.find("    * vip\t(ocf:heartbeat:IPaddr2):\t Started").unwrap();
    assert!(n1 < vip && vip < n2, "{out}");
}

#[test]
fn live_mode_redraws_and_quits_on_q() {
    // `script` gives crm_mon a pseudo-terminal; "q" arrives after a few refreshes.
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("script(1) not installed; skipping");
        return;
    }
    let path = PathBuf::from(VECTORS).join("cib-mt.xml");
    let cmd = format!("{} -i 1", env!("CARGO_BIN_EXE_crm_mon"));
    let mut child = Command::new("script")
        .args(["-qfec", &cmd, "/dev/null"])
        .env("CIB_file", &path)
        .env_remove("CIB_shadow")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2500));
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"q").unwrap();
    }
    // Up to 10 s in 50 ms steps.
    for step in 0.. {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if step >= 200 {
            let _ = child.kill();
            let _ = child.wait();
            panic!("crm_mon did not quit on q");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let draws = text.matches("\x1b[H\x1b[2JCluster Summary:").count();
    assert!(draws >= 2, "expected several refreshes, got {draws}: {text}");
    assert!(text.contains("Active Resources:"));
}

#[test]
fn header_with_dc_quorum_and_last_change() {
    let dir = std::env::temp_dir().join(format!("crmmon-test-header-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    struct Rm(PathBuf);
    impl Drop for Rm {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _g = Rm(dir.clone());
    let cib = vector("cib-mt.xml").replacen(
        "<cib ",
        "<cib dc-uuid=\"1\" have-quorum=\"1\" cib-last-written=\"Tue Nov 24 17:40:01 2026\" \
         update-user=\"root\" update-client=\"cibadmin\" update-origin=\"node1\" ",
        1,
    );
    let cib = cib.replacen(
        "<cluster_property_set id=\"cib-bootstrap-options\">",
        "<cluster_property_set id=\"cib-bootstrap-options\">\
         <nvpair id=\"o-dcv\" name=\"dc-version\" value=\"2.1.5-a3f44794f94\"/>\
         <nvpair id=\"o-ci\" name=\"cluster-infrastructure\" value=\"corosync\"/>",
        1,
    );
    let path = dir.join("cib.xml");
    std::fs::write(&path, &cib).unwrap();
    let (rc, out, err) = crm_mon(&["-1"], &[("CIB_file", path.to_str().unwrap())]);
    assert_eq!(rc, 0, "{err}");
    assert!(out.contains("  * Stack: corosync\n"), "{out}");
    assert!(
        out.contains("  * Current DC: node1 (version 2.1.5-a3f44794f94) - partition with quorum\n"),
        "{out}"
    );
    assert!(
        out.contains("  * Last change:  Tue Nov 24 17:40:01 2026 by root via cibadmin on node1\n"),
        "{out}"
    );
    std::fs::write(&path, cib.replace("have-quorum=\"1\"", "have-quorum=\"0\"")).unwrap();
    let (_, out, _) = crm_mon(&["-1"], &[("CIB_file", path.to_str().unwrap())]);
    assert!(out.contains(" - partition WITHOUT quorum\n"), "{out}");
}

#[test]
fn empty_cluster_shows_no_active_resources() {
    let dir = std::env::temp_dir().join(format!("crmmon-test-empty-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    struct Rm(PathBuf);
    impl Drop for Rm {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _g = Rm(dir.clone());
    let path = dir.join("cib.xml");
    std::fs::write(
        &path,
        r#"<cib crm_feature_set="3.16.1" validate-with="pacemaker-3.9" epoch="1" num_updates="0" admin_epoch="0">
  <configuration>
    <crm_config/>
    <nodes><node id="1" uname="node1"/><node id="2" uname="node2"/></nodes>
    <resources/>
    <constraints/>
  </configuration>
  <status/>
</cib>
"#,
    )
    .unwrap();
    let (rc, out, err) = crm_mon(&["-1"], &[("CIB_file", path.to_str().unwrap())]);
    assert_eq!(rc, 0, "{err}");
    assert!(out.contains("  * 2 nodes configured\n  * 0 resource instances configured\n"), "{out}");
    assert!(out.ends_with("Active Resources:\n  * No active resources\n"), "{out}");
    let (_, out, _) = crm_mon(&["-1", "-r"], &[("CIB_file", path.to_str().unwrap())]);
    assert!(out.ends_with("Full List of Resources:\n  * No resources\n"), "{out}");
}
