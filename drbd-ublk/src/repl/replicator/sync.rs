//! Resync (target-driven, 8.4), checksum-based resync, online verify and the timer.

use super::*;

impl Replicator {
    /// Advance time. Drives the resync and verify steps (every 100 ms).
    pub fn tick(&mut self, now: Tick) {
        self.now = now;
        // Idle sender: close the epoch so the peer makes it stable and acks it (8.4 sends the
        // barrier when its sender runs out of work).
        if self.need_barrier && self.epoch_writes > 0 && self.replicating() {
            self.close_epoch();
        }
        if self.conn == ConnState::SyncTarget {
            let due = self.rs.as_ref().is_some_and(|r| r.next_step <= now);
            if due {
                self.resync_step();
            }
        }
        if self.conn == ConnState::VerifyS {
            let due = self.ov.as_ref().is_some_and(|r| r.next_step <= now);
            if due {
                self.verify_step();
            }
        }
    }

    pub(super) fn start_resync_target(&mut self) {
        self.rs = Some(ResyncRun {
            cursor: 0,
            ctl: RateController::new(self.cfg.rate),
            in_flight: BTreeMap::new(),
            in_flight_sectors: 0,
            sect_in: 0,
            failed: 0,
            next_step: self.now,
            finishing: false,
            total: self.bitmap.count_out_of_sync(),
        });
        if self.conn == ConnState::SyncTarget {
            self.resync_step();
        }
    }

    fn rs_in_flight(rs: &ResyncRun, sector: u64) -> bool {
        rs.in_flight
            .range(..=sector)
            .next_back()
            .is_some_and(|(&s, &(l, _))| sector < s + u64::from(l))
    }

    fn resync_step(&mut self) {
        let app = std::mem::take(&mut self.app_sectors_step);
        let blocks = self.bitmap.blocks();
        let size = self.cfg.size_sectors;
        let csums = self.cfg.csums;
        let now = self.now;
        let Some(rs) = self.rs.as_mut() else { return };
        rs.next_step = Tick(now.0 + STEP_MS);
        if rs.finishing {
            return;
        }
        let sect_in = std::mem::take(&mut rs.sect_in);
        let budget = rs.ctl.step(sect_in, rs.in_flight_sectors, app);
        let max_in_flight = rs.ctl.max_in_flight_sectors();
        let mut sent = 0u64;
        let mut requests: Vec<(u64, u32)> = Vec::new();
        while sent < budget && rs.in_flight_sectors < max_in_flight {
            let Some(b) = self.bitmap.next_out_of_sync(rs.cursor) else { break };
            if Self::rs_in_flight(rs, b * SECTORS_PER_BLOCK) {
                rs.cursor = b + 1;
                continue;
            }
            let mut end = b + 1;
            while end < blocks
                && (end - b) * SECTORS_PER_BLOCK < RS_MAX_SECTORS
                && self.bitmap.is_out_of_sync(end)
                && !Self::rs_in_flight(rs, end * SECTORS_PER_BLOCK)
            {
                end += 1;
            }
            let sector = b * SECTORS_PER_BLOCK;
            let len = ((end * SECTORS_PER_BLOCK).min(size) - sector) as u32;
            rs.in_flight.insert(sector, (len, false));
            rs.in_flight_sectors += u64::from(len);
            rs.cursor = end;
            sent += u64::from(len);
            requests.push((sector, len));
        }
        let at_end = self.bitmap.next_out_of_sync(rs.cursor).is_none();
        let idle = rs.in_flight.is_empty();
        for (sector, len) in requests {
            if csums {
                let gen = self.conn_gen;
                self.submit(OpCtx::CsumRead { sector, len, gen }, DiskOpKind::Read { sector, len });
            } else {
                self.send(PeerMsg::RsDataRequest { sector, len });
            }
        }
        if at_end && idle {
            self.resync_pass_done();
        }
    }

    fn resync_pass_done(&mut self) {
        let Some(rs) = self.rs.as_mut() else { return };
        if self.bitmap.count_out_of_sync() > 0 && rs.failed == 0 {
            // Bits set again during the pass (out-of-sync notices, discarded replies).
            rs.cursor = 0;
            return;
        }
        rs.finishing = true;
        self.submit(OpCtx::FinishFlush, DiskOpKind::Flush);
    }

    fn resync_target_finished(&mut self, flush_ok: bool) {
        let Some(rs) = self.rs.take() else { return };
        if self.conn != ConnState::SyncTarget && self.conn != ConnState::PausedSyncT {
            return;
        }
        self.write_bitmap();
        if rs.failed > 0 || !flush_ok || self.bitmap.count_out_of_sync() > 0 {
            self.log(format!("Resync aborted with {} failed sectors", rs.failed));
            self.set_conn(ConnState::Connected);
            self.write_sb();
            self.send_state();
            return;
        }
        if let Some(p) = self.peer_params.as_ref() {
            let peer = Uuids {
                current: p.uuids[0],
                bitmap: p.uuids[1],
                history: [p.uuids[2], p.uuids[3]],
            };
            self.uuids.sync_target_finished(&peer);
        }
        self.log(format!("Resync done (total {} blocks)", rs.total));
        self.set_disk(DiskState::UpToDate);
        self.set_conn(ConnState::Connected);
        self.write_sb();
        self.push(Action::CallHandler(Handler::AfterResyncTarget));
        self.send_state();
    }

