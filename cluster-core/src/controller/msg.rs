//! Controller messages and their byte encoding.
//!
//! Layout: one version byte ([`WIRE_VERSION`]), one tag byte, then the fields of the variant in
//! declaration order. Integers are big-endian (`u32`, `u64`, `i32`); a string is a `u32` byte
//! length followed by that many UTF-8 bytes (at most [`MAX_STRING`]); an optional string is a
//! presence byte (0/1) then the string; a bool is one byte 0/1; a list is a `u32` count then
//! its items (a pair is two strings). Decoding checks every length
//! against the bytes left, refuses unknown versions, tags and trailing bytes, and never panics.

use crate::exec::types::NotifyVars;

/// Encoding version written as the first byte.
pub const WIRE_VERSION: u8 = 1;
/// Largest string field accepted (a whole CIB travels as one string).
pub const MAX_STRING: usize = 16 << 20;

/// A change a local tool asks to apply cluster-wide; it is sent to the DC, which applies it,
/// bumps `epoch` and broadcasts the new CIB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CibChange {
    /// Replace the whole `configuration` section with this XML text.
    ReplaceConfiguration(String),
    /// Set (or with `None` delete) a permanent node attribute (`standby`, ...) in
    /// `configuration/nodes/node[@uname=node]/instance_attributes`.
    NodeAttr {
        /// Node name (uname).
        node: String,
        /// Attribute name.
        name: String,
        /// New value; `None` deletes.
        value: Option<String>,
    },
    /// Remove fail counts and failure history of a resource on a node (`crm resource cleanup`).
    Cleanup {
        /// Node name.
        node: String,
        /// Resource id.
        rsc: String,
    },
    /// The node wants to leave cleanly: its resources move away, then it is marked
    /// `expected="down"` so that its departure is not a failure.
    Shutdown {
        /// Node name.
        node: String,
    },
    /// Set (or with `None` delete) a transient node attribute in
    /// `status/node_state/transient_attributes` (`crm_attribute -l reboot`, promotion scores
    /// set by agents with `crm_attribute -p`, `attrd_updater`).
    TransientAttr {
        /// Node name.
        node: String,
        /// Attribute name.
        name: String,
        /// New value; `None` deletes.
        value: Option<String>,
    },
}

