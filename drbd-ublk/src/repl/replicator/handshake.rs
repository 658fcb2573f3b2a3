//! Connection lifecycle, the connect-time handshake (uuid_compare + split-brain policies) and
//! the bitmap exchange that starts a resync.

use super::*;

/// Outcome of the split-brain policies from this node's point of view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SbVerdict {
    /// This node's changes are discarded (it becomes SyncTarget).
    DiscardMe,
    /// The peer's changes are discarded.
    DiscardPeer,
    /// No automatic resolution.
    Unresolved,
}

impl Replicator {
    /// The link to the peer is up. `resolve_conflicts` must be true on exactly one of the two
    /// nodes (DRBD: the node that accepted the meta socket); it breaks ties deterministically.
    pub fn on_link_up(&mut self, resolve_conflicts: bool) {
        if self.conn != ConnState::WFConnection {
            return;
        }
        self.conn_gen = self.conn_gen.wrapping_add(1);
        self.resolve_conflicts = resolve_conflicts;
        self.peer_params = None;
        self.recv = RecvEpoch::default();
        self.recv_closed.clear();
        self.recv_queue.clear();
        self.recv_blocked = false;
        self.set_conn(ConnState::WFReportParams);
        let p = self.report_params();
        self.send(PeerMsg::ReportParams(Box::new(p)));
    }

    pub(super) fn report_params(&self) -> ReportParams {
        ReportParams {
            protocol: self.cfg.protocol.letter(),
            allow_two_primaries: self.cfg.allow_two_primaries,
            size_sectors: if self.has_disk() { self.cfg.size_sectors } else { 0 },
            uuids: [
                self.uuids.current,
                self.uuids.bitmap,
                self.uuids.history[0],
                self.uuids.history[1],
            ],
            bits: self.bitmap.count_out_of_sync(),
            flags: UuidFlags {
                discard_my_data: self.discard_my_data,
                crashed_primary: self.crashed_primary,
                skip_initial_sync: false,
                fresh_attach: self.fresh_attach,
            },
            role: self.role,
            disk: self.disk,
            node_name: self.cfg.node_name.clone(),
        }
    }

    /// The link broke (TCP error, timeout, peer closed). `reason` is the disconnect-reason state
    /// to pass through (Timeout, BrokenPipe, NetworkFailure, ProtocolError or TearDown).
    pub fn on_link_down(&mut self, reason: ConnState) {
        if self.conn < ConnState::WFReportParams {
            return;
        }
        self.drop_connection(reason, true);
    }

    /// Common teardown: clean the transfer log, stop resync/verify, start a new generation if a
    /// Primary lost its peer, and reconnect unless `reconnect` is false (StandAlone).
    pub(super) fn drop_connection(&mut self, reason: ConnState, reconnect: bool) {
        self.conn_gen = self.conn_gen.wrapping_add(1);
        let was_connected = self.conn >= ConnState::Connected;
        let was_sync_target = matches!(
            self.conn,
            ConnState::SyncTarget
                | ConnState::PausedSyncT
                | ConnState::WFSyncUUID
                | ConnState::WFBitMapT
        );
        self.set_conn(reason);
        if was_connected && self.role == Role::Primary && self.disk == DiskState::UpToDate {
            // Before the transfer log is cleaned: writes completing without the peer must
            // wait until the new generation is durable.
            self.new_generation();
            self.log(format!("new current UUID {:016X}", self.uuids.current));
            self.write_sb_gate();
        }
        self.tl_clear();
        self.rs = None;
        self.ov = None;
        self.peer_isp = false;
        self.peer_bitmap_done = false;
        if self.pending_promote {
            self.pending_promote = false;
            self.log("Requested state change failed by peer: connection lost".to_string());
        }
        let peer_disk = match self.peer_disk {
            d @ (DiskState::Outdated | DiskState::Inconsistent) => d,
            _ => DiskState::DUnknown,
        };
        self.set_peer(Role::Unknown, peer_disk);
        if was_sync_target && self.disk > DiskState::Inconsistent {
            self.set_disk(DiskState::Inconsistent);
        }
        let peer_maybe_current =
            !matches!(self.peer_disk, DiskState::Outdated | DiskState::Inconsistent);
        if self.role == Role::Primary && peer_maybe_current && self.cfg.fencing != Fencing::DontCare
        {
            self.start_fencing();
        }
        self.write_bitmap();
        self.write_sb();
        if reconnect {
            self.set_conn(ConnState::Unconnected);
            self.set_conn(ConnState::WFConnection);
        } else {
            self.set_conn(ConnState::StandAlone);
        }
        self.push(Action::Disconnect);
        if reconnect {
            self.push(Action::Connect);
        }
        self.release_held();
        self.retry_al_waiters();
    }

