//! What Pacemaker's command-line tools share: option parsing in glib's style, opening the CIB
//! named by `CIB_file` / `CIB_shadow`, and the "cannot connect" answers when neither is set
//! and no cluster daemon serves the live CIB.
//!
//! Option parsing accepts `-x VAL`, `-xVAL`, grouped flags (`-qG`), `--long VAL` and
//! `--long=VAL`; an option whose value is optional takes it only in the attached form or when
//! the next word does not start with `-`. Unknown options produce
//! `TOOL: Unknown option WORD` and exit 64, like the originals.

use std::path::PathBuf;

use super::exit;
use super::store::{CibSource, StoreError};
use super::xml::Element;

/// Whether an option takes a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Takes {
    /// A flag.
    No,
    /// A value is required.
    Value,
    /// A value may follow.
    Optional,
}

/// One option a tool accepts.
#[derive(Debug, Clone, Copy)]
pub struct Opt {
    /// Short letter, if any.
    pub short: Option<char>,
    /// Long name (without `--`); the canonical name reported by the parser.
    pub long: &'static str,
    /// Value kind.
    pub takes: Takes,
}

/// Shorthand constructor for [`Opt`].
pub const fn opt(short: Option<char>, long: &'static str, takes: Takes) -> Opt {
    Opt { short, long, takes }
}

/// A tool failure: the message to print on stderr and the exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Exit code (see [`super::exit`]).
    pub code: i32,
    /// Full text for stderr (may be empty).
    pub message: String,
}

impl Failure {
    /// A failure with `code` and `message`.
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        Failure { code, message: message.into() }
    }
}

/// The parsed command line: options in order, with their values, and positional words.
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    /// `(long name, value)` in command-line order.
    pub opts: Vec<(&'static str, Option<String>)>,
    /// Words that are not options.
    pub positional: Vec<String>,
}

impl Parsed {
    /// Whether option `long` was given.
    pub fn has(&self, long: &str) -> bool {
        self.opts.iter().any(|(l, _)| *l == long)
    }
    /// The last value of option `long`.
    pub fn value(&self, long: &str) -> Option<&str> {
        self.opts.iter().rev().find(|(l, _)| *l == long).and_then(|(_, v)| v.as_deref())
    }
    /// How many times `long` was given (for `-V -V`).
    pub fn count(&self, long: &str) -> usize {
        self.opts.iter().filter(|(l, _)| *l == long).count()
    }
}

/// Parses `args` (without the program name) against `spec`.
///
/// # Errors
/// An unknown option or a missing value, worded as Pacemaker's tools word it, exit 64.
pub fn parse(tool: &str, spec: &[Opt], args: &[String]) -> Result<Parsed, Failure> {
    let mut out = Parsed::default();
    let mut i = 0;
    let unknown = |w: &str| Failure::new(exit::USAGE, format!("{tool}: Unknown option {w}"));
    let missing = |w: &str| Failure::new(exit::USAGE, format!("{tool}: Missing argument for {w}"));
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if a == "--" {
            out.positional.extend(args[i..].iter().cloned());
            break;
        }
        if let Some(body) = a.strip_prefix("--") {
            let (name, inline) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (body, None),
            };
            let o = spec.iter().find(|o| o.long == name).ok_or_else(|| unknown(a))?;
            let v = match (o.takes, inline) {
                (Takes::No, Some(_)) => return Err(unknown(a)),
                (Takes::No, None) => None,
                (_, Some(v)) => Some(v),
                (Takes::Value, None) => {
                    let v = args.get(i).cloned().ok_or_else(|| missing(a))?;
                    i += 1;
                    Some(v)
                }
                (Takes::Optional, None) => match args.get(i) {
                    Some(n) if !n.starts_with('-') => {
                        i += 1;
                        Some(n.clone())
                    }
                    _ => None,
                },
            };
            out.opts.push((o.long, v));
        } else if a.len() > 1 && a.starts_with('-') {
            let chars: Vec<char> = a[1..].chars().collect();
            let mut j = 0;
            while j < chars.len() {
                let c = chars[j];
                j += 1;
                let o = spec
                    .iter()
                    .find(|o| o.short == Some(c))
                    .ok_or_else(|| unknown(&format!("-{c}")))?;
                let rest: String = chars[j..].iter().collect();
                let v = match o.takes {
                    Takes::No => None,
                    Takes::Value | Takes::Optional if !rest.is_empty() => {
                        j = chars.len();
                        Some(rest)
                    }
                    Takes::Value => {
                        let v = args.get(i).cloned().ok_or_else(|| missing(&format!("-{c}")))?;
                        i += 1;
                        Some(v)
                    }
                    Takes::Optional => match args.get(i) {
                        Some(n) if !n.starts_with('-') => {
                            i += 1;
                            Some(n.clone())
                        }
                        _ => None,
                    },
                };
                out.opts.push((o.long, v));
            }
        } else {
            out.positional.push(a.clone());
        }
    }
    Ok(out)
}

