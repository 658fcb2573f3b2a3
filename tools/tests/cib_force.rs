//! `crm_resource --force-*`: one agent action run here through the executor, against a
//! temporary CIB file holding real Debian agents (`ocf:heartbeat:Dummy`,
//! `ocf:pacemaker:Stateful`), compared step by step with Pacemaker's own `crm_resource` (test
//! oracle) run on a copy of the same configuration with its own state files.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

const ORACLE: &str = "/usr/sbin/crm_resource";

/// A temporary directory (CIB and agent state files) removed on drop.
struct Tmp(PathBuf);

impl Tmp {
    fn new() -> Tmp {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "cibforce-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&p).unwrap();
        Tmp(p)
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A CIB whose agents keep their state files under `dir`.
fn cib_text(dir: &Path) -> String {
    let d = dir.display();
    format!(
        r#"<cib crm_feature_set="3.16.1" validate-with="pacemaker-3.9" epoch="1" num_updates="0" admin_epoch="0">
  <configuration>
    <crm_config/>
    <nodes/>
    <resources>
      <primitive id="d1" class="ocf" provider="heartbeat" type="Dummy">
        <instance_attributes id="d1-ia">
          <nvpair id="d1-ia-state" name="state" value="{d}/d1.state"/>
        </instance_attributes>
        <operations>
          <op id="d1-start" name="start" interval="0" timeout="30s"/>
        </operations>
      </primitive>
      <clone id="s1-clone">
        <meta_attributes id="s1-clone-meta">
          <nvpair id="s1-clone-promotable" name="promotable" value="true"/>
        </meta_attributes>
        <primitive id="s1" class="ocf" provider="pacemaker" type="Stateful">
          <instance_attributes id="s1-ia">
            <nvpair id="s1-ia-state" name="state" value="{d}/s1.state"/>
          </instance_attributes>
        </primitive>
      </clone>
      <group id="g1">
        <primitive id="d2" class="ocf" provider="heartbeat" type="Dummy"/>
      </group>
    </resources>
    <constraints/>
  </configuration>
  <status/>
</cib>
"#
    )
}

#[derive(Debug)]
struct Out {
    stdout: String,
    stderr: String,
    code: i32,
}

impl Out {
    /// The result line Pacemaker prints first.
    fn head(&self) -> &str {
        self.stdout.lines().next().unwrap_or("")
    }
    /// The `crm_resource:` lines of stderr (the oracle adds its own scheduler noise).
    fn tool_errors(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| {
                l.starts_with("crm_resource:") || l.starts_with("Error") || l.starts_with("Sorry")
            })
            .collect()
    }
}

fn run(bin: &str, cib: &Path, args: &[&str]) -> Out {
    let o = Command::new(bin)
        .args(args)
        .env("CIB_file", cib)
        .env_remove("CIB_shadow")
        .output()
        .unwrap();
    Out {
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        code: o.status.code().unwrap_or(-1),
    }
}

/// Our tool and (when installed) Pacemaker's, each on its own copy of the configuration.
struct Pair {
    ours: Tmp,
    theirs: Option<Tmp>,
}

impl Pair {
    fn new() -> Pair {
        let ours = Tmp::new();
        std::fs::write(ours.0.join("cib.xml"), cib_text(&ours.0)).unwrap();
        let theirs = Path::new(ORACLE).exists().then(|| {
            let t = Tmp::new();
            std::fs::write(t.0.join("cib.xml"), cib_text(&t.0)).unwrap();
            t
        });
        Pair { ours, theirs }
    }

    /// Runs `args` with both tools, checks they agree, and returns ours.
    fn step(&self, args: &[&str]) -> Out {
        let ours = run(env!("CARGO_BIN_EXE_crm_resource"), &self.ours.0.join("cib.xml"), args);
        if let Some(t) = &self.theirs {
            let theirs = run(ORACLE, &t.0.join("cib.xml"), args);
            assert_eq!(ours.code, theirs.code, "{args:?}: ours {ours:?} theirs {theirs:?}");
            assert_eq!(ours.stdout, theirs.stdout, "{args:?}");
            assert_eq!(ours.tool_errors(), theirs.tool_errors(), "{args:?}");
        }
        ours
    }