/// One controller-to-controller message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControllerMsg {
    /// DC → all: join round `seq` starts; answer with [`ControllerMsg::JoinReply`].
    JoinOffer {
        /// Join round (unique per DC: high 32 bits are the DC's node id).
        seq: u64,
    },
    /// Node → DC: the node's CIB copy and its own resource history.
    JoinReply {
        /// The round answered.
        seq: u64,
        /// The node's whole CIB copy (XML text, may be empty).
        cib: String,
        /// The node's `lrm` element (XML text).
        lrm: String,
        /// One-shot operations still running on the node.
        busy: u32,
    },
    /// DC → all: the authoritative CIB; replaces the receiver's copy.
    CibReplace {
        /// Join round the DC is in.
        seq: u64,
        /// Whole CIB (XML text).
        cib: String,
    },
    /// Node → DC: apply this change cluster-wide.
    Change(CibChange),
    /// DC → node: execute one operation of a transition.
    RunOp {
        /// Transition key `action:transition:expected_rc:dc_node_id`.
        tkey: String,
        /// Resource (instance) id.
        rsc: String,
        /// Task (`start`, `stop`, `monitor`, ...).
        task: String,
        /// Interval in ms (0 = one-shot).
        interval_ms: u64,
    },
    /// DC → node: run the agent's `notify` for one clone instance of a transition.
    RunNotify {
        /// Transition key `action:transition:expected_rc:dc_node_id`.
        tkey: String,
        /// Resource (instance) id.
        rsc: String,
        /// The notification variables (`OCF_RESKEY_CRM_meta_notify_*`; boxed: they are much
        /// larger than the other variants).
        vars: Box<NotifyVars>,
    },
    /// Node → DC: an operation finished (or a recurring one changed result).
    OpDone {
        /// Transition key the operation was started with.
        tkey: String,
        /// Resource id.
        rsc: String,
        /// Task.
        task: String,
        /// Interval in ms.
        interval_ms: u64,
        /// OCF rc.
        rc: i32,
        /// Executor status (`op-status`).
        op_status: i32,
        /// The node's interpretation (§1.6): true when not a failure.
        ok: bool,
        /// The node's `lrm_resource` element for `rsc` after recording the result (XML text).
        lrm_rsc: String,
        /// One-shot operations still running on the node after this one.
        busy: u32,
    },
}

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// No bytes at all.
    #[error("empty message")]
    Empty,
    /// The version byte is not one this build reads.
    #[error("unsupported message version {0}")]
    Version(u8),
    /// The tag byte names no message or change.
    #[error("unknown {what} tag {tag}")]
    Tag {
        /// `message` or `change`.
        what: &'static str,
        /// The tag byte.
        tag: u8,
    },
    /// The input ended inside a field.
    #[error("message truncated in field {0}")]
    Truncated(&'static str),
    /// A string field is not UTF-8.
    #[error("field {0} is not UTF-8")]
    Utf8(&'static str),
    /// A string length exceeds [`MAX_STRING`].
    #[error("field {field} too long ({len} bytes)")]
    TooLong {
        /// Field name.
        field: &'static str,
        /// Announced length.
        len: usize,
    },
    /// A bool / presence byte other than 0 or 1.
    #[error("field {0} has an invalid flag byte")]
    Flag(&'static str),
    /// Bytes left after the message.
    #[error("{0} trailing bytes after the message")]
    Trailing(usize),
}

struct W(Vec<u8>);

impl W {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn i32(&mut self, v: i32) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn s(&mut self, v: &str) {
        self.u32(v.len() as u32);
        self.0.extend_from_slice(v.as_bytes());
    }
    fn opt(&mut self, v: &Option<String>) {
        match v {
            None => self.u8(0),
            Some(s) => {
                self.u8(1);
                self.s(s);
            }
        }
    }
}

impl W {
    fn strs(&mut self, v: &[String]) {
        self.u32(v.len() as u32);
        for x in v {
            self.s(x);
        }
    }
    fn pairs(&mut self, v: &[(String, String)]) {
        self.u32(v.len() as u32);
        for (a, b) in v {
            self.s(a);
            self.s(b);
        }
    }
    fn notify(&mut self, n: &NotifyVars) {
        self.s(&n.notify_type);
        self.s(&n.operation);
        for l in [&n.start, &n.stop, &n.promote, &n.demote, &n.active, &n.promoted, &n.unpromoted] {
            self.pairs(l);
        }
        self.strs(&n.inactive);
        self.strs(&n.all_uname);
        self.strs(&n.available_uname);
    }
}

struct R<'a> {
    b: &'a [u8],
}

impl<'a> R<'a> {
    fn take(&mut self, n: usize, f: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.b.len() < n {
            return Err(DecodeError::Truncated(f));
        }
        let (a, rest) = self.b.split_at(n);
        self.b = rest;
        Ok(a)
    }
    fn u8(&mut self, f: &'static str) -> Result<u8, DecodeError> {
        Ok(self.take(1, f)?[0])
    }
    fn u32(&mut self, f: &'static str) -> Result<u32, DecodeError> {
        let mut a = [0u8; 4];
        a.copy_from_slice(self.take(4, f)?);
        Ok(u32::from_be_bytes(a))
    }
    fn u64(&mut self, f: &'static str) -> Result<u64, DecodeError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8, f)?);
        Ok(u64::from_be_bytes(a))
    }
    fn i32(&mut self, f: &'static str) -> Result<i32, DecodeError> {
        Ok(self.u32(f)? as i32)
    }
    fn flag(&mut self, f: &'static str) -> Result<bool, DecodeError> {
        match self.u8(f)? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeError::Flag(f)),
        }
    }
    fn s(&mut self, f: &'static str) -> Result<String, DecodeError> {
        let len = self.u32(f)? as usize;
        if len > MAX_STRING {
            return Err(DecodeError::TooLong { field: f, len });
        }
        let raw = self.take(len, f)?;
        String::from_utf8(raw.to_vec()).map_err(|_| DecodeError::Utf8(f))
    }
    fn opt(&mut self, f: &'static str) -> Result<Option<String>, DecodeError> {
        Ok(if self.flag(f)? { Some(self.s(f)?) } else { None })
    }
    /// A list count, refused when the bytes left cannot hold that many strings.
    fn count(&mut self, f: &'static str, per: usize) -> Result<usize, DecodeError> {
        let n = self.u32(f)? as usize;
        if n.saturating_mul(per) > self.b.len() {
            return Err(DecodeError::Truncated(f));
        }
        Ok(n)
    }
    fn strs(&mut self, f: &'static str) -> Result<Vec<String>, DecodeError> {
        let n = self.count(f, 4)?;
        (0..n).map(|_| self.s(f)).collect()
    }
    fn pairs(&mut self, f: &'static str) -> Result<Vec<(String, String)>, DecodeError> {
        let n = self.count(f, 8)?;
        (0..n).map(|_| Ok((self.s(f)?, self.s(f)?))).collect()
    }
    fn notify(&mut self) -> Result<NotifyVars, DecodeError> {
        Ok(NotifyVars {
            notify_type: self.s("notify_type")?,
            operation: self.s("operation")?,
            start: self.pairs("start")?,
            stop: self.pairs("stop")?,
            promote: self.pairs("promote")?,
            demote: self.pairs("demote")?,
            active: self.pairs("active")?,
            promoted: self.pairs("promoted")?,
            unpromoted: self.pairs("unpromoted")?,
            inactive: self.strs("inactive")?,
            all_uname: self.strs("all_uname")?,
            available_uname: self.strs("available_uname")?,
        })
    }
}