    pub(super) fn protocol_error(&mut self, what: &str) {
        self.log(format!("protocol error: {what}"));
        self.drop_connection(ConnState::ProtocolError, true);
    }

    /// Messages other than the data path.
    pub(super) fn dispatch_control(&mut self, m: PeerMsg) {
        match m {
            PeerMsg::ReportParams(p) => {
                if self.conn == ConnState::WFReportParams {
                    self.handshake(p);
                } else {
                    // Re-sent on a live connection (8.4 re-sends P_UUIDS): keep the peer's
                    // identifiers current, the SyncTarget adopts them when its resync ends.
                    if self.peer_params.is_some() {
                        self.peer_params = Some(p.clone());
                    }
                    if p.flags.skip_initial_sync {
                        self.peer_skip_initial_sync(&p);
                    }
                }
            }
            PeerMsg::State { role, disk, conn } => self.peer_state(role, disk, conn),
            PeerMsg::PromoteReq => {
                let ok = self.cfg.allow_two_primaries
                    || (self.role != Role::Primary
                        && !(self.pending_promote && self.resolve_conflicts));
                if ok {
                    self.set_peer(Role::Primary, self.peer_disk);
                }
                self.send(PeerMsg::PromoteReply { ok });
            }
            PeerMsg::PromoteReply { ok } => {
                if !self.pending_promote {
                    return;
                }
                self.pending_promote = false;
                if ok {
                    self.become_primary();
                } else {
                    self.log(
                        "State change failed: (-1) Multiple primaries not allowed by config".into(),
                    );
                }
            }
            PeerMsg::Bitmap { first_word, words, last } => {
                self.recv_bitmap(first_word, &words, last)
            }
            PeerMsg::SyncUuid { uuid } => self.recv_sync_uuid(uuid),
            PeerMsg::Outdate => {
                if self.role != Role::Primary && self.disk >= DiskState::Outdated {
                    self.set_disk(DiskState::Outdated);
                    self.write_sb();
                }
            }
            PeerMsg::SyncPause { paused } => {
                self.peer_isp = paused;
                self.apply_pause();
            }
            other => self.dispatch_sync(other),
        }
    }

    fn peer_state(&mut self, role: Role, disk: DiskState, conn: ConnState) {
        if role == Role::Primary
            && self.role == Role::Primary
            && !self.cfg.allow_two_primaries
            && self.conn >= ConnState::Connected
        {
            self.protocol_error("peer became Primary while we are Primary");
            return;
        }
        let peer_lost_disk = disk == DiskState::Diskless && self.peer_disk != DiskState::Diskless;
        self.set_peer(role, disk);
        if peer_lost_disk {
            // Writes the peer has not confirmed with a barrier ack may have died with its disk
            // (received, not yet written when it detached): they are out of sync from now on,
            // as on a lost connection.
            self.mark_unconfirmed_out_of_sync();
        }
        if peer_lost_disk
            && self.disk == DiskState::UpToDate
            && (self.role == Role::Primary || role == Role::Primary)
        {
            // From now on only this node has the data: start a new generation.
            self.new_generation();
            self.log(format!("peer detached, new current UUID {:016X}", self.uuids.current));
            self.write_sb_gate();
        }
        match conn {
            ConnState::StartingSyncS if self.conn == ConnState::Connected => {
                // Peer invalidated us (invalidate-remote): we become target of a full sync.
                self.bitmap.set_all();
                self.write_bitmap();
                self.set_disk(DiskState::Inconsistent);
                self.write_sb();
                self.set_conn(ConnState::StartingSyncT);
                self.set_conn(ConnState::WFBitMapT);
                self.peer_bitmap_done = false;
            }
            ConnState::StartingSyncT if self.conn == ConnState::Connected => {
                // Peer invalidated itself: we are source.
                self.set_conn(ConnState::StartingSyncS);
                self.start_bitmap_exchange(true);
            }
            ConnState::Connected if self.conn.is_sync() || self.conn == ConnState::VerifyT => {
                self.sync_peer_finished(disk);
            }
            _ => {}
        }
    }

