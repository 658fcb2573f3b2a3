//! Logical peer messages exchanged by two [`crate::repl::Replicator`]s.
//!
//! These are DRBD 8.4's packets at the level of meaning, not bytes: the peer link (`net`) maps
//! each variant to its framed wire packet (P_DATA, P_BARRIER, P_BARRIER_ACK, P_UUIDS, …) and
//! back. The link must deliver them in order and without loss for the lifetime of one
//! connection (TCP semantics); a broken connection is reported to the replicator with
//! `on_link_down` and nothing of the old connection may be delivered afterwards.
//!
//! The handshake packets P_PROTOCOL, P_SIZES, P_UUIDS and P_STATE are folded into one
//! [`PeerMsg::ReportParams`] (the wire layer sends them as separate packets in DRBD's order).

use super::state::{ConnState, DiskState, Role};
use std::sync::Arc;

/// Block contents travelling in messages and disk operations. Shared (cheap clone) so that the
/// local write and the network send of one request use the same bytes.
pub type Payload = Arc<[u8]>;

/// Which acknowledgement the sender wants for a replicated write (DP_SEND_*_ACK).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AckKind {
    /// Protocol A: no per-write ack.
    None,
    /// Protocol B: ack on receipt (P_RECV_ACK).
    Receive,
    /// Protocol C: ack after the local write completed (P_WRITE_ACK).
    Write,
}

/// Flags of the handshake (P_UUIDS `flags`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UuidFlags {
    /// `--discard-my-data` was given on connect (bit 0).
    pub discard_my_data: bool,
    /// The sender crashed while Primary (bit 1).
    pub crashed_primary: bool,
    /// `new-current-uuid --clear-bitmap`: skip the initial sync (bit 3).
    pub skip_initial_sync: bool,
    /// Our extension: the sender attached its disk (after a restart) since it was last
    /// connected; used to orient a resync of leftover bits when the UUIDs are equal.
    pub fresh_attach: bool,
}

/// Everything one side reports during the handshake (P_PROTOCOL + P_SIZES + P_UUIDS + P_STATE).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportParams {
    /// Replication protocol letter, `b'A'`, `b'B'` or `b'C'`; both sides must agree.
    pub protocol: u8,
    /// Whether the sender allows two primaries; both sides must agree.
    pub allow_two_primaries: bool,
    /// Usable size of the sender's backing device in sectors (0 when diskless).
    pub size_sectors: u64,
    /// Current, Bitmap, History1, History2.
    pub uuids: [u64; 4],
    /// Number of out-of-sync blocks in the sender's bitmap.
    pub bits: u64,
    /// Handshake flags.
    pub flags: UuidFlags,
    /// Sender's role.
    pub role: Role,
    /// Sender's disk state.
    pub disk: DiskState,
    /// Sender's node name (for `discard-node-NAME`).
    pub node_name: String,
}

