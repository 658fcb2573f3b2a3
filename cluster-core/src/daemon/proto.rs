//! The local CIB socket protocol between `clusterd` and the tools on the same node.
//!
//! The socket is `$CLUSTERD_RUN_DIR/cib.sock` (default `/run/clusterd/cib.sock`), mode 0600 in
//! a 0700 directory: only root talks to it. One request per connection; every request and
//! reply is one frame: a big-endian `u32` byte length (at most [`MAX_FRAME`]) followed by that
//! many bytes of UTF-8 text.
//!
//! Requests:
//! * `QUERY`: the reply is the node's current CIB copy (XML).
//! * `REPLACE <configuration XML>`: replace the `configuration` section cluster-wide. The
//!   daemon hands it to its controller (which forwards it to the DC) and answers once its own
//!   copy carries a higher `epoch` (read-your-writes for the next tool), or at once when the
//!   configuration is unchanged.
//! * `CLEANUP <node> <resource>`: forget the resource's history and failures on the node
//!   (`CibChange::Cleanup`, applied by the DC, which then probes it again); answered once the
//!   controller accepted it. Tools produce it from a status section whose only change is
//!   removed history or fail counts ([`cleanups`]).
//! * `ATTR <node> <name>` then optionally a newline and a value: set (value given) or delete
//!   (no newline) a transient node attribute (`CibChange::TransientAttr`, applied by the DC);
//!   answered once the controller accepted it. Tools produce it from a status section whose
//!   change is a set or deleted transient attribute ([`status_changes`]): `crm_attribute -l
//!   reboot`, `crm_attribute -p` (promotion scores set by agents), `crm_master`.
//! * `SHUTDOWN`: leave the cluster cleanly: the node's resources move away (or stop), then the
//!   daemon answers and exits (`clusterd --shutdown`, systemd's `ExecStop`).
//!
//! Replies start with `OK\n` followed by the body (may be empty), or `ERR ` followed by the
//! reason.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cib::xml::Element;

/// Largest frame accepted either way.
pub const MAX_FRAME: usize = 32 << 20;
/// Default run directory of the daemon.
pub const RUN_DIR_DEFAULT: &str = "/run/clusterd";
/// How long a client waits for the daemon's answer.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

/// Errors of the socket protocol.
#[derive(Debug, thiserror::Error)]
pub enum ProtoError {
    /// Connecting, reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The socket.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// A frame announced more than [`MAX_FRAME`] bytes.
    #[error("frame of {0} bytes exceeds the limit")]
    TooLarge(usize),
    /// A frame is not UTF-8.
    #[error("frame is not UTF-8 text")]
    NotText,
    /// The daemon refused the request.
    #[error("clusterd refused the request: {0}")]
    Refused(String),
    /// The reply is neither `OK` nor `ERR`.
    #[error("malformed reply from clusterd")]
    BadReply,
}

/// The daemon's run directory: `CLUSTERD_RUN_DIR`, else [`RUN_DIR_DEFAULT`].
pub fn run_dir() -> PathBuf {
    std::env::var("CLUSTERD_RUN_DIR")
        .ok()
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(RUN_DIR_DEFAULT))
}

/// The CIB socket path in the run directory.
pub fn socket_path() -> PathBuf {
    run_dir().join("cib.sock")
}

/// Writes one frame.
///
/// # Errors
/// I/O errors; payloads over [`MAX_FRAME`].
pub fn write_frame(w: &mut impl Write, payload: &[u8]) -> std::io::Result<()> {
    if payload.len() > MAX_FRAME {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "frame too large"));
    }
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    w.write_all(&len.to_be_bytes())?;
    w.write_all(payload)?;
    w.flush()
}

/// Reads one frame as text.
///
/// # Errors
/// I/O errors, a length over [`MAX_FRAME`], or bytes that are not UTF-8 (all as
/// `InvalidData`).
pub fn read_frame(r: &mut impl Read) -> std::io::Result<String> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len)?;
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("frame of {len} bytes exceeds the limit"),
        ));
    }
    let mut buf = vec![0u8; len];
    r.read_exact(&mut buf)?;
    String::from_utf8(buf)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "frame is not UTF-8"))
}

