//! Byte encoding of [`PeerMsg`] for the peer link: each message is one frame whose command is
//! DRBD's packet number where one exists (P_DATA, P_BARRIER, P_BARRIER_ACK, …) and a private
//! number (0x100 and up) for the folded handshake and the messages 8.4 spells differently.
//! Payloads are big-endian fixed fields; block data comes last, its length implied by the
//! frame length. Decoding checks every length and value and rejects anything else with
//! [`WireError`] (the connection is then dropped as a protocol error).

use crate::ctl::{CONNS, DISKS, ROLES};
use crate::net::Command;
use crate::repl::{AckKind, ConnState, DiskState, Payload, PeerMsg, ReportParams, Role, UuidFlags};

/// A frame that is not a valid message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Unknown command number.
    #[error("unknown command 0x{0:04x}")]
    UnknownCommand(u16),
    /// Payload too short or too long for the command.
    #[error("{0}: bad payload length {1}")]
    Length(&'static str, usize),
    /// A field holds an impossible value.
    #[error("{0}: bad value in field {1}")]
    Value(&'static str, &'static str),
}

/// Private commands (no 8.4 number for the folded or renamed messages).
mod cmd {
    use crate::net::Command;
    pub const REPORT_PARAMS: Command = Command(0x100);
    pub const STATE: Command = Command(0x101);
    pub const CSUM_RS_REQUEST: Command = Command(0x102);
    pub const RS_IS_IN_SYNC: Command = Command(0x103);
    pub const NEG_RS_DREPLY: Command = Command(0x104);
    pub const OV_REQUEST: Command = Command(0x105);
    pub const OV_REPLY: Command = Command(0x106);
    pub const OV_RESULT: Command = Command(0x107);
    pub const OV_DONE: Command = Command(0x108);
    pub const SYNC_PAUSE: Command = Command(0x109);
    pub const OUTDATE: Command = Command(0x10a);
    pub const DATA_REPLY_ERR: Command = Command(0x10b);
    /// P_SUPERSEDED (8.4 number; the shared frame table has no name for it).
    pub const SUPERSEDED: Command = Command(0x18);
    /// P_RETRY_WRITE (8.4 number).
    pub const RETRY_WRITE: Command = Command(0x2c);
}

fn u64s(out: &mut Vec<u8>, v: &[u64]) {
    for x in v {
        out.extend_from_slice(&x.to_be_bytes());
    }
}

/// Encodes `m` into `out` (cleared first) and returns the frame command.
pub fn encode(m: &PeerMsg, out: &mut Vec<u8>) -> Command {
    let (c, bulk) = encode_split(m, out);
    if let Some(b) = bulk {
        out.extend_from_slice(b);
    }
    c
}

/// Like [`encode`], but leaves the block data of a message out of `out` and returns it
/// separately: the frame payload is `out` followed by it (the sender writes both with one
/// vectored write instead of copying the data twice).
pub fn encode_split<'m>(m: &'m PeerMsg, out: &mut Vec<u8>) -> (Command, Option<&'m [u8]>) {
    match m {
        PeerMsg::Data { id, sector, epoch, ack, fua, may_set_in_sync, data } => {
            out.clear();
            out.extend_from_slice(&id.to_be_bytes());
            out.extend_from_slice(&sector.to_be_bytes());
            out.extend_from_slice(&epoch.to_be_bytes());
            out.push(match ack {
                AckKind::None => 0,
                AckKind::Receive => 1,
                AckKind::Write => 2,
            });
            out.push(u8::from(*fua) | u8::from(*may_set_in_sync) << 1);
            (Command::DATA, Some(&data[..]))
        }
        PeerMsg::RsDataReply { sector, data } => {
            out.clear();
            out.extend_from_slice(&sector.to_be_bytes());
            (Command::RS_DATA_REPLY, Some(&data[..]))
        }
        PeerMsg::DataReply { id, data: Some(d) } => {
            out.clear();
            out.extend_from_slice(&id.to_be_bytes());
            (Command::DATA_REPLY, Some(&d[..]))
        }
        _ => (encode_small(m, out), None),
    }
}