    // --------------------------------------------------------------------- the handshake

    fn handshake(&mut self, p: Box<ReportParams>) {
        if p.protocol != self.cfg.protocol.letter() {
            self.log(format!(
                "incompatible communication protocols: me {} peer {}",
                self.cfg.protocol.letter() as char,
                p.protocol as char
            ));
            self.drop_connection(ConnState::ProtocolError, false);
            return;
        }
        if p.allow_two_primaries != self.cfg.allow_two_primaries {
            self.log("incompatible setting of the allow-two-primaries option".into());
            self.drop_connection(ConnState::ProtocolError, false);
            return;
        }
        if p.size_sectors != 0 && self.has_disk() && p.size_sectors < self.cfg.size_sectors {
            self.log(format!(
                "The peer's disk size is too small! ({} < {} sectors)",
                p.size_sectors, self.cfg.size_sectors
            ));
            self.drop_connection(ConnState::ProtocolError, false);
            return;
        }
        if p.role == Role::Primary && self.role == Role::Primary && !self.cfg.allow_two_primaries {
            // Both Primary without dual-primary: this is always a split brain.
            self.split_brain_detected();
            self.log("Split-Brain detected, dropping connection!".into());
            self.push(Action::CallHandler(Handler::SplitBrain));
            self.drop_connection(ConnState::Disconnecting, false);
            return;
        }
        self.peer_params = Some(p.clone());
        let pdisk = if p.disk == DiskState::Consistent { DiskState::UpToDate } else { p.disk };
        self.set_peer(p.role, pdisk);
        if !self.has_disk() || p.disk < DiskState::Inconsistent {
            self.connected_no_sync();
            return;
        }
        self.sync_handshake(&p);
    }

    fn connected_no_sync(&mut self) {
        self.fresh_attach = false;
        self.discard_my_data = false;
        self.crashed_primary = false;
        // Same generation on both sides: Consistent/Outdated data is as good as the peer's.
        if matches!(self.disk, DiskState::Consistent | DiskState::Outdated)
            && self.peer_disk > DiskState::Inconsistent
            && self.peer_disk != DiskState::DUnknown
        {
            self.set_disk(DiskState::UpToDate);
        }
        self.set_conn(ConnState::Connected);
        self.write_sb();
        self.send_state();
        self.release_held();
    }

    pub(super) fn send_state(&mut self) {
        let (role, disk, conn) = (self.role, self.disk, self.conn);
        self.send(PeerMsg::State { role, disk, conn });
    }

