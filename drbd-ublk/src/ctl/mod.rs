//! Control protocol between `drbdadm` and the `drbd-ublkd` daemon, and the status texts.
//!
//! # Transport
//! A Unix stream socket, `$DRBD_UBLK_RUN_DIR/ctl.sock` (default `/run/drbd-ublk/ctl.sock`),
//! created mode 0600 so only root can talk to the daemon. One request and one response per
//! connection.
//!
//! # Encoding
//! Every message is one frame: a 4-byte big-endian length (at most [`MAX_FRAME`]) followed
//! by that many bytes of UTF-8 text, lines separated by `\n`. A request is
//! `drbdctl 1` / verb / resource (empty for none) / zero or more option lines. A response
//! is `drbdctl 1 ok` followed by a body, or `drbdctl 1 err <exit code>` followed by the
//! message. Status bodies are [`ResourceStatus`] records as `key=value` lines, records
//! separated by a line `--`. Anything else (other version, unknown verb, bad option,
//! oversized frame) is refused with [`CtlError::Malformed`] and changes nothing.

pub mod render;
mod status;

pub use status::{ResourceStatus, SyncProgress};
pub(crate) use status::{CONNS, DISKS, ROLES};

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

/// Protocol version carried by every message.
pub const VERSION: u32 = 1;
/// Largest frame accepted, in bytes.
pub const MAX_FRAME: usize = 1 << 20;
/// Default run directory (control socket, proc-drbd, FUSE mounts).
pub const DEFAULT_RUN_DIR: &str = "/run/drbd-ublk";
/// Socket file name inside the run directory.
pub const SOCKET_NAME: &str = "ctl.sock";

/// drbdsetup-like exit codes carried by errors.
pub mod exit {
    /// Command line / request error.
    pub const USAGE: i32 = 3;
    /// Configuration error (unknown resource, bad config).
    pub const CONFIG: i32 = 10;
    /// A state change was refused (drbdsetup returns 11 for SS_* errors).
    pub const STATE: i32 = 11;
    /// Operation failed (I/O, device, daemon not reachable).
    pub const EXEC: i32 = 20;
}

/// The run directory: `$DRBD_UBLK_RUN_DIR` or [`DEFAULT_RUN_DIR`].
pub fn run_dir() -> PathBuf {
    std::env::var_os("DRBD_UBLK_RUN_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_RUN_DIR))
}

/// Path of the control socket inside [`run_dir`].
pub fn socket_path() -> PathBuf {
    run_dir().join(SOCKET_NAME)
}

/// Errors of the control protocol. `exit_code` is what drbdadm exits with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CtlError {
    /// The request or response could not be decoded.
    #[error("malformed control message: {0}")]
    Malformed(String),
    /// The daemon refused or failed the request.
    #[error("{message}")]
    Failed {
        /// Exit code for drbdadm.
        exit_code: i32,
        /// DRBD-like message.
        message: String,
    },
    /// Talking to the daemon failed.
    #[error("cannot talk to drbd-ublkd at {path}: {reason}")]
    Unreachable {
        /// Socket path.
        path: PathBuf,
        /// OS error text.
        reason: String,
    },
}

impl CtlError {
    /// Exit code drbdadm returns for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            CtlError::Malformed(_) => exit::USAGE,
            CtlError::Failed { exit_code, .. } => *exit_code,
            CtlError::Unreachable { .. } => exit::EXEC,
        }
    }

    /// A failure with exit code and message.
    pub fn failed(exit_code: i32, message: impl Into<String>) -> CtlError {
        CtlError::Failed { exit_code, message: message.into() }
    }
}

/// One request: a drbdadm verb applied to one resource (or to the daemon).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Liveness check; answered with the daemon's version text.
    Ping,
    /// `up`: attach + connect (connect only if the resource has a peer).
    Up(String),
    /// `down`: disconnect, detach, stop the device (`--force` tears down a mounted device).
    Down {
        /// Resource.
        res: String,
        /// Force.
        force: bool,
    },
    /// `attach`.
    Attach(String),
    /// `detach`.
    Detach {
        /// Resource.
        res: String,
        /// Force.
        force: bool,
    },
    /// `connect [--discard-my-data]`.
    Connect {
        /// Resource.
        res: String,
        /// Split-brain victim.
        discard_my_data: bool,
    },
    /// `disconnect`.
    Disconnect(String),
    /// `primary [--force]`.
    Primary {
        /// Resource.
        res: String,
        /// Force.
        force: bool,
    },
    /// `secondary`.
    Secondary(String),
    /// `invalidate`.
    Invalidate(String),
    /// `invalidate-remote`.
    InvalidateRemote(String),
    /// `verify [--start S]`.
    Verify {
        /// Resource.
        res: String,
        /// First sector.
        start: u64,
    },
    /// `pause-sync`.
    PauseSync(String),
    /// `resume-sync`.
    ResumeSync(String),
    /// `outdate`.
    Outdate(String),
    /// `new-current-uuid [--clear-bitmap]`.
    NewCurrentUuid {
        /// Resource.
        res: String,
        /// Skip the initial sync.
        clear_bitmap: bool,
    },
    /// Status of one resource, or of every running resource (`None`).
    Status(Option<String>),
    /// Stop the daemon (all resources down, forced).
    Shutdown,
}