/// Encodes a message completely into `out`.
fn encode_small(m: &PeerMsg, out: &mut Vec<u8>) -> Command {
    out.clear();
    let p64 = |out: &mut Vec<u8>, v: u64| out.extend_from_slice(&v.to_be_bytes());
    let p32 = |out: &mut Vec<u8>, v: u32| out.extend_from_slice(&v.to_be_bytes());
    match m {
        PeerMsg::ReportParams(r) => {
            out.push(r.protocol);
            out.push(u8::from(r.allow_two_primaries));
            p64(out, r.size_sectors);
            u64s(out, &r.uuids);
            p64(out, r.bits);
            let f = &r.flags;
            out.push(
                u8::from(f.discard_my_data)
                    | u8::from(f.crashed_primary) << 1
                    | u8::from(f.skip_initial_sync) << 3
                    | u8::from(f.fresh_attach) << 4,
            );
            out.push(r.role as u8);
            out.push(r.disk as u8);
            out.extend_from_slice(r.node_name.as_bytes());
            cmd::REPORT_PARAMS
        }
        PeerMsg::State { role, disk, conn } => {
            out.extend_from_slice(&[*role as u8, *disk as u8, *conn as u8]);
            cmd::STATE
        }
        PeerMsg::PromoteReq => Command::STATE_CHG_REQ,
        PeerMsg::PromoteReply { ok } => {
            out.push(u8::from(*ok));
            Command::STATE_CHG_REPLY
        }
        PeerMsg::Data { id, sector, epoch, ack, fua, may_set_in_sync, data } => {
            p64(out, *id);
            p64(out, *sector);
            p32(out, *epoch);
            out.push(match ack {
                AckKind::None => 0,
                AckKind::Receive => 1,
                AckKind::Write => 2,
            });
            out.push(u8::from(*fua) | u8::from(*may_set_in_sync) << 1);
            out.extend_from_slice(data);
            Command::DATA
        }
        PeerMsg::Barrier { nr } => {
            p32(out, *nr);
            Command::BARRIER
        }
        PeerMsg::RecvAck { id } => {
            p64(out, *id);
            Command::RECV_ACK
        }
        PeerMsg::WriteAck { id } => {
            p64(out, *id);
            Command::WRITE_ACK
        }
        PeerMsg::NegAck { id } => {
            p64(out, *id);
            Command::NEG_ACK
        }
        PeerMsg::Superseded { id } => {
            p64(out, *id);
            cmd::SUPERSEDED
        }
        PeerMsg::RetryWrite { id } => {
            p64(out, *id);
            cmd::RETRY_WRITE
        }
        PeerMsg::BarrierAck { nr, set_size } => {
            p32(out, *nr);
            p32(out, *set_size);
            Command::BARRIER_ACK
        }
        PeerMsg::OutOfSync { sector, len } => {
            p64(out, *sector);
            p32(out, *len);
            Command::OUT_OF_SYNC
        }
        PeerMsg::Bitmap { first_word, words, last } => {
            p64(out, *first_word);
            out.push(u8::from(*last));
            u64s(out, words);
            Command::BITMAP
        }
        PeerMsg::SyncUuid { uuid } => {
            p64(out, *uuid);
            Command::SYNC_UUID
        }
        PeerMsg::RsDataRequest { sector, len } => {
            p64(out, *sector);
            p32(out, *len);
            Command::RS_DATA_REQUEST
        }
        PeerMsg::CsumRsRequest { sector, len, digest } => {
            p64(out, *sector);
            p32(out, *len);
            p64(out, *digest);
            cmd::CSUM_RS_REQUEST
        }
        PeerMsg::RsDataReply { sector, data } => {
            p64(out, *sector);
            out.extend_from_slice(data);
            Command::RS_DATA_REPLY
        }
        PeerMsg::RsIsInSync { sector, len } => {
            p64(out, *sector);
            p32(out, *len);
            cmd::RS_IS_IN_SYNC
        }
        PeerMsg::NegRsDReply { sector, len } => {
            p64(out, *sector);
            p32(out, *len);
            cmd::NEG_RS_DREPLY
        }
        PeerMsg::RsWriteAck { sector, len } => {
            p64(out, *sector);
            p32(out, *len);
            Command::RS_WRITE_ACK
        }
        PeerMsg::OvRequest { sector, len } => {
            p64(out, *sector);
            p32(out, *len);
            cmd::OV_REQUEST
        }
        PeerMsg::OvReply { sector, len, digest } => {
            p64(out, *sector);
            p32(out, *len);
            p64(out, *digest);
            cmd::OV_REPLY
        }
        PeerMsg::OvResult { sector, len, in_sync } => {
            p64(out, *sector);
            p32(out, *len);
            out.push(u8::from(*in_sync));
            cmd::OV_RESULT
        }
        PeerMsg::OvDone => cmd::OV_DONE,
        PeerMsg::SyncPause { paused } => {
            out.push(u8::from(*paused));
            cmd::SYNC_PAUSE
        }
        PeerMsg::DataRequest { id, sector, len } => {
            p64(out, *id);
            p64(out, *sector);
            p32(out, *len);
            Command::DATA_REQUEST
        }
        PeerMsg::DataReply { id, data: Some(d) } => {
            p64(out, *id);
            out.extend_from_slice(d);
            Command::DATA_REPLY
        }
        PeerMsg::DataReply { id, data: None } => {
            p64(out, *id);
            cmd::DATA_REPLY_ERR
        }
        PeerMsg::Outdate => cmd::OUTDATE,
    }
}