/// A request as the daemon parses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `QUERY`.
    Query,
    /// `REPLACE <xml>`.
    Replace(String),
    /// `CLEANUP <node> <rsc>`.
    Cleanup {
        /// Node name.
        node: String,
        /// Resource id.
        rsc: String,
    },
    /// `SHUTDOWN`.
    Shutdown,
    /// `ATTR <node> <name>[\n<value>]`.
    Attr {
        /// Node name.
        node: String,
        /// Attribute name.
        name: String,
        /// New value; `None` deletes.
        value: Option<String>,
    },
}

impl Request {
    /// Parses a request frame; `None` for anything unknown.
    pub fn parse(text: &str) -> Option<Request> {
        match text {
            "QUERY" => return Some(Request::Query),
            "SHUTDOWN" => return Some(Request::Shutdown),
            _ => {}
        }
        if let Some(rest) = text.strip_prefix("CLEANUP ") {
            let mut w = rest.split(' ');
            return match (w.next(), w.next(), w.next()) {
                (Some(n), Some(r), None) if !n.is_empty() && !r.is_empty() => {
                    Some(Request::Cleanup { node: n.to_string(), rsc: r.to_string() })
                }
                _ => None,
            };
        }
        if let Some(rest) = text.strip_prefix("ATTR ") {
            let (head, value) = match rest.split_once('\n') {
                Some((h, v)) => (h, Some(v.to_string())),
                None => (rest, None),
            };
            let mut w = head.split(' ');
            return match (w.next(), w.next(), w.next()) {
                (Some(n), Some(a), None) if !n.is_empty() && !a.is_empty() => {
                    Some(Request::Attr { node: n.to_string(), name: a.to_string(), value })
                }
                _ => None,
            };
        }
        text.strip_prefix("REPLACE ").map(|x| Request::Replace(x.to_string()))
    }

    /// The frame text of this request.
    pub fn to_text(&self) -> String {
        match self {
            Request::Query => "QUERY".to_string(),
            Request::Replace(x) => format!("REPLACE {x}"),
            Request::Cleanup { node, rsc } => format!("CLEANUP {node} {rsc}"),
            Request::Shutdown => "SHUTDOWN".to_string(),
            Request::Attr { node, name, value: Some(v) } => format!("ATTR {node} {name}\n{v}"),
            Request::Attr { node, name, value: None } => format!("ATTR {node} {name}"),
        }
    }
}

/// Sends one request to the socket at `path` and returns the body of an `OK` reply.
///
/// # Errors
/// The socket cannot be reached, the daemon answered `ERR`, or the reply is malformed.
pub fn call(path: &Path, req: &Request) -> Result<String, ProtoError> {
    call_timeout(path, req, CLIENT_TIMEOUT)
}

/// [`call`] waiting up to `timeout` for the reply.
///
/// # Errors
/// As [`call`]; a timeout is an I/O error.
pub fn call_timeout(path: &Path, req: &Request, timeout: Duration) -> Result<String, ProtoError> {
    let io = |source| ProtoError::Io { path: path.to_path_buf(), source };
    let mut s = UnixStream::connect(path).map_err(io)?;
    s.set_read_timeout(Some(timeout)).map_err(io)?;
    write_frame(&mut s, req.to_text().as_bytes()).map_err(io)?;
    let reply = read_frame(&mut s).map_err(io)?;
    if let Some(body) = reply.strip_prefix("OK\n") {
        Ok(body.to_string())
    } else if reply == "OK" {
        Ok(String::new())
    } else if let Some(why) = reply.strip_prefix("ERR ") {
        Err(ProtoError::Refused(why.to_string()))
    } else {
        Err(ProtoError::BadReply)
    }
}

/// A status-section change a tool can carry to the daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusChange {
    /// Forget a resource's history and failures on a node (`CLEANUP`).
    Cleanup {
        /// Node name.
        node: String,
        /// Resource id (clone suffix dropped).
        rsc: String,
    },
    /// Set or delete one transient node attribute (`ATTR`).
    Attr {
        /// Node name.
        node: String,
        /// Attribute name.
        name: String,
        /// New value; `None` deletes.
        value: Option<String>,
    },
}