    /// The peer reports Connected after a resync: finish the source side.
    pub(super) fn sync_peer_finished(&mut self, peer_disk: DiskState) {
        if !matches!(self.conn, ConnState::SyncSource | ConnState::PausedSyncS) {
            return;
        }
        if peer_disk == DiskState::UpToDate {
            self.uuids.sync_source_finished();
            self.log("Resync done".to_string());
        }
        self.set_peer(self.peer_role, peer_disk);
        self.set_conn(ConnState::Connected);
        self.write_bitmap();
        self.write_sb();
    }

    /// An application write (local or from the peer) touches `sector..+len`: resync replies
    /// in flight for that range carry older data and must be discarded.
    pub(super) fn sync_note_app_write(&mut self, sector: u64, len: u32) {
        let Some(rs) = self.rs.as_mut() else { return };
        let end = sector + u64::from(len);
        for (&s, v) in rs.in_flight.range_mut(..end) {
            if s + u64::from(v.0) > sector {
                v.1 = true;
            }
        }
    }

    pub(super) fn apply_pause(&mut self) {
        let paused = self.user_isp || self.peer_isp;
        let next = match (self.conn, paused) {
            (ConnState::SyncSource, true) => ConnState::PausedSyncS,
            (ConnState::SyncTarget, true) => ConnState::PausedSyncT,
            (ConnState::PausedSyncS, false) => ConnState::SyncSource,
            (ConnState::PausedSyncT, false) => ConnState::SyncTarget,
            (c, _) => c,
        };
        self.set_conn(next);
        self.state_changed();
    }

    pub(super) fn dispatch_sync(&mut self, m: PeerMsg) {
        let gen = self.conn_gen;
        match m {
            PeerMsg::RsDataRequest { sector, len } => {
                self.serve_read(
                    OpCtx::RsServe { sector, len, csum: None, gen },
                    DiskOpKind::Read { sector, len },
                );
            }
            PeerMsg::CsumRsRequest { sector, len, digest } => {
                self.serve_read(
                    OpCtx::RsServe { sector, len, csum: Some(digest), gen },
                    DiskOpKind::Read { sector, len },
                );
            }
            PeerMsg::RsDataReply { sector, data } => {
                let len = (data.len() / 512) as u32;
                match self.rs_take(sector, len) {
                    Some(false) => {
                        self.submit(
                            OpCtx::RsWrite { sector, len, gen },
                            DiskOpKind::Write { sector, data, fua: false },
                        );
                    }
                    Some(true) => self.rs_forget(sector, len),
                    None => {}
                }
            }
            PeerMsg::RsIsInSync { sector, len } => {
                if self.rs_take(sector, len) == Some(false) {
                    self.bitmap.set_in_sync(sector..sector + u64::from(len));
                }
                self.rs_forget(sector, len);
            }
            PeerMsg::NegRsDReply { sector, len } => {
                if let Some(rs) = self.rs.as_mut() {
                    rs.failed += u64::from(len);
                }
                self.rs_forget(sector, len);
            }
            PeerMsg::RsWriteAck { sector, len } => {
                self.bitmap.set_in_sync(sector..sector + u64::from(len));
            }
            PeerMsg::OvRequest { sector, len } => {
                if self.conn == ConnState::Connected {
                    self.set_conn(ConnState::VerifyT);
                }
                self.serve_read(
                    OpCtx::OvServe { sector, len, gen },
                    DiskOpKind::Read { sector, len },
                );
            }
            PeerMsg::OvReply { sector, len, digest } => {
                self.submit(
                    OpCtx::OvLocal { sector, len, peer_digest: digest, gen },
                    DiskOpKind::Read { sector, len },
                );
            }
            PeerMsg::OvResult { sector, len, in_sync } => {
                if !in_sync {
                    self.set_oos(sector, len);
                }
            }
            PeerMsg::OvDone => {
                if self.conn == ConnState::VerifyT {
                    self.set_conn(ConnState::Connected);
                    self.write_bitmap();
                }
            }
            other => self.protocol_error(&format!("unexpected {}", other.name())),
        }
    }

    /// Look up the in-flight resync request for a reply; `Some(dirty)`.
    fn rs_take(&mut self, sector: u64, _len: u32) -> Option<bool> {
        let rs = self.rs.as_mut()?;
        let &(_, dirty) = rs.in_flight.get(&sector)?;
        Some(dirty)
    }

    /// Forget an answered resync request.
    fn rs_forget(&mut self, sector: u64, len: u32) {
        let Some(rs) = self.rs.as_mut() else { return };
        if rs.in_flight.remove(&sector).is_some() {
            rs.in_flight_sectors -= u64::from(len);
            rs.sect_in += u64::from(len);
        }
        let at_end = self.bitmap.next_out_of_sync(rs.cursor).is_none() && rs.in_flight.is_empty();
        if at_end && !rs.finishing && self.conn == ConnState::SyncTarget {
            self.resync_pass_done();
        }
    }