fn opt_flag(opts: &[&str], name: &str, verb: &str) -> Result<bool, CtlError> {
    let mut found = false;
    for o in opts {
        if *o == name {
            found = true;
        } else {
            return Err(CtlError::Malformed(format!("unknown option '{o}' for '{verb}'")));
        }
    }
    Ok(found)
}

impl Request {
    /// Verb, resource and options of the request.
    fn parts(&self) -> (&'static str, &str, Vec<String>) {
        let flag = |b: bool, n: &str| if b { vec![n.to_string()] } else { vec![] };
        match self {
            Request::Ping => ("ping", "", vec![]),
            Request::Up(r) => ("up", r, vec![]),
            Request::Down { res, force } => ("down", res, flag(*force, "--force")),
            Request::Attach(r) => ("attach", r, vec![]),
            Request::Detach { res, force } => ("detach", res, flag(*force, "--force")),
            Request::Connect { res, discard_my_data } => {
                ("connect", res, flag(*discard_my_data, "--discard-my-data"))
            }
            Request::Disconnect(r) => ("disconnect", r, vec![]),
            Request::Primary { res, force } => ("primary", res, flag(*force, "--force")),
            Request::Secondary(r) => ("secondary", r, vec![]),
            Request::Invalidate(r) => ("invalidate", r, vec![]),
            Request::InvalidateRemote(r) => ("invalidate-remote", r, vec![]),
            Request::Verify { res, start } => ("verify", res, vec![format!("--start={start}")]),
            Request::PauseSync(r) => ("pause-sync", r, vec![]),
            Request::ResumeSync(r) => ("resume-sync", r, vec![]),
            Request::Outdate(r) => ("outdate", r, vec![]),
            Request::NewCurrentUuid { res, clear_bitmap } => {
                ("new-current-uuid", res, flag(*clear_bitmap, "--clear-bitmap"))
            }
            Request::Status(r) => ("status", r.as_deref().unwrap_or(""), vec![]),
            Request::Shutdown => ("shutdown", "", vec![]),
        }
    }

    /// The resource the request names, if any.
    pub fn resource(&self) -> Option<&str> {
        let (_, r, _) = self.parts();
        (!r.is_empty()).then_some(r)
    }

    /// Encodes the request as frame payload text.
    pub fn encode(&self) -> String {
        let (verb, res, opts) = self.parts();
        let mut s = format!("drbdctl {VERSION}\n{verb}\n{res}\n");
        for o in opts {
            s.push_str(&o);
            s.push('\n');
        }
        s
    }

    /// Decodes frame payload text.
    ///
    /// # Errors
    /// [`CtlError::Malformed`] naming the problem (version, verb, missing resource, option).
    pub fn decode(text: &str) -> Result<Request, CtlError> {
        let bad = |m: String| Err(CtlError::Malformed(m));
        let mut lines = text.split('\n');
        let head = lines.next().unwrap_or("");
        if head != format!("drbdctl {VERSION}") {
            return bad(format!("bad header {head:?}, want \"drbdctl {VERSION}\""));
        }
        let verb = lines.next().filter(|v| !v.is_empty());
        let verb = verb.ok_or_else(|| CtlError::Malformed("no verb".into()))?;
        let res = lines.next().ok_or_else(|| CtlError::Malformed("no resource line".into()))?;
        let opts: Vec<&str> = lines.filter(|l| !l.is_empty()).collect();
        if !res.is_empty() && !valid_name(res) {
            return bad(format!("invalid resource name {res:?}"));
        }
        let need = || -> Result<String, CtlError> {
            if res.is_empty() {
                Err(CtlError::Malformed(format!("'{verb}' needs a resource")))
            } else {
                Ok(res.to_string())
            }
        };
        let none = |r: Request| -> Result<Request, CtlError> {
            opt_flag(&opts, "", verb)?;
            Ok(r)
        };
        Ok(match verb {
            "ping" => none(Request::Ping)?,
            "shutdown" => none(Request::Shutdown)?,
            "status" => none(Request::Status((!res.is_empty()).then(|| res.to_string())))?,
            "up" => none(Request::Up(need()?))?,
            "attach" => none(Request::Attach(need()?))?,
            "disconnect" => none(Request::Disconnect(need()?))?,
            "secondary" => none(Request::Secondary(need()?))?,
            "invalidate" => none(Request::Invalidate(need()?))?,
            "invalidate-remote" => none(Request::InvalidateRemote(need()?))?,
            "pause-sync" => none(Request::PauseSync(need()?))?,
            "resume-sync" => none(Request::ResumeSync(need()?))?,
            "outdate" => none(Request::Outdate(need()?))?,
            "down" => Request::Down { res: need()?, force: opt_flag(&opts, "--force", verb)? },
            "detach" => Request::Detach { res: need()?, force: opt_flag(&opts, "--force", verb)? },
            "primary" => {
                Request::Primary { res: need()?, force: opt_flag(&opts, "--force", verb)? }
            }
            "connect" => Request::Connect {
                res: need()?,
                discard_my_data: opt_flag(&opts, "--discard-my-data", verb)?,
            },
            "new-current-uuid" => Request::NewCurrentUuid {
                res: need()?,
                clear_bitmap: opt_flag(&opts, "--clear-bitmap", verb)?,
            },
            "verify" => {
                let mut start = 0;
                for o in &opts {
                    match o.strip_prefix("--start=").map(str::parse::<u64>) {
                        Some(Ok(v)) => start = v,
                        _ => return bad(format!("bad option '{o}' for 'verify'")),
                    }
                }
                Request::Verify { res: need()?, start }
            }
            _ => return bad(format!("unknown verb '{verb}'")),
        })
    }
}