/// One logical peer message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerMsg {
    /// Handshake parameters.
    ReportParams(Box<ReportParams>),
    /// Role or disk state changed after the handshake (P_STATE).
    State {
        /// Sender's role.
        role: Role,
        /// Sender's disk state.
        disk: DiskState,
        /// Sender's connection state (lets the peer follow pause/verify).
        conn: ConnState,
    },
    /// Cluster-wide request to become Primary (P_STATE_CHG_REQ).
    PromoteReq,
    /// Answer to [`PeerMsg::PromoteReq`] (P_STATE_CHG_REPLY).
    PromoteReply {
        /// Granted.
        ok: bool,
    },
    /// Replicated application write (P_DATA).
    Data {
        /// Sender's request id, echoed in acks.
        id: u64,
        /// First sector.
        sector: u64,
        /// Epoch the write belongs to.
        epoch: u32,
        /// Acknowledgement wanted.
        ack: AckKind,
        /// Force unit access.
        fua: bool,
        /// The bits may be cleared on both sides once written (DP_MAY_SET_IN_SYNC).
        may_set_in_sync: bool,
        /// The data; its length is the write size.
        data: Payload,
    },
    /// Closes an epoch (P_BARRIER).
    Barrier {
        /// Number of the epoch being closed.
        nr: u32,
    },
    /// Protocol B ack (P_RECV_ACK).
    RecvAck {
        /// Request id from [`PeerMsg::Data`].
        id: u64,
    },
    /// Protocol C ack (P_WRITE_ACK).
    WriteAck {
        /// Request id.
        id: u64,
    },
    /// The peer failed to write the request (P_NEG_ACK).
    NegAck {
        /// Request id.
        id: u64,
    },
    /// Dual-primary conflict: the resolver dropped the write because a write of its own that
    /// covers the whole range is ordered after it (P_SUPERSEDED). Counts as success.
    Superseded {
        /// Request id.
        id: u64,
    },
    /// Dual-primary conflict: the resolver dropped the write because it overlaps, without
    /// covering, a write of its own still in flight; the sender must send it again after the
    /// resolver's write (P_RETRY_WRITE).
    RetryWrite {
        /// Request id.
        id: u64,
    },
    /// All writes of epoch `nr` are stable on the peer (P_BARRIER_ACK).
    BarrierAck {
        /// Epoch number.
        nr: u32,
        /// Number of writes in it.
        set_size: u32,
    },
    /// A block range the sender wrote without replicating it (P_OUT_OF_SYNC).
    OutOfSync {
        /// First sector.
        sector: u64,
        /// Length in sectors.
        len: u32,
    },
    /// Part of the bitmap exchange: bitmap words (bit i of word w = block 64w+i) (P_BITMAP).
    Bitmap {
        /// Index of the first word.
        first_word: u64,
        /// Words; all-zero stretches are not sent.
        words: Vec<u64>,
        /// Last chunk of the exchange.
        last: bool,
    },
    /// Sync UUID from the source (P_SYNC_UUID).
    SyncUuid {
        /// New current UUID for the target.
        uuid: u64,
    },
    /// Target asks for a block range (P_RS_DATA_REQUEST).
    RsDataRequest {
        /// First sector.
        sector: u64,
        /// Length in sectors.
        len: u32,
    },
    /// Target asks for a range, sending the digest of its own copy (P_CSUM_RS_REQUEST).
    CsumRsRequest {
        /// First sector.
        sector: u64,
        /// Length in sectors.
        len: u32,
        /// Digest of the target's data.
        digest: u64,
    },
    /// Source's data for a resync request (P_RS_DATA_REPLY).
    RsDataReply {
        /// First sector.
        sector: u64,
        /// Data.
        data: Payload,
    },
    /// Digest matched: the range is in sync (P_RS_IS_IN_SYNC).
    RsIsInSync {
        /// First sector.
        sector: u64,
        /// Length in sectors.
        len: u32,
    },
    /// Source could not read the range (P_NEG_RS_DREPLY).
    NegRsDReply {
        /// First sector.
        sector: u64,
        /// Length in sectors.
        len: u32,
    },
    /// Target wrote a resync block (P_RS_WRITE_ACK); the source clears its bits.
    RsWriteAck {
        /// First sector.
        sector: u64,
        /// Length in sectors.
        len: u32,
    },
    /// Verify request from VerifyS (P_OV_REQUEST).
    OvRequest {
        /// First sector.
        sector: u64,
        /// Length in sectors.
        len: u32,
    },
    /// VerifyT's digest (P_OV_REPLY).
    OvReply {
        /// First sector.
        sector: u64,
        /// Length in sectors.
        len: u32,
        /// Digest of VerifyT's data.
        digest: u64,
    },
    /// Comparison result (P_OV_RESULT).
    OvResult {
        /// First sector.
        sector: u64,
        /// Length in sectors.
        len: u32,
        /// Digests matched.
        in_sync: bool,
    },
    /// Verify finished (sent by VerifyS after its last result).
    OvDone,
    /// Resync pause / resume by the user on the sender (peer_isp flag).
    SyncPause {
        /// Paused.
        paused: bool,
    },
    /// Read served by the peer for a node without good local data (P_DATA_REQUEST).
    DataRequest {
        /// Request id echoed in the reply.
        id: u64,
        /// First sector.
        sector: u64,
        /// Length in sectors.
        len: u32,
    },
    /// Reply to [`PeerMsg::DataRequest`] (P_DATA_REPLY); `None` = read error.
    DataReply {
        /// Request id.
        id: u64,
        /// Data or read error.
        data: Option<Payload>,
    },
    /// Outdate the receiver's disk (in-band outdate by a Primary, §7).
    Outdate,
}