fn enc_change(w: &mut W, c: &CibChange) {
    match c {
        CibChange::ReplaceConfiguration(x) => {
            w.u8(1);
            w.s(x);
        }
        CibChange::NodeAttr { node, name, value } => {
            w.u8(2);
            w.s(node);
            w.s(name);
            w.opt(value);
        }
        CibChange::Cleanup { node, rsc } => {
            w.u8(3);
            w.s(node);
            w.s(rsc);
        }
        CibChange::Shutdown { node } => {
            w.u8(4);
            w.s(node);
        }
        CibChange::TransientAttr { node, name, value } => {
            w.u8(5);
            w.s(node);
            w.s(name);
            w.opt(value);
        }
    }
}

fn dec_change(r: &mut R) -> Result<CibChange, DecodeError> {
    Ok(match r.u8("change tag")? {
        1 => CibChange::ReplaceConfiguration(r.s("configuration")?),
        2 => CibChange::NodeAttr { node: r.s("node")?, name: r.s("name")?, value: r.opt("value")? },
        3 => CibChange::Cleanup { node: r.s("node")?, rsc: r.s("rsc")? },
        4 => CibChange::Shutdown { node: r.s("node")? },
        5 => CibChange::TransientAttr {
            node: r.s("node")?,
            name: r.s("name")?,
            value: r.opt("value")?,
        },
        tag => return Err(DecodeError::Tag { what: "change", tag }),
    })
}