/// Resource names: non-empty, printable, no whitespace or `/`.
pub fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.chars().all(|c| c.is_ascii_graphic() && c != '/')
        && s != "."
        && s != ".."
}

/// A successful response.
#[derive(Debug, Clone, PartialEq)]
pub enum Response {
    /// Done; the text (possibly empty) is printed by drbdadm.
    Text(String),
    /// Status records.
    Status(Vec<ResourceStatus>),
}

/// Encodes a response (or error) as frame payload text.
pub fn encode_response(r: &Result<Response, CtlError>) -> String {
    match r {
        Ok(Response::Text(t)) => format!("drbdctl {VERSION} ok\ntext\n{t}"),
        Ok(Response::Status(list)) => {
            let mut s = format!("drbdctl {VERSION} ok\nstatus\n");
            for (i, st) in list.iter().enumerate() {
                if i > 0 {
                    s.push_str("--\n");
                }
                s.push_str(&st.encode());
            }
            s
        }
        Err(e) => format!("drbdctl {VERSION} err {}\n{e}", e.exit_code()),
    }
}

/// Decodes a response.
///
/// # Errors
/// The daemon's [`CtlError::Failed`], or [`CtlError::Malformed`].
pub fn decode_response(text: &str) -> Result<Response, CtlError> {
    let (head, body) = text.split_once('\n').unwrap_or((text, ""));
    let prefix = format!("drbdctl {VERSION} ");
    let rest = head
        .strip_prefix(&prefix)
        .ok_or_else(|| CtlError::Malformed(format!("bad response header {head:?}")))?;
    if let Some(code) = rest.strip_prefix("err ") {
        let exit_code =
            code.parse().map_err(|_| CtlError::Malformed(format!("bad exit code {code:?}")))?;
        return Err(CtlError::Failed { exit_code, message: body.to_string() });
    }
    if rest != "ok" {
        return Err(CtlError::Malformed(format!("bad response header {head:?}")));
    }
    let (kind, body) = body.split_once('\n').unwrap_or((body, ""));
    match kind {
        "text" => Ok(Response::Text(body.to_string())),
        "status" => {
            let mut out = Vec::new();
            if !body.trim().is_empty() {
                for rec in body.split("--\n") {
                    out.push(ResourceStatus::decode(rec)?);
                }
            }
            Ok(Response::Status(out))
        }
        _ => Err(CtlError::Malformed(format!("bad response kind {kind:?}"))),
    }
}

/// Writes one frame.
///
/// # Errors
/// I/O errors; `InvalidInput` for a payload over [`MAX_FRAME`].
pub fn write_frame(w: &mut impl Write, payload: &str) -> std::io::Result<()> {
    if payload.len() > MAX_FRAME {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "frame too large"));
    }
    w.write_all(&(payload.len() as u32).to_be_bytes())?;
    w.write_all(payload.as_bytes())?;
    w.flush()
}

/// Reads one frame.
///
/// # Errors
/// I/O errors; `InvalidData` for an oversized frame or non-UTF-8 text.
pub fn read_frame(r: &mut impl Read) -> std::io::Result<String> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len)?;
    let len = u32::from_be_bytes(len) as usize;
    let invalid = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, m.to_string());
    if len > MAX_FRAME {
        return Err(invalid("frame larger than 1 MiB"));
    }
    let mut buf = vec![0u8; len];
    r.read_exact(&mut buf)?;
    String::from_utf8(buf).map_err(|_| invalid("frame is not UTF-8"))
}

/// Sends `req` to the daemon at [`socket_path`] and waits for the answer.
///
/// # Errors
/// [`CtlError::Unreachable`] when no daemon listens; the daemon's error otherwise.
pub fn call(req: &Request) -> Result<Response, CtlError> {
    call_at(&socket_path(), req)
}

/// [`call`] with an explicit socket path.
///
/// # Errors
/// As [`call`].
pub fn call_at(path: &std::path::Path, req: &Request) -> Result<Response, CtlError> {
    let unreachable =
        |e: std::io::Error| CtlError::Unreachable { path: path.to_owned(), reason: e.to_string() };
    let mut s = UnixStream::connect(path).map_err(unreachable)?;
    write_frame(&mut s, &req.encode()).map_err(unreachable)?;
    let text = read_frame(&mut s).map_err(unreachable)?;
    decode_response(&text)
}

#[cfg(test)]
mod tests;