impl PeerMsg {
    /// Bytes of block data the message carries (writes, resync and read replies).
    pub fn block_data_len(&self) -> usize {
        match self {
            PeerMsg::Data { data, .. } | PeerMsg::RsDataReply { data, .. } => data.len(),
            PeerMsg::DataReply { data: Some(d), .. } => d.len(),
            _ => 0,
        }
    }

    /// Short packet name as DRBD logs it.
    pub fn name(&self) -> &'static str {
        match self {
            PeerMsg::ReportParams(_) => "ReportParams",
            PeerMsg::State { .. } => "State",
            PeerMsg::PromoteReq => "StateChgRequest",
            PeerMsg::PromoteReply { .. } => "StateChgReply",
            PeerMsg::Data { .. } => "Data",
            PeerMsg::Barrier { .. } => "Barrier",
            PeerMsg::RecvAck { .. } => "RecvAck",
            PeerMsg::WriteAck { .. } => "WriteAck",
            PeerMsg::NegAck { .. } => "NegAck",
            PeerMsg::Superseded { .. } => "Superseded",
            PeerMsg::RetryWrite { .. } => "RetryWrite",
            PeerMsg::BarrierAck { .. } => "BarrierAck",
            PeerMsg::OutOfSync { .. } => "OutOfSync",
            PeerMsg::Bitmap { .. } => "ReportBitMap",
            PeerMsg::SyncUuid { .. } => "ReportSyncUUID",
            PeerMsg::RsDataRequest { .. } => "RSDataRequest",
            PeerMsg::CsumRsRequest { .. } => "CsumRSRequest",
            PeerMsg::RsDataReply { .. } => "RSDataReply",
            PeerMsg::RsIsInSync { .. } => "RSIsInSync",
            PeerMsg::NegRsDReply { .. } => "NegRSDReply",
            PeerMsg::RsWriteAck { .. } => "RSWriteAck",
            PeerMsg::OvRequest { .. } => "OVRequest",
            PeerMsg::OvReply { .. } => "OVReply",
            PeerMsg::OvResult { .. } => "OVResult",
            PeerMsg::OvDone => "OVDone",
            PeerMsg::SyncPause { .. } => "SyncPause",
            PeerMsg::DataRequest { .. } => "DataRequest",
            PeerMsg::DataReply { .. } => "DataReply",
            PeerMsg::Outdate => "Outdate",
        }
    }
}

/// 64-bit digest used for checksum-based resync and online verify (FNV-1a style over 64-bit
/// little-endian words; the algorithm is a local choice because both sides run the same code).
pub fn digest(data: &[u8]) -> u64 {
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        h = (h ^ w).wrapping_mul(PRIME);
        h ^= h >> 29;
    }
    for &b in chunks.remainder() {
        h = (h ^ u64::from(b)).wrapping_mul(PRIME);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_detects_single_byte_changes() {
        let a = vec![0u8; 4096];
        let mut b = a.clone();
        b[4000] = 1;
        assert_ne!(digest(&a), digest(&b));
        assert_eq!(digest(&a), digest(&a.clone()));
    }
}
