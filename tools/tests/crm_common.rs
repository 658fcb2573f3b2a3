//! Shared helpers for the `crm` binary tests: a private temp directory holding a CIB file
//! and shadow copies, and a runner that points `crm` at them.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A temp directory removed on drop, with `cib.xml` (two nodes, nothing configured).
pub struct Sandbox {
    /// The directory (also `CIB_shadow_dir`).
    pub dir: PathBuf,
}

/// A fresh two-node CIB with nothing configured.
pub const EMPTY_CIB: &str = r#"<cib crm_feature_set="3.16.1" validate-with="pacemaker-3.9" epoch="1" num_updates="0" admin_epoch="0">
  <configuration>
    <crm_config/>
    <nodes>
      <node id="1" uname="node1"/>
      <node id="2" uname="node2"/>
    </nodes>
    <resources/>
    <constraints/>
  </configuration>
  <status/>
</cib>
"#;

impl Sandbox {
    /// A new sandbox; `name` makes the directory recognisable.
    pub fn new(name: &str) -> Self {
        static SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("crmsh-test-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("cib.xml"), EMPTY_CIB).unwrap();
        Sandbox { dir }
    }

    /// The CIB file (`CIB_file`).
    pub fn cib_path(&self) -> PathBuf {
        self.dir.join("cib.xml")
    }

    /// The CIB file's text.
    pub fn cib(&self) -> String {
        std::fs::read_to_string(self.cib_path()).unwrap()
    }

    /// The text of shadow `name`, if it exists.
    pub fn shadow(&self, name: &str) -> Option<String> {
        std::fs::read_to_string(self.dir.join(format!("shadow.{name}"))).ok()
    }

    /// Runs `crm ARGS` with `stdin` fed to it; returns (exit code, stdout, stderr).
    pub fn crm(&self, args: &[&str], stdin: &str) -> (i32, String, String) {
        self.crm_env(args, stdin, &[])
    }

    /// Like [`Sandbox::crm`] with extra environment variables.
    pub fn crm_env(
        &self,
        args: &[&str],
        stdin: &str,
        env: &[(&str, &str)],
    ) -> (i32, String, String) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_crm"));
        cmd.args(args)
            .env("CIB_file", self.cib_path())
            .env("CIB_shadow_dir", &self.dir)
            .env_remove("CIB_shadow")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("crm runs");
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Runs a one-shot command that must succeed; returns its stdout.
    pub fn ok(&self, line: &str) -> String {
        let args: Vec<&str> = line.split_whitespace().collect();
        let (rc, out, err) = self.crm(&args, "");
        assert_eq!(rc, 0, "crm {line} failed: {err}");
        out
    }

    /// Pacemaker's own `crm_verify -x` on the CIB (the oracle): (exit code, output).
    pub fn crm_verify(&self) -> (i32, String) {
        let exe = Path::new("/usr/sbin/crm_verify");
        assert!(
            exe.exists(),
            "crm_verify missing: run scripts/install-deps.sh (pacemaker-cli-utils)"
        );
        let out = Command::new(exe).arg("-x").arg(self.cib_path()).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }

    /// The CIB's epoch.
    pub fn epoch(&self) -> u64 {
        let cib = self.cib();
        let at = cib.find("epoch=\"").unwrap() + 7;
        cib[at..].split('"').next().unwrap().parse().unwrap()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