impl StatusChange {
    /// The socket request carrying this change.
    pub fn request(&self) -> Request {
        match self {
            StatusChange::Cleanup { node, rsc } => {
                Request::Cleanup { node: node.clone(), rsc: rsc.clone() }
            }
            StatusChange::Attr { node, name, value } => {
                Request::Attr { node: node.clone(), name: name.clone(), value: value.clone() }
            }
        }
    }
}

/// The cleanups `(node, resource)` that turn status section `before` into `after`, when the
/// only differences are removed resource histories (`lrm_resource`) and removed
/// `fail-count-*` / `last-failure-*` transient attributes (what `crm_resource --cleanup` and
/// `crm_failcount -D` do). Clone instance suffixes (`rsc:N`) are dropped.
///
/// # Errors
/// Any other difference (a new or changed attribute, a changed history, a node added or
/// removed), named in the message.
pub fn cleanups(before: &Element, after: &Element) -> Result<Vec<(String, String)>, String> {
    let list = status_diff(before, after, false)?;
    Ok(list
        .into_iter()
        .filter_map(|c| match c {
            StatusChange::Cleanup { node, rsc } => Some((node, rsc)),
            StatusChange::Attr { .. } => None,
        })
        .collect())
}

/// The changes that turn status section `before` into `after`: cleanups as in [`cleanups`],
/// plus every other transient attribute set, changed or deleted (one [`StatusChange::Attr`]
/// each), in document order.
///
/// # Errors
/// A changed resource history, node state or node list, named in the message.
pub fn status_changes(before: &Element, after: &Element) -> Result<Vec<StatusChange>, String> {
    status_diff(before, after, true)
}