impl ControllerMsg {
    /// Encodes the message (see the module docs for the layout).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = W(Vec::with_capacity(64));
        w.u8(WIRE_VERSION);
        match self {
            ControllerMsg::JoinOffer { seq } => {
                w.u8(1);
                w.u64(*seq);
            }
            ControllerMsg::JoinReply { seq, cib, lrm, busy } => {
                w.u8(2);
                w.u64(*seq);
                w.s(cib);
                w.s(lrm);
                w.u32(*busy);
            }
            ControllerMsg::CibReplace { seq, cib } => {
                w.u8(3);
                w.u64(*seq);
                w.s(cib);
            }
            ControllerMsg::Change(c) => {
                w.u8(4);
                enc_change(&mut w, c);
            }
            ControllerMsg::RunOp { tkey, rsc, task, interval_ms } => {
                w.u8(5);
                w.s(tkey);
                w.s(rsc);
                w.s(task);
                w.u64(*interval_ms);
            }
            ControllerMsg::RunNotify { tkey, rsc, vars } => {
                w.u8(7);
                w.s(tkey);
                w.s(rsc);
                w.notify(vars);
            }
            ControllerMsg::OpDone {
                tkey,
                rsc,
                task,
                interval_ms,
                rc,
                op_status,
                ok,
                lrm_rsc,
                busy,
            } => {
                w.u8(6);
                w.s(tkey);
                w.s(rsc);
                w.s(task);
                w.u64(*interval_ms);
                w.i32(*rc);
                w.i32(*op_status);
                w.u8(u8::from(*ok));
                w.s(lrm_rsc);
                w.u32(*busy);
            }
        }
        w.0
    }

    /// Decodes one message; any malformation is a [`DecodeError`].
    pub fn decode(bytes: &[u8]) -> Result<ControllerMsg, DecodeError> {
        let mut r = R { b: bytes };
        let v = r.u8("version").map_err(|_| DecodeError::Empty)?;
        if v != WIRE_VERSION {
            return Err(DecodeError::Version(v));
        }
        let m = match r.u8("tag")? {
            1 => ControllerMsg::JoinOffer { seq: r.u64("seq")? },
            2 => ControllerMsg::JoinReply {
                seq: r.u64("seq")?,
                cib: r.s("cib")?,
                lrm: r.s("lrm")?,
                busy: r.u32("busy")?,
            },
            3 => ControllerMsg::CibReplace { seq: r.u64("seq")?, cib: r.s("cib")? },
            4 => ControllerMsg::Change(dec_change(&mut r)?),
            5 => ControllerMsg::RunOp {
                tkey: r.s("tkey")?,
                rsc: r.s("rsc")?,
                task: r.s("task")?,
                interval_ms: r.u64("interval")?,
            },
            6 => ControllerMsg::OpDone {
                tkey: r.s("tkey")?,
                rsc: r.s("rsc")?,
                task: r.s("task")?,
                interval_ms: r.u64("interval")?,
                rc: r.i32("rc")?,
                op_status: r.i32("op_status")?,
                ok: r.flag("ok")?,
                lrm_rsc: r.s("lrm_rsc")?,
                busy: r.u32("busy")?,
            },
            7 => ControllerMsg::RunNotify {
                tkey: r.s("tkey")?,
                rsc: r.s("rsc")?,
                vars: Box::new(r.notify()?),
            },
            tag => return Err(DecodeError::Tag { what: "message", tag }),
        };
        if !r.b.is_empty() {
            return Err(DecodeError::Trailing(r.b.len()));
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<ControllerMsg> {
        vec![
            ControllerMsg::JoinOffer { seq: (3 << 32) | 7 },
            ControllerMsg::JoinReply {
                seq: 9,
                cib: "<cib epoch=\"1\">é</cib>".into(),
                lrm: "<lrm/>".into(),
                busy: 2,
            },
            ControllerMsg::CibReplace { seq: 1, cib: String::new() },
            ControllerMsg::Change(CibChange::ReplaceConfiguration("<configuration/>".into())),
            ControllerMsg::Change(CibChange::NodeAttr {
                node: "node1".into(),
                name: "standby".into(),
                value: Some("on".into()),
            }),
            ControllerMsg::Change(CibChange::NodeAttr {
                node: "n".into(),
                name: "standby".into(),
                value: None,
            }),
            ControllerMsg::Change(CibChange::Cleanup { node: "n".into(), rsc: "vip".into() }),
            ControllerMsg::Change(CibChange::Shutdown { node: "node2".into() }),
            ControllerMsg::Change(CibChange::TransientAttr {
                node: "node2".into(),
                name: "master-WebData".into(),
                value: Some("10000".into()),
            }),
            ControllerMsg::Change(CibChange::TransientAttr {
                node: "node1".into(),
                name: "master-WebData".into(),
                value: None,
            }),
            ControllerMsg::RunOp {
                tkey: "1:2:0:1".into(),
                rsc: "vip".into(),
                task: "monitor".into(),
                interval_ms: 10_000,
            },
            ControllerMsg::RunNotify {
                tkey: "4:2:0:1".into(),
                rsc: "db:1".into(),
                vars: Box::new(NotifyVars {
                    notify_type: "pre".into(),
                    operation: "start".into(),
                    start: vec![("db:1".into(), "node2".into())],
                    active: vec![("db:0".into(), "node1".into())],
                    inactive: vec!["db:1".into()],
                    all_uname: vec!["node1".into(), "node2".into()],
                    ..NotifyVars::default()
                }),
            },
            ControllerMsg::OpDone {
                tkey: "1:2:0:1".into(),
                rsc: "vip".into(),
                task: "start".into(),
                interval_ms: 0,
                rc: -1,
                op_status: 4,
                ok: false,
                lrm_rsc: "<lrm_resource id=\"vip\"/>".into(),
                busy: 0,
            },
        ]
    }

    #[test]
    fn round_trip_every_variant() {
        for m in samples() {
            assert_eq!(ControllerMsg::decode(&m.encode()).unwrap(), m);
        }
    }

    #[test]
    fn every_truncation_is_refused() {
        for m in samples() {
            let b = m.encode();
            for n in 0..b.len() {
                assert!(ControllerMsg::decode(&b[..n]).is_err(), "{m:?} cut at {n}");
            }
        }
    }

    #[test]
    fn garbage_is_refused_with_typed_errors() {
        assert_eq!(ControllerMsg::decode(&[]), Err(DecodeError::Empty));
        assert_eq!(ControllerMsg::decode(&[2, 1]), Err(DecodeError::Version(2)));
        assert_eq!(
            ControllerMsg::decode(&[1, 99]),
            Err(DecodeError::Tag { what: "message", tag: 99 })
        );
        assert_eq!(
            ControllerMsg::decode(&[1, 4, 42]),
            Err(DecodeError::Tag { what: "change", tag: 42 })
        );
        let mut b = ControllerMsg::JoinOffer { seq: 1 }.encode();
        b.push(0);
        assert_eq!(ControllerMsg::decode(&b), Err(DecodeError::Trailing(1)));
        // A huge announced length.
        let mut b = vec![1, 3, 0, 0, 0, 0, 0, 0, 0, 1];
        b.extend_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(ControllerMsg::decode(&b), Err(DecodeError::TooLong { .. })));
        // Invalid UTF-8.
        let mut b = vec![1, 3, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0xff, 0xfe];
        assert_eq!(ControllerMsg::decode(&b), Err(DecodeError::Utf8("cib")));
        b.truncate(2);
        // Bad flag byte in an OpDone.
        let mut m = ControllerMsg::OpDone {
            tkey: String::new(),
            rsc: String::new(),
            task: String::new(),
            interval_ms: 0,
            rc: 0,
            op_status: 0,
            ok: true,
            lrm_rsc: String::new(),
            busy: 0,
        }
        .encode();
        let flag_at = 2 + 4 * 3 + 8 + 4 + 4;
        m[flag_at] = 7;
        assert_eq!(ControllerMsg::decode(&m), Err(DecodeError::Flag("ok")));
        // Pseudo-random bytes never panic.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..2000 {
            let mut buf = vec![1u8];
            for _ in 0..(x % 40) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                buf.push(x as u8);
            }
            let _ = ControllerMsg::decode(&buf);
        }
    }
}