/// The CIB source selected by the environment. With neither `CIB_file` nor `CIB_shadow` set
/// the live CIB is the local `clusterd`'s, reached through its socket
/// ([`crate::daemon::proto`]): the result is then `CibSource::Live(socket path)`, which
/// [`load`] and [`save`] talk to.
///
/// # Errors
/// Live CIB requested but no daemon socket on this node: `disconnect` as message, exit 102.
pub fn offline_source(disconnect: &str) -> Result<CibSource, Failure> {
    match CibSource::from_env() {
        CibSource::Live(_) => {
            let sock = crate::daemon::proto::socket_path();
            if sock.exists() {
                Ok(CibSource::Live(sock))
            } else {
                Err(Failure::new(exit::DISCONNECT, disconnect))
            }
        }
        s => Ok(s),
    }
}

/// The live CIB as the tool loaded it: what the tool changed is the difference to this copy,
/// not to the live CIB at save time (which the cluster may have moved on meanwhile).
static LOADED: std::sync::Mutex<Option<Element>> = std::sync::Mutex::new(None);

/// Loads the CIB from `src`, mapping errors to Pacemaker-like failures.
///
/// # Errors
/// Missing file: exit 66 (`NOINPUT`); bad XML or not a CIB: exit 65 (`DATAERR`); daemon not
/// answering: exit 102.
pub fn load(tool: &str, src: &CibSource) -> Result<Element, Failure> {
    if let CibSource::Live(sock) = src {
        use crate::daemon::proto::{call, Request};
        let text = call(sock, &Request::Query).map_err(|e| {
            Failure::new(exit::DISCONNECT, format!("{tool}: Could not connect to the CIB: {e}"))
        })?;
        let cib = Element::parse(&text)
            .map_err(|e| Failure::new(exit::DATAERR, format!("{tool}: live CIB: {e}")))?;
        if let Ok(mut g) = LOADED.lock() {
            *g = Some(cib.clone());
        }
        return Ok(cib);
    }
    src.load().map_err(|e| match e {
        StoreError::Io { .. } => {
            Failure::new(exit::NOINPUT, format!("{tool}: Could not connect to the CIB: {e}"))
        }
        _ => Failure::new(exit::DATAERR, format!("{tool}: {e}")),
    })
}