    fn state(&self, name: &str) -> PathBuf {
        self.ours.0.join(name)
    }
}

#[test]
fn force_dummy_check_start_check_stop_check() {
    let p = Pair::new();
    let o = p.step(&["--force-check", "-r", "d1"]);
    assert_eq!(o.code, 7);
    assert_eq!(
        o.head(),
        "Operation force-check for d1 (ocf:heartbeat:Dummy) returned 7 (not running)"
    );
    assert_eq!(o.stderr, "crm_resource: Error performing operation: Not running\n");

    let o = p.step(&["--force-start", "-r", "d1", "-V"]);
    assert_eq!(o.code, 0, "{o:?}");
    // The start op's own timeout (30s) applies; other actions get the 20 s default.
    assert!(o.stderr.starts_with("Running start (interval 0, timeout 30000 ms) of d1"), "{o:?}");
    assert_eq!(o.head(), "Operation force-start for d1 (ocf:heartbeat:Dummy) returned 0 (ok)");
    assert!(p.state("d1.state").exists(), "the agent ran with the CIB's state parameter");

    let o = p.step(&["--force-check", "-r", "d1"]);
    assert_eq!(o.code, 0);
    assert_eq!(o.head(), "Operation force-check for d1 (ocf:heartbeat:Dummy) returned 0 (ok)");

    let o = p.step(&["--force-stop", "-r", "d1", "-V"]);
    assert_eq!(o.code, 0);
    assert!(o.stderr.starts_with("Running stop (interval 0, timeout 20000 ms) of d1"), "{o:?}");
    assert!(o.stderr.contains("stop of d1 took "), "{o:?}");
    assert!(!p.state("d1.state").exists());

    let o = p.step(&["--force-check", "-r", "d1"]);
    assert_eq!(o.code, 7);
}

#[test]
fn force_stateful_start_promote_check_demote() {
    let p = Pair::new();
    assert_eq!(p.step(&["--force-start", "-r", "s1"]).code, 0);
    let o = p.step(&["--force-promote", "-r", "s1"]);
    assert_eq!(o.code, 0);
    assert_eq!(o.head(), "Operation force-promote for s1 (ocf:pacemaker:Stateful) returned 0 (ok)");
    let o = p.step(&["--force-check", "-r", "s1"]);
    assert_eq!(o.code, 8);
    assert_eq!(
        o.head(),
        "Operation force-check for s1 (ocf:pacemaker:Stateful) returned 8 (promoted)"
    );
    assert!(o.stderr.contains("crm_resource: Error performing operation: Promoted"));
    assert_eq!(p.step(&["--force-demote", "-r", "s1"]).code, 0);
    assert_eq!(p.step(&["--force-check", "-r", "s1"]).code, 0);
    assert_eq!(p.step(&["--force-stop", "-r", "s1"]).code, 0);
    // The clone resolves to its primitive; the name given is the one reported.
    let o = p.step(&["--force-check", "-r", "s1-clone"]);
    assert_eq!(o.code, 7);
    assert_eq!(
        o.head(),
        "Operation force-check for s1-clone (ocf:pacemaker:Stateful) returned 7 (not running)"
    );
}

#[test]
fn force_unknown_group_and_missing_resource_refused() {
    let p = Pair::new();
    let o = p.step(&["--force-check", "-r", "nope"]);
    assert_eq!(o.code, 105);
    assert_eq!(o.stdout, "");
    assert_eq!(
        o.stderr,
        "crm_resource: Resource 'nope' not found\nError performing operation: No such object\n"
    );
    let o = p.step(&["--force-start", "-r", "g1"]);
    assert_eq!(o.code, 3);
    assert!(o
        .stderr
        .starts_with("Sorry, the force-start option doesn't support group resources\n"));
    assert!(!p.state("d2.state").exists());
    let o = p.step(&["--force-stop"]);
    assert_eq!(o.code, 64);
    assert_eq!(o.stderr, "crm_resource: Must supply a resource id with -r\n");
}

#[test]
fn force_finds_the_cib_through_cib_shadow() {
    let t = Tmp::new();
    std::fs::write(t.0.join("shadow.forcetest"), cib_text(&t.0)).unwrap();
    let run_shadow = |args: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_crm_resource"))
            .args(args)
            .env_remove("CIB_file")
            .env("CIB_shadow", "forcetest")
            .env("CIB_shadow_dir", &t.0)
            .output()
            .unwrap();
        (o.status.code(), String::from_utf8_lossy(&o.stdout).into_owned())
    };
    let (code, out) = run_shadow(&["--force-start", "-r", "d1"]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(out, "Operation force-start for d1 (ocf:heartbeat:Dummy) returned 0 (ok)\n");
    assert!(t.0.join("d1.state").exists());
    assert_eq!(run_shadow(&["--force-stop", "-r", "d1"]).0, Some(0));
    assert_eq!(run_shadow(&["--force-check", "-r", "d1"]).0, Some(7));
}