    fn sync_handshake(&mut self, p: &ReportParams) {
        let peer_uuids =
            Uuids { current: p.uuids[0], bitmap: p.uuids[1], history: [p.uuids[2], p.uuids[3]] };
        let me = CompareSide {
            uuids: self.uuids,
            crashed_primary: self.crashed_primary,
            is_primary: self.role == Role::Primary,
        };
        let peer = CompareSide {
            uuids: peer_uuids,
            crashed_primary: p.flags.crashed_primary,
            is_primary: p.role == Role::Primary,
        };
        let cmp = uuid_compare(&me, &peer, self.resolve_conflicts);
        if let Some(fixed) = cmp.fix_self {
            self.uuids = fixed;
            self.write_sb();
        }
        let mut hg = cmp.decision.hg();
        self.log(format!("uuid_compare()={} by rule {}", hg, cmp.rule));
        if hg == -1000 {
            self.log("Unrelated data, aborting!".into());
            self.drop_connection(ConnState::Disconnecting, false);
            return;
        }
        // Disk states force the direction when exactly one side is Inconsistent.
        let me_inc = self.disk == DiskState::Inconsistent;
        let peer_inc = p.disk == DiskState::Inconsistent;
        if me_inc != peer_inc {
            let full = hg.abs() == 2 || hg == -100;
            let f = if full { 2 } else { 1 };
            hg = if me_inc { -f } else { f };
            self.log(format!(
                "Becoming sync {} due to disk states.",
                if me_inc { "target" } else { "source" }
            ));
        } else if me_inc && peer_inc {
            // Both Inconsistent: nothing usable to sync from.
            if hg != 0 {
                self.log("Both sides Inconsistent, no resync possible".into());
            }
            self.connected_no_sync();
            return;
        }
        if hg.abs() == 100 {
            self.split_brain_detected();
            self.push(Action::CallHandler(Handler::InitialSplitBrain));
            if hg == 100 {
                let v = self.after_sb(p);
                match v {
                    SbVerdict::DiscardMe => hg = -1,
                    SbVerdict::DiscardPeer => hg = 1,
                    SbVerdict::Unresolved => {}
                }
                if v != SbVerdict::Unresolved {
                    self.log(format!(
                        "Split-Brain detected, {} automatically solved. Sync from {} node",
                        self.primaries(p),
                        if hg < 0 { "peer" } else { "this" }
                    ));
                }
            }
            if hg.abs() == 100 {
                match (self.discard_my_data, p.flags.discard_my_data) {
                    (true, false) => hg = -1,
                    (false, true) => hg = 1,
                    _ => {}
                }
                if hg.abs() == 100 {
                    self.log("Split-Brain detected, dropping connection!".into());
                    self.push(Action::CallHandler(Handler::SplitBrain));
                    self.drop_connection(ConnState::Disconnecting, false);
                    return;
                }
                self.log(
                    "Split-Brain detected, manually solved. Sync from ".to_string()
                        + if hg < 0 { "peer node" } else { "this node" },
                );
            }
            if cmp.decision == SyncDecision::SplitBrainManual {
                hg *= 2;
            }
        }
        if hg > 0 && self.disk <= DiskState::Inconsistent {
            self.log("I shall become SyncSource, but I am inconsistent!".into());
            self.drop_connection(ConnState::Disconnecting, false);
            return;
        }
        if hg < 0 && self.role == Role::Primary && self.disk >= DiskState::Consistent {
            match self.cfg.rr_conflict {
                RrConflict::Violently => {
                    self.log("Becoming SyncTarget, violating the stable-data assumption".into())
                }
                RrConflict::CallPriLost | RrConflict::Disconnect => {
                    if self.cfg.rr_conflict == RrConflict::CallPriLost {
                        self.push(Action::CallHandler(Handler::PriLost));
                    }
                    self.log("I shall become SyncTarget, but I am primary!".into());
                    self.drop_connection(ConnState::Disconnecting, false);
                    return;
                }
            }
        }
        if hg == 0 && (self.bitmap.count_out_of_sync() > 0 || p.bits > 0) {
            // 8.4 only warns here ("No resync, but N bits in bitmap!") and leaves the blocks
            // different; we resync them, from the side that did not restart.
            hg = match (self.fresh_attach, p.flags.fresh_attach) {
                (true, false) => -1,
                (false, true) => 1,
                _ if self.resolve_conflicts => -1,
                _ => 1,
            };
            self.log(format!(
                "No resync by UUIDs, but {} + {} bits in bitmaps: resyncing them",
                self.bitmap.count_out_of_sync(),
                p.bits
            ));
        }
        self.discard_my_data = false;
        self.crashed_primary = false;
        self.fresh_attach = false;
        if hg.abs() >= 2 {
            self.log(
                "Writing the whole bitmap, full sync required after drbd_sync_handshake.".into(),
            );
            self.bitmap.set_all();
        }
        match hg.signum() {
            0 => {
                if self.bitmap.count_out_of_sync() > 0 {
                    self.log(format!(
                        "No resync, but {} bits in bitmap!",
                        self.bitmap.count_out_of_sync()
                    ));
                }
                self.connected_no_sync();
            }
            1 => {
                // 8.4 sanitize_state clamps the disk of WFBitMapS/SyncSource to exactly UpToDate
                // (Consistent and Outdated "vanish when we get connected"; spec §5.3): the
                // source's data is what both sides will hold. Staying Consistent here would let
                // this node later be promoted, and lose its peer, without the disk state DRBD
                // requires of a Primary; losing the peer would then not start a new data
                // generation (8.4 does that only for an UpToDate disk), and a later split brain
                // would look like a plain resync to `uuid_compare`.
                if matches!(self.disk, DiskState::Consistent | DiskState::Outdated) {
                    self.set_disk(DiskState::UpToDate);
                }
                self.set_conn(ConnState::WFBitMapS);
                self.start_bitmap_exchange(false);
            }
            _ => {
                self.peer_bitmap_done = false;
                self.set_conn(ConnState::WFBitMapT);
                self.write_bitmap();
            }
        }
        self.release_held();
    }