/// Pooled buffers looked at per [`PayloadPool::copy`] at most.
const POOL_SCAN: usize = 16;

struct Rd<'a, 'p> {
    b: &'a [u8],
    what: &'static str,
    pool: Option<&'p mut PayloadPool>,
}

/// Buffers for the block data of received messages, reused once every holder dropped
/// them (so a steady stream of writes does not allocate, and fault in, a fresh buffer per
/// message). Holds at most `max_bytes`.
#[derive(Debug)]
pub struct PayloadPool {
    bufs: Vec<Payload>,
    bytes: usize,
    max_bytes: usize,
    next: usize,
}

impl PayloadPool {
    /// An empty pool that keeps up to `max_bytes` of buffers.
    pub fn new(max_bytes: usize) -> PayloadPool {
        PayloadPool { bufs: Vec::with_capacity(256), bytes: 0, max_bytes, next: 0 }
    }

    /// A payload holding a copy of `d`, in a free pooled buffer of the same size if one is
    /// found among the next [`POOL_SCAN`] (buffers come back roughly in the order they went
    /// out, so a free one is usually the next; when all are held, as under a stream the peer
    /// has not acknowledged yet, a full scan per message would cost more than the copy).
    pub fn copy(&mut self, d: &[u8]) -> Payload {
        let n = self.bufs.len();
        for i in 0..n.min(POOL_SCAN) {
            let j = (self.next + i) % n;
            if self.bufs[j].len() == d.len() {
                if let Some(m) = Payload::get_mut(&mut self.bufs[j]) {
                    m.copy_from_slice(d);
                    self.next = (j + 1) % n;
                    return Payload::clone(&self.bufs[j]);
                }
            }
        }
        let p = Payload::from(d);
        if self.bytes + d.len() <= self.max_bytes && self.bufs.len() < self.bufs.capacity() {
            self.bytes += d.len();
            self.bufs.push(Payload::clone(&p));
        } else if let Some(j) = (0..n).find(|&j| Payload::strong_count(&self.bufs[j]) == 1) {
            // Replace a free buffer of another size (sizes change with the workload).
            if self.bytes - self.bufs[j].len() + d.len() <= self.max_bytes {
                self.bytes = self.bytes - self.bufs[j].len() + d.len();
                self.bufs[j] = Payload::clone(&p);
            }
        }
        p
    }
}

impl<'a, 'p> Rd<'a, 'p> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if self.b.len() < n {
            return Err(WireError::Length(self.what, self.b.len()));
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Ok(h)
    }
    fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.take(1)?[0])
    }
    fn flag(&mut self, field: &'static str) -> Result<bool, WireError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(WireError::Value(self.what, field)),
        }
    }
    fn u32(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_be_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }
    fn u64(&mut self) -> Result<u64, WireError> {
        Ok(u64::from_be_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }
    fn end(self) -> Result<(), WireError> {
        if self.b.is_empty() {
            Ok(())
        } else {
            Err(WireError::Length(self.what, self.b.len()))
        }
    }
    fn rest_data(&mut self) -> Result<Payload, WireError> {
        let d = std::mem::take(&mut self.b);
        if d.is_empty() || d.len() % 512 != 0 {
            return Err(WireError::Length(self.what, d.len()));
        }
        Ok(match self.pool.as_mut() {
            Some(p) => p.copy(d),
            None => Payload::from(d),
        })
    }
    fn role(&mut self) -> Result<Role, WireError> {
        let v = self.u8()?;
        ROLES.into_iter().find(|r| *r as u8 == v).ok_or(WireError::Value(self.what, "role"))
    }
    fn disk(&mut self) -> Result<DiskState, WireError> {
        let v = self.u8()?;
        DISKS.into_iter().find(|r| *r as u8 == v).ok_or(WireError::Value(self.what, "disk"))
    }
    fn conn(&mut self) -> Result<ConnState, WireError> {
        let v = self.u8()?;
        CONNS.into_iter().find(|r| *r as u8 == v).ok_or(WireError::Value(self.what, "conn"))
    }
}