fn status_diff(
    before: &Element,
    after: &Element,
    attrs_too: bool,
) -> Result<Vec<StatusChange>, String> {
    let mut out: Vec<StatusChange> = Vec::new();
    let mut attr_changes: Vec<StatusChange> = Vec::new();
    let mut add = |node: &str, rsc: &str| {
        let rsc = rsc.split(':').next().unwrap_or(rsc).to_string();
        let c = StatusChange::Cleanup { node: node.to_string(), rsc };
        if !out.contains(&c) {
            out.push(c);
        }
    };
    let states =
        |e: &Element| -> Vec<Element> { e.children_named("node_state").cloned().collect() };
    let (b, a) = (states(before), states(after));
    if b.len() != a.len() || before.children.len() != after.children.len() {
        return Err("nodes were added to or removed from the status section".into());
    }
    for (nb, na) in b.iter().zip(&a) {
        let uname = nb.attr("uname").unwrap_or("").to_string();
        if nb.attrs != na.attrs {
            return Err(format!("node_state of {uname} changed"));
        }
        let lrs = |e: &Element| -> Vec<Element> {
            e.path(&["lrm", "lrm_resources"]).map(|l| l.children.clone()).unwrap_or_default()
        };
        let (lb, la) = (lrs(nb), lrs(na));
        for r in &la {
            if !lb.contains(r) {
                return Err(format!(
                    "resource history of {} on {uname} changed",
                    r.id().unwrap_or("?")
                ));
            }
        }
        for r in &lb {
            if !la.contains(r) {
                add(&uname, r.id().unwrap_or(""));
            }
        }
        let attrs = |e: &Element| -> Vec<Element> {
            e.child("transient_attributes")
                .map(|t| t.children.iter().flat_map(|s| s.children.clone()).collect())
                .unwrap_or_default()
        };
        let (tb, ta) = (attrs(nb), attrs(na));
        let name_of = |p: &Element| p.attr("name").unwrap_or("").to_string();
        for p in &ta {
            if !tb.contains(p) {
                if !attrs_too {
                    return Err(format!(
                        "transient attribute {} of {uname} set (transient attributes cannot be \
                         set here)",
                        name_of(p)
                    ));
                }
                attr_changes.push(StatusChange::Attr {
                    node: uname.clone(),
                    name: name_of(p),
                    value: Some(p.attr("value").unwrap_or("").to_string()),
                });
            }
        }
        for p in &tb {
            if ta.contains(p) {
                continue;
            }
            let name = p.attr("name").unwrap_or("");
            if ta.iter().any(|q| q.attr("name") == Some(name)) {
                // Changed in place: already carried as a set above.
                continue;
            }
            let rsc = ["fail-count-", "last-failure-"]
                .iter()
                .find_map(|pre| name.strip_prefix(pre))
                .map(|r| r.split('#').next().unwrap_or(r));
            match rsc {
                Some(r) if !r.is_empty() => add(&uname, r),
                _ if attrs_too => attr_changes.push(StatusChange::Attr {
                    node: uname.clone(),
                    name: name.to_string(),
                    value: None,
                }),
                _ => {
                    return Err(format!(
                        "transient attribute {name} of {uname} deleted (transient attributes \
                         cannot be changed here)"
                    ))
                }
            }
        }
        let strip = |e: &Element| {
            let mut e = e.clone();
            e.children.retain(|c| c.name != "lrm" && c.name != "transient_attributes");
            e
        };
        if strip(nb) != strip(na) {
            return Err(format!("node_state of {uname} changed"));
        }
    }
    out.extend(attr_changes);
    if out.is_empty() && before != after {
        return Err("the status section changed".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_refuse_oversize() {
        let mut buf = Vec::new();
        write_frame(&mut buf, b"QUERY").unwrap();
        assert_eq!(&buf[..4], &[0, 0, 0, 5]);
        assert_eq!(read_frame(&mut &buf[..]).unwrap(), "QUERY");
        let big = ((MAX_FRAME + 1) as u32).to_be_bytes();
        assert!(read_frame(&mut &big[..]).is_err());
        let bad = [0, 0, 0, 1, 0xff];
        assert!(read_frame(&mut &bad[..]).is_err());
        assert!(read_frame(&mut &[0u8, 0][..]).is_err(), "truncated length");
    }

    #[test]
    fn requests_parse() {
        assert_eq!(Request::parse("QUERY"), Some(Request::Query));
        assert_eq!(
            Request::parse("REPLACE <configuration/>"),
            Some(Request::Replace("<configuration/>".into()))
        );
        assert_eq!(Request::parse("DELETE"), None);
        assert_eq!(Request::parse("SHUTDOWN"), Some(Request::Shutdown));
        let c = Request::Cleanup { node: "n1".into(), rsc: "d".into() };
        assert_eq!(Request::parse(&c.to_text()), Some(c));
        assert_eq!(Request::parse("CLEANUP n1"), None);
        assert_eq!(Request::parse("CLEANUP n1 d x"), None);
        let r = Request::Replace("<x/>".into());
        assert_eq!(Request::parse(&r.to_text()), Some(r));
        for value in [Some("10000".to_string()), Some(String::new()), Some("a b\nc".into()), None] {
            let a = Request::Attr { node: "n1".into(), name: "master-d".into(), value };
            assert_eq!(Request::parse(&a.to_text()), Some(a));
        }
        assert_eq!(Request::parse("ATTR n1"), None);
        assert_eq!(Request::parse("ATTR n1 a b\nv"), None);
    }

    fn node_state(attrs: &[(&str, &str)]) -> Element {
        let mut set = Element::new("instance_attributes").with_attr("id", "status-1");
        for (n, v) in attrs {
            set.children.push(
                Element::new("nvpair")
                    .with_attr("id", &format!("status-1-{n}"))
                    .with_attr("name", n)
                    .with_attr("value", v),
            );
        }
        let mut ta = Element::new("transient_attributes").with_attr("id", "1");
        ta.children.push(set);
        let mut ns = Element::new("node_state").with_attr("id", "1").with_attr("uname", "a");
        ns.children.push(ta);
        let mut st = Element::new("status");
        st.children.push(ns);
        st
    }

    #[test]
    fn status_changes_carry_transient_attributes() {
        let before = node_state(&[("master-d", "1000"), ("x", "1"), ("fail-count-d#start_0", "1")]);
        let after = node_state(&[("master-d", "10000"), ("y", "2")]);
        let got = status_changes(&before, &after).unwrap();
        let attr = |n: &str, v: Option<&str>| StatusChange::Attr {
            node: "a".into(),
            name: n.into(),
            value: v.map(str::to_string),
        };
        assert_eq!(
            got,
            vec![
                StatusChange::Cleanup { node: "a".into(), rsc: "d".into() },
                attr("master-d", Some("10000")),
                attr("y", Some("2")),
                attr("x", None),
            ]
        );
        // The cleanup-only view still refuses attribute changes.
        assert!(cleanups(&before, &after).unwrap_err().contains("transient attribute"));
        assert_eq!(
            got[1].request(),
            Request::Attr {
                node: "a".into(),
                name: "master-d".into(),
                value: Some("10000".into())
            }
        );
        // A changed node_state is still refused.
        let mut moved = after.clone();
        moved.children[0].set_attr("crmd", "offline");
        assert!(status_changes(&before, &moved).is_err());
    }

    /// A fake daemon answering `n` connections: QUERY with `cib`, REPLACE with `replace_reply`
    /// (the REPLACE bodies are sent back over the channel).
    fn fake_daemon(
        n: usize,
        cib: &'static str,
        replace_reply: &'static str,
    ) -> (PathBuf, std::sync::mpsc::Receiver<String>, std::thread::JoinHandle<()>) {
        use std::os::unix::net::UnixListener;
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "rcd-proto-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let sock = dir.join("cib.sock");
        let l = UnixListener::bind(&sock).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let h = std::thread::spawn(move || {
            for _ in 0..n {
                let (mut s, _) = l.accept().unwrap();
                let req = read_frame(&mut s).unwrap();
                let reply = match Request::parse(&req) {
                    Some(Request::Query) => format!("OK\n{cib}"),
                    Some(Request::Replace(x)) => {
                        tx.send(x).unwrap();
                        replace_reply.to_string()
                    }
                    Some(c @ (Request::Cleanup { .. } | Request::Attr { .. })) => {
                        tx.send(c.to_text()).unwrap();
                        "OK\n".to_string()
                    }
                    _ => "ERR unknown".to_string(),
                };
                write_frame(&mut s, reply.as_bytes()).unwrap();
            }
            let _ = std::fs::remove_dir_all(&dir);
        });
        (sock, rx, h)
    }

    const LIVE: &str = r#"<cib epoch="3" num_updates="1"><configuration><crm_config/><nodes/><resources/><constraints/></configuration><status><node_state id="1" uname="a"><lrm id="1"><lrm_resources><lrm_resource id="d"/></lrm_resources></lrm></node_state></status></cib>"#;

    #[test]
    fn tools_save_configuration_changes_through_the_socket() {
        use crate::cib::cli::{load, save};
        use crate::cib::store::CibSource;
        // load, then save: QUERY, REPLACE.
        let (sock, rx, h) = fake_daemon(2, LIVE, "OK\n");
        let src = CibSource::Live(sock);
        let mut cib = load("t", &src).unwrap();
        assert_eq!(cib.attr("epoch"), Some("3"));
        cib.path_mut(&["configuration", "resources"])
            .unwrap()
            .children
            .push(crate::cib::xml::Element::new("primitive").with_attr("id", "x"));
        save("t", &src, &cib).unwrap();
        let sent = rx.recv().unwrap();
        assert!(sent.starts_with("<configuration>") && sent.contains(r#"id="x""#), "{sent}");
        h.join().unwrap();
    }

    #[test]
    fn tools_status_only_changes_are_refused_and_daemon_errors_reported() {
        use crate::cib::cli::{load, save};
        use crate::cib::store::CibSource;
        let (sock, rx, h) = fake_daemon(1, LIVE, "OK\n");
        let src = CibSource::Live(sock);
        let mut cib = load("t", &src).unwrap();
        cib.child_mut("status").unwrap().children.clear();
        let e = save("t", &src, &cib).unwrap_err();
        assert_eq!(e.code, crate::cib::exit::ERROR);
        assert!(e.message.contains("nothing changed"), "{}", e.message);
        h.join().unwrap();
        assert!(rx.try_recv().is_err(), "nothing was sent");

        // Removed history: a cleanup request.
        let (sock, rx, h) = fake_daemon(2, LIVE, "OK\n");
        let src = CibSource::Live(sock);
        let mut cib = load("t", &src).unwrap();
        cib.child_mut("status").unwrap().children[0]
            .path_mut(&["lrm", "lrm_resources"])
            .unwrap()
            .children
            .clear();
        save("t", &src, &cib).unwrap();
        assert_eq!(rx.recv().unwrap(), "CLEANUP a d");
        h.join().unwrap();

        // A set transient attribute (a promotion score): an ATTR request.
        let (sock, rx, h) = fake_daemon(2, LIVE, "OK\n");
        let src = CibSource::Live(sock);
        let mut cib = load("t", &src).unwrap();
        crate::cib::ops::set_attr(
            &mut cib,
            crate::cib::ops::Scope::Status,
            Some("a"),
            None,
            "master-d",
            "5",
        )
        .unwrap();
        save("t", &src, &cib).unwrap();
        assert_eq!(rx.recv().unwrap(), "ATTR a master-d\n5");
        h.join().unwrap();

        let (sock, _rx, h) = fake_daemon(2, LIVE, "ERR invalid configuration: boom");
        let src = CibSource::Live(sock);
        let mut cib = load("t", &src).unwrap();
        cib.child_mut("configuration").unwrap().children.clear();
        let e = save("t", &src, &cib).unwrap_err();
        assert_eq!(e.code, crate::cib::exit::DISCONNECT);
        assert!(e.message.contains("boom"), "{}", e.message);
        h.join().unwrap();
    }

    const STATUS: &str = r#"<status>
      <node_state id="1" uname="a" in_ccm="true">
        <transient_attributes id="1"><instance_attributes id="status-1">
          <nvpair id="s1-fc" name="fail-count-d#monitor_10000" value="1"/>
          <nvpair id="s1-lf" name="last-failure-d#monitor_10000" value="100"/>
          <nvpair id="s1-x" name="x" value="1"/>
        </instance_attributes></transient_attributes>
        <lrm id="1"><lrm_resources>
          <lrm_resource id="d" class="ocf" provider="heartbeat" type="Dummy"/>
          <lrm_resource id="c:1" class="ocf" provider="heartbeat" type="Dummy"/>
        </lrm_resources></lrm>
      </node_state></status>"#;

    #[test]
    fn status_removals_become_cleanups_and_anything_else_is_refused() {
        let before = Element::parse(STATUS).unwrap();
        assert_eq!(cleanups(&before, &before).unwrap(), vec![]);
        let mut after = before.clone();
        let ns = after.children.iter_mut().next().unwrap();
        ns.path_mut(&["lrm", "lrm_resources"]).unwrap().children.retain(|r| r.id() != Some("d"));
        let set = ns.child_mut("transient_attributes").unwrap().children.first_mut().unwrap();
        set.children.retain(|p| !p.attr("name").unwrap().contains("-d#"));
        assert_eq!(cleanups(&before, &after).unwrap(), vec![("a".to_string(), "d".to_string())]);

        let mut clone = before.clone();
        clone.children[0]
            .path_mut(&["lrm", "lrm_resources"])
            .unwrap()
            .children
            .retain(|r| r.id() != Some("c:1"));
        assert_eq!(cleanups(&before, &clone).unwrap(), vec![("a".to_string(), "c".to_string())]);

        let mut x = before.clone();
        x.children[0].child_mut("transient_attributes").unwrap().children[0]
            .children
            .retain(|p| p.attr("name") != Some("x"));
        assert!(cleanups(&before, &x).unwrap_err().contains("x of a deleted"));

        let mut set_attr = before.clone();
        set_attr.children[0].child_mut("transient_attributes").unwrap().children[0]
            .children
            .push(Element::new("nvpair").with_attr("id", "n").with_attr("name", "y"));
        assert!(cleanups(&before, &set_attr).unwrap_err().contains("transient attribute y"));

        let mut ccm = before.clone();
        ccm.children[0].set_attr("in_ccm", "false");
        assert!(cleanups(&before, &ccm).is_err());
    }
}