/// Saves the CIB to `src` atomically. For the live CIB, what changed since [`load`] goes to
/// the daemon: a changed `configuration` section as `REPLACE` (applied cluster-wide through
/// the DC; status changes made alongside are not applied, with a warning), a status-only
/// change as `CLEANUP` requests for removed resource history or fail counts and `ATTR`
/// requests for other transient attributes set or deleted
/// ([`crate::daemon::proto::status_changes`]); nothing changed: nothing sent.
///
/// # Errors
/// Write failure: exit 73 (`CANTCREAT`), nothing changed. Live: any other status change is
/// refused (exit 1, nothing changed); daemon refused or unreachable (exit 102).
pub fn save(tool: &str, src: &CibSource, cib: &Element) -> Result<(), Failure> {
    if let CibSource::Live(sock) = src {
        use crate::daemon::proto::{call, Request};
        let loaded = LOADED.lock().ok().and_then(|g| g.clone());
        let conf = cib
            .child("configuration")
            .ok_or_else(|| Failure::new(exit::DATAERR, format!("{tool}: no configuration")))?;
        let loaded_status = loaded.as_ref().and_then(|c| c.child("status"));
        let status_changed = cib.child("status") != loaded_status;
        let conf_changed = loaded.as_ref().and_then(|c| c.child("configuration")) != Some(conf);
        if !status_changed && !conf_changed {
            return Ok(());
        }
        if !conf_changed {
            // Only a cleanup (removed history / fail counts) can be carried to the daemon.
            let empty = Element::new("status");
            let before = loaded_status.unwrap_or(&empty);
            let after = cib.child("status").unwrap_or(&empty);
            let refuse = |why: String| {
                Failure::new(
                    exit::ERROR,
                    format!(
                        "{tool}: {why}: only configuration changes, resource cleanups and \
                         transient attributes can be applied to the live CIB through clusterd; nothing changed"
                    ),
                )
            };
            let list = crate::daemon::proto::status_changes(before, after).map_err(refuse)?;
            for change in list {
                call(sock, &change.request()).map_err(|e| {
                    Failure::new(exit::DISCONNECT, format!("{tool}: Could not update the CIB: {e}"))
                })?;
            }
            return Ok(());
        }
        if status_changed {
            eprintln!("{tool}: warning: status section changes are not applied to the live CIB");
        }
        return call(sock, &Request::Replace(conf.to_compact_string())).map(|_| ()).map_err(|e| {
            Failure::new(exit::DISCONNECT, format!("{tool}: Could not update the CIB: {e}"))
        });
    }
    src.save(cib).map_err(|e| Failure::new(exit::CANTCREAT, format!("{tool}: {e}")))
}

/// The shadow directory: `CIB_shadow_dir`, else the default CIB directory.
pub fn shadow_dir() -> PathBuf {
    std::env::var("CIB_shadow_dir")
        .ok()
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(super::store::CIB_DIR_DEFAULT))
}

/// Runs a tool body: prints a failure's message on stderr and exits with its code.
pub fn run(body: impl FnOnce(&[String]) -> Result<(), Failure>) -> ! {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match body(&args) {
        Ok(()) => std::process::exit(0),
        Err(f) => {
            if !f.message.is_empty() {
                eprintln!("{}", f.message.trim_end_matches('\n'));
            }
            std::process::exit(f.code)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &[Opt] = &[
        opt(Some('n'), "name", Takes::Value),
        opt(Some('q'), "quiet", Takes::No),
        opt(Some('G'), "query", Takes::No),
        opt(Some('p'), "promotion", Takes::Optional),
    ];

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn forms() {
        let p = parse("t", SPEC, &words("-qG -nfoo --name=bar --promotion -q x")).unwrap();
        assert!(p.has("quiet") && p.has("query"));
        assert_eq!(p.value("name"), Some("bar"));
        assert_eq!(p.value("promotion"), None);
        assert!(p.has("promotion"));
        assert_eq!(p.positional, ["x"]);
        let p = parse("t", SPEC, &words("-p rsc -G")).unwrap();
        assert_eq!(p.value("promotion"), Some("rsc"));
        let e = parse("t", SPEC, &words("--bogus")).unwrap_err();
        assert_eq!((e.code, e.message.as_str()), (64, "t: Unknown option --bogus"));
        assert_eq!(parse("t", SPEC, &words("-Z")).unwrap_err().message, "t: Unknown option -Z");
        assert_eq!(parse("t", SPEC, &words("-n")).unwrap_err().code, 64);
    }
}