/// Decodes one frame.
///
/// # Errors
/// [`WireError`] for an unknown command or a bad payload.
pub fn decode(command: Command, payload: &[u8]) -> Result<PeerMsg, WireError> {
    decode_in(command, payload, None)
}

/// Like [`decode`], with block data copied into buffers of `pool`.
///
/// # Errors
/// As [`decode`].
pub fn decode_pooled(
    command: Command,
    payload: &[u8],
    pool: &mut PayloadPool,
) -> Result<PeerMsg, WireError> {
    decode_in(command, payload, Some(pool))
}

fn decode_in(
    command: Command,
    payload: &[u8],
    pool: Option<&mut PayloadPool>,
) -> Result<PeerMsg, WireError> {
    let mut r = Rd { b: payload, what: "frame", pool };
    let sl = |r: &mut Rd<'_, '_>| -> Result<(u64, u32), WireError> { Ok((r.u64()?, r.u32()?)) };
    let m = match command {
        cmd::REPORT_PARAMS => {
            r.what = "ReportParams";
            let protocol = r.u8()?;
            if !matches!(protocol, b'A' | b'B' | b'C') {
                return Err(WireError::Value(r.what, "protocol"));
            }
            let allow_two_primaries = r.flag("allow_two_primaries")?;
            let size_sectors = r.u64()?;
            let uuids = [r.u64()?, r.u64()?, r.u64()?, r.u64()?];
            let bits = r.u64()?;
            let f = r.u8()?;
            if f & !0b1_1011 != 0 {
                return Err(WireError::Value(r.what, "flags"));
            }
            let flags = UuidFlags {
                discard_my_data: f & 1 != 0,
                crashed_primary: f & 2 != 0,
                skip_initial_sync: f & 8 != 0,
                fresh_attach: f & 16 != 0,
            };
            let role = r.role()?;
            let disk = r.disk()?;
            let name = std::mem::take(&mut r.b);
            let node_name = String::from_utf8(name.to_vec())
                .map_err(|_| WireError::Value("ReportParams", "node_name"))?;
            PeerMsg::ReportParams(Box::new(ReportParams {
                protocol,
                allow_two_primaries,
                size_sectors,
                uuids,
                bits,
                flags,
                role,
                disk,
                node_name,
            }))
        }
        cmd::STATE => {
            r.what = "State";
            PeerMsg::State { role: r.role()?, disk: r.disk()?, conn: r.conn()? }
        }
        Command::STATE_CHG_REQ => PeerMsg::PromoteReq,
        Command::STATE_CHG_REPLY => {
            r.what = "StateChgReply";
            PeerMsg::PromoteReply { ok: r.flag("ok")? }
        }
        Command::DATA => {
            r.what = "Data";
            let id = r.u64()?;
            let sector = r.u64()?;
            let epoch = r.u32()?;
            let ack = match r.u8()? {
                0 => AckKind::None,
                1 => AckKind::Receive,
                2 => AckKind::Write,
                _ => return Err(WireError::Value(r.what, "ack")),
            };
            let f = r.u8()?;
            if f & !3 != 0 {
                return Err(WireError::Value(r.what, "flags"));
            }
            let data = r.rest_data()?;
            PeerMsg::Data {
                id,
                sector,
                epoch,
                ack,
                fua: f & 1 != 0,
                may_set_in_sync: f & 2 != 0,
                data,
            }
        }
        Command::BARRIER => {
            r.what = "Barrier";
            PeerMsg::Barrier { nr: r.u32()? }
        }
        Command::RECV_ACK => {
            r.what = "RecvAck";
            PeerMsg::RecvAck { id: r.u64()? }
        }
        Command::WRITE_ACK => {
            r.what = "WriteAck";
            PeerMsg::WriteAck { id: r.u64()? }
        }
        Command::NEG_ACK => {
            r.what = "NegAck";
            PeerMsg::NegAck { id: r.u64()? }
        }
        cmd::SUPERSEDED => {
            r.what = "Superseded";
            PeerMsg::Superseded { id: r.u64()? }
        }
        cmd::RETRY_WRITE => {
            r.what = "RetryWrite";
            PeerMsg::RetryWrite { id: r.u64()? }
        }
        Command::BARRIER_ACK => {
            r.what = "BarrierAck";
            PeerMsg::BarrierAck { nr: r.u32()?, set_size: r.u32()? }
        }
        Command::OUT_OF_SYNC => {
            r.what = "OutOfSync";
            let (sector, len) = sl(&mut r)?;
            PeerMsg::OutOfSync { sector, len }
        }
        Command::BITMAP => {
            r.what = "Bitmap";
            let first_word = r.u64()?;
            let last = r.flag("last")?;
            if r.b.len() % 8 != 0 {
                return Err(WireError::Length(r.what, r.b.len()));
            }
            let words =
                r.b.chunks_exact(8).map(|c| u64::from_be_bytes(c.try_into().expect("8"))).collect();
            r.b = &[];
            PeerMsg::Bitmap { first_word, words, last }
        }
        Command::SYNC_UUID => {
            r.what = "SyncUuid";
            PeerMsg::SyncUuid { uuid: r.u64()? }
        }
        Command::RS_DATA_REQUEST => {
            r.what = "RsDataRequest";
            let (sector, len) = sl(&mut r)?;
            PeerMsg::RsDataRequest { sector, len }
        }
        cmd::CSUM_RS_REQUEST => {
            r.what = "CsumRsRequest";
            let (sector, len) = sl(&mut r)?;
            PeerMsg::CsumRsRequest { sector, len, digest: r.u64()? }
        }
        Command::RS_DATA_REPLY => {
            r.what = "RsDataReply";
            let sector = r.u64()?;
            PeerMsg::RsDataReply { sector, data: r.rest_data()? }
        }
        cmd::RS_IS_IN_SYNC => {
            r.what = "RsIsInSync";
            let (sector, len) = sl(&mut r)?;
            PeerMsg::RsIsInSync { sector, len }
        }
        cmd::NEG_RS_DREPLY => {
            r.what = "NegRsDReply";
            let (sector, len) = sl(&mut r)?;
            PeerMsg::NegRsDReply { sector, len }
        }
        Command::RS_WRITE_ACK => {
            r.what = "RsWriteAck";
            let (sector, len) = sl(&mut r)?;
            PeerMsg::RsWriteAck { sector, len }
        }
        cmd::OV_REQUEST => {
            r.what = "OvRequest";
            let (sector, len) = sl(&mut r)?;
            PeerMsg::OvRequest { sector, len }
        }
        cmd::OV_REPLY => {
            r.what = "OvReply";
            let (sector, len) = sl(&mut r)?;
            PeerMsg::OvReply { sector, len, digest: r.u64()? }
        }
        cmd::OV_RESULT => {
            r.what = "OvResult";
            let (sector, len) = sl(&mut r)?;
            PeerMsg::OvResult { sector, len, in_sync: r.flag("in_sync")? }
        }
        cmd::OV_DONE => PeerMsg::OvDone,
        cmd::SYNC_PAUSE => {
            r.what = "SyncPause";
            PeerMsg::SyncPause { paused: r.flag("paused")? }
        }
        Command::DATA_REQUEST => {
            r.what = "DataRequest";
            let id = r.u64()?;
            let (sector, len) = sl(&mut r)?;
            PeerMsg::DataRequest { id, sector, len }
        }
        Command::DATA_REPLY => {
            r.what = "DataReply";
            let id = r.u64()?;
            PeerMsg::DataReply { id, data: Some(r.rest_data()?) }
        }
        cmd::DATA_REPLY_ERR => {
            r.what = "DataReply";
            PeerMsg::DataReply { id: r.u64()?, data: None }
        }
        cmd::OUTDATE => PeerMsg::Outdate,
        Command(c) => return Err(WireError::UnknownCommand(c)),
    };
    r.end()?;
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_round_trips() {
        let data: Payload = Payload::from(vec![7u8; 1024]);
        let msgs = vec![
            PeerMsg::ReportParams(Box::new(ReportParams {
                protocol: b'C',
                allow_two_primaries: false,
                size_sectors: 123,
                uuids: [1, 2, 3, 4],
                bits: 9,
                flags: UuidFlags {
                    discard_my_data: true,
                    crashed_primary: false,
                    skip_initial_sync: true,
                    fresh_attach: true,
                },
                role: Role::Primary,
                disk: DiskState::UpToDate,
                node_name: "alice".into(),
            })),
            PeerMsg::State {
                role: Role::Secondary,
                disk: DiskState::Inconsistent,
                conn: ConnState::SyncTarget,
            },
            PeerMsg::PromoteReq,
            PeerMsg::PromoteReply { ok: true },
            PeerMsg::Data {
                id: 1,
                sector: 8,
                epoch: 3,
                ack: AckKind::Write,
                fua: true,
                may_set_in_sync: false,
                data: data.clone(),
            },
            PeerMsg::Barrier { nr: 5 },
            PeerMsg::RecvAck { id: 2 },
            PeerMsg::WriteAck { id: 3 },
            PeerMsg::NegAck { id: 4 },
            PeerMsg::Superseded { id: 5 },
            PeerMsg::RetryWrite { id: 6 },
            PeerMsg::BarrierAck { nr: 5, set_size: 6 },
            PeerMsg::OutOfSync { sector: 1, len: 8 },
            PeerMsg::Bitmap { first_word: 3, words: vec![1, u64::MAX], last: true },
            PeerMsg::SyncUuid { uuid: 77 },
            PeerMsg::RsDataRequest { sector: 1, len: 8 },
            PeerMsg::CsumRsRequest { sector: 1, len: 8, digest: 99 },
            PeerMsg::RsDataReply { sector: 16, data: data.clone() },
            PeerMsg::RsIsInSync { sector: 1, len: 8 },
            PeerMsg::NegRsDReply { sector: 1, len: 8 },
            PeerMsg::RsWriteAck { sector: 1, len: 8 },
            PeerMsg::OvRequest { sector: 1, len: 8 },
            PeerMsg::OvReply { sector: 1, len: 8, digest: 5 },
            PeerMsg::OvResult { sector: 1, len: 8, in_sync: false },
            PeerMsg::OvDone,
            PeerMsg::SyncPause { paused: true },
            PeerMsg::DataRequest { id: 9, sector: 1, len: 8 },
            PeerMsg::DataReply { id: 9, data: Some(data) },
            PeerMsg::DataReply { id: 9, data: None },
            PeerMsg::Outdate,
        ];
        let mut buf = Vec::new();
        for m in msgs {
            let c = encode(&m, &mut buf);
            assert_eq!(decode(c, &buf).unwrap(), m);
        }
    }

    #[test]
    fn malformed_frames_are_refused() {
        assert_eq!(decode(Command(0x7777), &[]), Err(WireError::UnknownCommand(0x7777)));
        assert!(matches!(decode(Command::BARRIER, &[0, 0]), Err(WireError::Length(..))));
        assert!(matches!(decode(Command::BARRIER, &[0, 0, 0, 0, 1]), Err(WireError::Length(..))));
        // The dual-primary verdicts carry exactly one request id.
        assert!(matches!(
            decode(cmd::SUPERSEDED, &[0; 7]),
            Err(WireError::Length("Superseded", _))
        ));
        assert!(matches!(
            decode(cmd::RETRY_WRITE, &[0; 9]),
            Err(WireError::Length("RetryWrite", _))
        ));
        let mut buf = Vec::new();
        let c = encode(
            &PeerMsg::State {
                role: Role::Primary,
                disk: DiskState::UpToDate,
                conn: ConnState::Connected,
            },
            &mut buf,
        );
        buf[1] = 200;
        assert_eq!(decode(c, &buf), Err(WireError::Value("State", "disk")));
        // Data whose length is not a multiple of 512.
        let mut buf = vec![0u8; 8 + 8 + 4 + 2];
        buf[20] = 2;
        buf.extend_from_slice(&[1, 2, 3]);
        assert!(matches!(decode(Command::DATA, &buf), Err(WireError::Length("Data", 3))));
    }
}