    pub(super) fn sync_disk_done(
        &mut self,
        id: u64,
        ctx: OpCtx,
        result: Result<Option<Payload>, IoError>,
    ) {
        let gen_now = self.conn_gen;
        match ctx {
            OpCtx::RsServe { sector, len, csum, gen } if gen == gen_now => match result {
                Ok(Some(data)) => {
                    if csum.is_some_and(|c| c == digest(&data)) {
                        self.bitmap.set_in_sync(sector..sector + u64::from(len));
                        self.send(PeerMsg::RsIsInSync { sector, len });
                    } else {
                        self.send(PeerMsg::RsDataReply { sector, data });
                    }
                }
                _ => self.send(PeerMsg::NegRsDReply { sector, len }),
            },
            OpCtx::RsWrite { sector, len, gen } => {
                self.write_done(id);
                if gen != gen_now {
                    return;
                }
                if result.is_ok() {
                    self.bitmap.set_in_sync(sector..sector + u64::from(len));
                    self.send(PeerMsg::RsWriteAck { sector, len });
                } else if let Some(rs) = self.rs.as_mut() {
                    rs.failed += u64::from(len);
                }
                self.rs_forget(sector, len);
            }
            OpCtx::CsumRead { sector, len, gen } if gen == gen_now => match result {
                Ok(Some(data)) => {
                    let d = digest(&data);
                    self.send(PeerMsg::CsumRsRequest { sector, len, digest: d });
                }
                _ => self.send(PeerMsg::RsDataRequest { sector, len }),
            },
            OpCtx::OvServe { sector, len, gen } if gen == gen_now => {
                let d = result.ok().flatten().map_or(u64::MAX, |data| digest(&data));
                self.send(PeerMsg::OvReply { sector, len, digest: d });
            }
            OpCtx::OvLocal { sector, len, peer_digest, gen } if gen == gen_now => {
                let d = result.ok().flatten().map_or(u64::MAX - 1, |data| digest(&data));
                let in_sync = d == peer_digest;
                if !in_sync {
                    self.set_oos(sector, len);
                    self.log(format!("Out of sync: start={sector}, size={len} (sectors)"));
                }
                self.send(PeerMsg::OvResult { sector, len, in_sync });
                if let Some(ov) = self.ov.as_mut() {
                    ov.in_flight -= 1;
                    if !in_sync {
                        ov.found += u64::from(len).div_ceil(SECTORS_PER_BLOCK);
                    }
                }
                self.verify_maybe_done();
            }
            OpCtx::ReadServe { id: rid, gen } if gen == gen_now => {
                let data = result.ok().flatten().filter(|_| self.disk == DiskState::UpToDate);
                self.send(PeerMsg::DataReply { id: rid, data });
            }
            OpCtx::FinishFlush => self.resync_target_finished(result.is_ok()),
            _ => {}
        }
    }

    // ---------------------------------------------------------------------- online verify

    pub(super) fn start_verify(&mut self, start_sector: u64) {
        self.ov = Some(VerifyRun {
            cursor: start_sector - start_sector % SECTORS_PER_BLOCK,
            end: self.cfg.size_sectors,
            in_flight: 0,
            next_step: self.now,
            found: 0,
            ctl: RateController::new(self.cfg.rate),
        });
        self.set_conn(ConnState::VerifyS);
        self.log(format!("Starting Online Verify from sector {start_sector}"));
        self.send_state();
        self.verify_step();
    }

    fn verify_step(&mut self) {
        let now = self.now;
        let Some(ov) = self.ov.as_mut() else { return };
        ov.next_step = Tick(now.0 + STEP_MS);
        let budget = ov.ctl.step(0, 0, 0).max(RS_MAX_SECTORS);
        let mut sent = 0;
        let mut reqs = Vec::new();
        while sent < budget && ov.cursor < ov.end && ov.in_flight < 64 {
            let len = RS_MAX_SECTORS.min(ov.end - ov.cursor) as u32;
            reqs.push((ov.cursor, len));
            ov.cursor += u64::from(len);
            ov.in_flight += 1;
            sent += u64::from(len);
        }
        for (sector, len) in reqs {
            self.send(PeerMsg::OvRequest { sector, len });
        }
        self.verify_maybe_done();
    }

    fn verify_maybe_done(&mut self) {
        let Some(ov) = self.ov.as_ref() else { return };
        if ov.cursor < ov.end || ov.in_flight > 0 {
            return;
        }
        let found = ov.found;
        self.ov = None;
        self.send(PeerMsg::OvDone);
        self.log("Online verify done".to_string());
        if found > 0 {
            self.log(format!("Online verify found {found} 4k block out of sync!"));
            self.push(Action::CallHandler(Handler::OutOfSync));
        }
        self.set_conn(ConnState::Connected);
        self.write_bitmap();
        self.send_state();
    }
}