    fn primaries(&self, p: &ReportParams) -> &'static str {
        match (self.role == Role::Primary) as u8 + (p.role == Role::Primary) as u8 {
            0 => "0 primaries,",
            1 => "1 primaries,",
            _ => "2 primaries,",
        }
    }

    fn split_brain_detected(&mut self) {
        self.split_brain_count += 1;
        self.log("Split-Brain detected".into());
    }

    /// after-sb-0pri: decide from bitmap-UUID primary bits and change counts.
    fn asb_0p(&self, p: &ReportParams) -> SbVerdict {
        let self_pri = self.uuids.bitmap & 1 == 1;
        let peer_pri = p.uuids[1] & 1 == 1;
        let ch_self = self.bitmap.count_out_of_sync();
        let ch_peer = p.bits;
        let tie =
            if self.resolve_conflicts { SbVerdict::DiscardMe } else { SbVerdict::DiscardPeer };
        let zero_changes = || {
            if ch_peer == 0 && ch_self == 0 {
                tie
            } else if ch_peer == 0 {
                SbVerdict::DiscardPeer
            } else if ch_self == 0 {
                SbVerdict::DiscardMe
            } else {
                SbVerdict::Unresolved
            }
        };
        let least = || match ch_self.cmp(&ch_peer) {
            std::cmp::Ordering::Less => SbVerdict::DiscardMe,
            std::cmp::Ordering::Greater => SbVerdict::DiscardPeer,
            std::cmp::Ordering::Equal => tie,
        };
        match &self.cfg.after_sb_0pri {
            AfterSb0::Disconnect => SbVerdict::Unresolved,
            AfterSb0::DiscardYoungerPrimary | AfterSb0::DiscardOlderPrimary => {
                let younger = self.cfg.after_sb_0pri == AfterSb0::DiscardYoungerPrimary;
                if self_pri != peer_pri {
                    // The one that was Primary at the split (bit set) is the older primary.
                    let discard_me = if younger { !self_pri } else { self_pri };
                    if discard_me {
                        SbVerdict::DiscardMe
                    } else {
                        SbVerdict::DiscardPeer
                    }
                } else {
                    match zero_changes() {
                        SbVerdict::Unresolved => least(),
                        v => v,
                    }
                }
            }
            AfterSb0::DiscardZeroChanges => zero_changes(),
            AfterSb0::DiscardLeastChanges => match zero_changes() {
                SbVerdict::Unresolved => least(),
                v => v,
            },
            AfterSb0::DiscardNode(name) => {
                if *name == self.cfg.node_name {
                    SbVerdict::DiscardMe
                } else if *name == p.node_name {
                    SbVerdict::DiscardPeer
                } else {
                    SbVerdict::Unresolved
                }
            }
        }
    }

    fn after_sb(&mut self, p: &ReportParams) -> SbVerdict {
        let me_pri = self.role == Role::Primary;
        let peer_pri = p.role == Role::Primary;
        match (me_pri as u8) + (peer_pri as u8) {
            0 => self.asb_0p(p),
            1 => {
                let discard_secondary =
                    if me_pri { SbVerdict::DiscardPeer } else { SbVerdict::DiscardMe };
                match self.cfg.after_sb_1pri {
                    AfterSb1::Disconnect => SbVerdict::Unresolved,
                    AfterSb1::DiscardSecondary => discard_secondary,
                    AfterSb1::Consensus => {
                        let v = self.asb_0p(p);
                        if v == discard_secondary {
                            v
                        } else {
                            SbVerdict::Unresolved
                        }
                    }
                    AfterSb1::ViolentlyAs0p => self.asb_0p(p),
                    AfterSb1::CallPriLostAfterSb => {
                        let v = self.asb_0p(p);
                        if v == SbVerdict::DiscardMe && me_pri {
                            return self.pri_lost_after_sb();
                        }
                        v
                    }
                }
            }
            _ => match self.cfg.after_sb_2pri {
                AfterSb2::Disconnect => SbVerdict::Unresolved,
                AfterSb2::ViolentlyAs0p => self.asb_0p(p),
                AfterSb2::CallPriLostAfterSb => {
                    let v = self.asb_0p(p);
                    if v == SbVerdict::DiscardMe {
                        return self.pri_lost_after_sb();
                    }
                    v
                }
            },
        }
    }

    /// The Primary lost the split-brain resolution: demote if nothing is in flight, otherwise
    /// call `pri-lost-after-sb` (which usually reboots the node) and leave it unresolved.
    fn pri_lost_after_sb(&mut self) -> SbVerdict {
        if self.requests_in_flight() == 0 && self.held.is_empty() {
            self.role = Role::Secondary;
            self.uuids.set_primary_bit(false);
            self.log("role( Primary -> Secondary ) after split brain".to_string());
            self.state_changed();
            SbVerdict::DiscardMe
        } else {
            self.push(Action::CallHandler(Handler::PriLostAfterSb));
            SbVerdict::Unresolved
        }
    }

    // ---------------------------------------------------------------- bitmap exchange

    /// Source side: persist the bitmap and send it. `admin_full`: started by invalidate.
    pub(super) fn start_bitmap_exchange(&mut self, admin_full: bool) {
        if admin_full {
            self.set_conn(ConnState::WFBitMapS);
        }
        self.write_bitmap();
        self.send_bitmap();
    }

    fn send_bitmap(&mut self) {
        let words = self.bitmap.words();
        let n = words.len();
        let mut chunks = Vec::new();
        let mut i = 0;
        while i < n {
            let end = (i + BITMAP_WORDS_PER_MSG).min(n);
            // Skip all-zero chunks except the last (cheap run-length "compression").
            if words[i..end].iter().any(|&w| w != 0) || end == n {
                chunks.push((i as u64, words[i..end].to_vec(), end == n));
            }
            i = end;
        }
        for (first_word, words, last) in chunks {
            self.send(PeerMsg::Bitmap { first_word, words, last });
        }
    }

    fn recv_bitmap(&mut self, first_word: u64, words: &[u64], last: bool) {
        if !matches!(self.conn, ConnState::WFBitMapS | ConnState::WFBitMapT) {
            self.protocol_error(&format!("bitmap in state {}", self.conn));
            return;
        }
        self.bitmap.merge_words(first_word as usize, words);
        if !last {
            return;
        }
        if self.conn == ConnState::WFBitMapT {
            self.write_bitmap();
            self.send_bitmap();
            self.set_conn(ConnState::WFSyncUUID);
        } else {
            self.write_bitmap();
            let r = self.random();
            let uuid = self.uuids.sync_source_start(r);
            self.write_sb();
            self.send(PeerMsg::SyncUuid { uuid });
            self.set_peer(self.peer_role, DiskState::Inconsistent);
            self.set_conn(if self.user_isp || self.peer_isp {
                ConnState::PausedSyncS
            } else {
                ConnState::SyncSource
            });
            self.log(format!(
                "Began resync as SyncSource (will sync {} KB [{} bits set]).",
                self.bitmap.count_out_of_sync() * 4,
                self.bitmap.count_out_of_sync()
            ));
            self.send_state();
        }
    }

    fn recv_sync_uuid(&mut self, uuid: u64) {
        if self.conn != ConnState::WFSyncUUID {
            self.protocol_error("unexpected sync UUID");
            return;
        }
        self.push(Action::CallHandler(Handler::BeforeResyncTarget));
        self.uuids.sync_target_start(uuid);
        self.set_disk(DiskState::Inconsistent);
        self.write_sb();
        self.set_conn(if self.user_isp || self.peer_isp {
            ConnState::PausedSyncT
        } else {
            ConnState::SyncTarget
        });
        self.log(format!(
            "Began resync as SyncTarget (will sync {} KB [{} bits set]).",
            self.bitmap.count_out_of_sync() * 4,
            self.bitmap.count_out_of_sync()
        ));
        self.start_resync_target();
        self.send_state();
    }

    fn peer_skip_initial_sync(&mut self, p: &ReportParams) {
        if self.conn != ConnState::Connected || self.role == Role::Primary {
            return;
        }
        let cur = p.uuids[0] & !1;
        self.uuids.current = cur;
        self.uuids.bitmap = 0;
        self.bitmap.clear_all();
        self.write_bitmap();
        self.set_disk(DiskState::UpToDate);
        self.set_peer(p.role, DiskState::UpToDate);
        self.write_sb();
        self.send_state();
    }
}
