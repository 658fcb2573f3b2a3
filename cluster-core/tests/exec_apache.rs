//! ocf:heartbeat:apache with a minimal configuration of the test's own (ServerRoot, PidFile,
//! port on 127.0.0.1, mod_status): start, serve a page, monitor, kill apache, monitor fails,
//! stop.

mod exec_common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use cluster_core::exec::interpret::{classify, expected_rc, Outcome};
use cluster_core::exec::{AgentRequest, OcfExit};
use exec_common::{alive, runner, sh_quiet, wait_gone};

const MODULES: &str = "/usr/lib/apache2/modules";

fn config(dir: &Path, port: u16) -> String {
    let d = dir.display();
    let mut c = String::new();
    for m in ["mpm_prefork", "authz_core", "status"] {
        c.push_str(&format!("LoadModule {m}_module {MODULES}/mod_{m}.so\n"));
    }
    c.push_str(&format!(
        "ServerRoot \"{d}\"\nServerName 127.0.0.1\nListen 127.0.0.1:{port}\nPidFile {d}/run/apache.pid\n\
         DefaultRuntimeDir {d}/run\nErrorLog {d}/error.log\nUser www-data\nGroup www-data\n\
         StartServers 1\nMinSpareServers 1\nMaxSpareServers 2\nDocumentRoot \"{d}/htdocs\"\n\
         <Directory \"{d}/htdocs\">\n  Require all granted\n</Directory>\n\
         <Location /server-status>\n  SetHandler server-status\n  Require all granted\n</Location>\n"
    ));
    c
}

/// Kills the apache process group recorded in the pid file when the test ends.
struct ApacheGuard(PathBuf);
impl Drop for ApacheGuard {
    fn drop(&mut self) {
        if let Ok(p) = std::fs::read_to_string(&self.0) {
            let pid = p.trim().to_string();
            sh_quiet(&["kill", "-KILL", "--", &format!("-{pid}")]);
            sh_quiet(&["kill", "-KILL", &pid]);
        }
    }
}

fn http_get(port: u16, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn exec_apache_serves_and_fails_over_kill() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::create_dir_all(dir.join("htdocs")).unwrap();
    std::fs::create_dir_all(dir.join("run")).unwrap();
    std::fs::write(dir.join("htdocs/index.html"), "<html>rexec apache page</html>\n").unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let conf = dir.join("httpd.conf");
    std::fs::write(&conf, config(dir, port)).unwrap();
    let pidfile = dir.join("run/apache.pid");
    let _guard = ApacheGuard(pidfile.clone());

    let mut r = runner(&dir.join("rsctmp"));
    let web = AgentRequest::ocf("rexec-web", "heartbeat", "apache", "monitor")
        .with_param("configfile", conf.to_str().unwrap())
        .with_param("statusurl", &format!("http://127.0.0.1:{port}/server-status"))
        .with_timeout_ms(20_000);
    let run =
        |r: &mut cluster_core::exec::ProcessRunner, a: &str, iv: u64| r.run(web.for_action(a, iv));

    assert_eq!(run(&mut r, "monitor", 0).rc, OcfExit::NotRunning);
    let start = run(&mut r, "start", 0);
    assert_eq!(
        start.rc,
        OcfExit::Ok,
        "{start:?}\n{}",
        std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
    );
    assert!(http_get(port, "/index.html").contains("rexec apache page"));
    assert!(http_get(port, "/server-status").contains("Apache Server Status"));
    assert_eq!(run(&mut r, "monitor", 10_000).rc, OcfExit::Ok);
    let mut deep = web
        .for_action("monitor", 10_000)
        .with_param("testurl", &format!("http://127.0.0.1:{port}/index.html"))
        .with_param("testregex10", "rexec apache");
    deep.check_level = Some(10);
    assert_eq!(r.run(deep.clone()).rc, OcfExit::Ok);
    let bad = r.run(deep.with_param("testregex10", "NoSuchText"));
    assert_eq!(bad.rc, OcfExit::ErrGeneric);
    assert_eq!(bad.exit_reason.as_deref(), Some("Failed to access httpd status page."));

    // Kill apache (the whole process group of the daemon) behind the agent's back.
    let pid: u32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
    sh_quiet(&["kill", "-KILL", "--", &format!("-{pid}")]);
    assert!(wait_gone(pid, 10_000), "apache {pid} still present");
    let mon = run(&mut r, "monitor", 10_000);
    assert_eq!(mon.rc, OcfExit::NotRunning, "{mon:?}");
    let exp = expected_rc("monitor", 10_000, false);
    assert!(matches!(classify("monitor", 10_000, exp, &mon), Outcome::Failed(_)));
    let stop = run(&mut r, "stop", 0);
    assert_eq!(stop.rc, OcfExit::Ok, "{stop:?}");

    // Start again and stop cleanly: the server goes away.
    assert_eq!(run(&mut r, "start", 0).rc, OcfExit::Ok);
    let pid: u32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
    assert_eq!(run(&mut r, "stop", 0).rc, OcfExit::Ok);
    assert!(!alive(pid));
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
}
