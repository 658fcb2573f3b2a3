//! Write, read and flush paths (Primary side), the receive path (Secondary side) and the
//! transfer-log cleanup on connection loss.

use super::conflict::InWrite;
use super::op_range;
use super::*;

impl Replicator {
    /// An application write (only on a Primary).
    pub fn on_write(&mut self, w: WriteReq) {
        let len = (w.data.len() / 512) as u32;
        assert!(len > 0 && w.data.len() % 512 == 0, "write size must be a multiple of 512");
        let err = if self.role != Role::Primary {
            Some(IoError::ReadOnly)
        } else if w.sector + u64::from(len) > self.cfg.size_sectors {
            Some(IoError::OutOfRange)
        } else if self.disk != DiskState::UpToDate
            && !(self.replicating() && self.peer_disk == DiskState::UpToDate)
        {
            // No access to UpToDate data (e.g. an Inconsistent Primary that lost its source).
            Some(IoError::Eio)
        } else {
            None
        };
        if let Some(e) = err {
            self.push(Action::Complete { tag: w.tag, result: Err(e), replicated: false });
            return;
        }
        let id = self.id();
        let req = Req {
            tag: w.tag,
            kind: ReqKind::Write,
            sector: w.sector,
            len,
            fua: w.fua,
            data: Some(w.data),
            local: Part::Idle,
            net: Part::Idle,
            epoch: None,
            flush_epoch: None,
            completed: false,
            al_held: false,
            replicated: false,
            postponed: false,
        };
        self.reqs.insert(id, req);
        self.app_sectors_step += u64::from(len);
        if self.write_gate_closed() {
            self.held.push_back(id);
        } else {
            self.admit(id);
        }
    }

    /// Writes wait while the handshake runs and while a new generation is being written.
    pub(super) fn write_gate_closed(&self) -> bool {
        self.conn == ConnState::WFReportParams || self.sb_generation_pending > 0 || self.susp_fen
    }

    pub(super) fn release_held(&mut self) {
        while !self.write_gate_closed() {
            let Some(id) = self.held.pop_front() else { break };
            self.admit(id);
        }
        self.kick_dual();
    }

    /// Take the activity-log reference, then start both parts.
    fn admit(&mut self, id: u64) {
        let Some(r) = self.reqs.get(&id) else { return };
        if r.kind == ReqKind::Flush {
            self.start_flush(id);
            return;
        }
        if !self.has_disk() {
            self.start_write(id);
            return;
        }
        if !self.waiting_al.is_empty() {
            self.waiting_al.push_back((id, None));
            return;
        }
        match self.al_begin(id) {
            Some(AlBegin::Go) => self.start_write(id),
            Some(AlBegin::AfterTransaction { tr }) => self.waiting_al.push_back((id, Some(tr))),
            _ => self.waiting_al.push_back((id, None)),
        }
    }

    /// Submit peer writes waiting for the activity log, in order.
    pub(super) fn retry_peer_al(&mut self) {
        self.retry_peer_al_inner();
        if !self.serve_wait.is_empty() {
            self.kick_serve();
        }
    }

    fn retry_peer_al_inner(&mut self) {
        while let Some((tr, _, kind)) = self.peer_al_wait.front() {
            match *tr {
                Some(tr) if self.al.is_durable(tr) => {}
                Some(_) => return,
                None => {
                    let Some((s, e)) = op_range(kind) else { return };
                    match self.al.begin_io(s..e) {
                        Ok(AlBegin::Go) => {}
                        Ok(AlBegin::AfterTransaction { tr }) => {
                            self.peer_al_wait.front_mut().expect("non-empty").0 = Some(tr);
                            self.kick_al();
                            return;
                        }
                        _ => return,
                    }
                }
            }
            let (_, ctx, kind) = self.peer_al_wait.pop_front().expect("non-empty");
            self.submit(ctx, kind);
        }
    }

    /// Retry requests waiting for the activity log, in order.
    pub(super) fn retry_al_waiters(&mut self) {
        if !self.peer_al_wait.is_empty() {
            self.retry_peer_al();
        }
        let mut n = self.waiting_al.len();
        while n > 0 {
            n -= 1;
            let Some((id, tr)) = self.waiting_al.pop_front() else { break };
            if !self.reqs.contains_key(&id) {
                continue;
            }
            let held = self.reqs[&id].al_held;
            if !self.has_disk() && !held {
                self.start_write(id);
                continue;
            }
            match tr {
                Some(tr) if self.al.is_durable(tr) => self.start_write(id),
                Some(_) => self.waiting_al.push_back((id, tr)),
                None => match self.al_begin(id) {
                    Some(AlBegin::Go) => self.start_write(id),
                    Some(AlBegin::AfterTransaction { tr }) => {
                        self.waiting_al.push_back((id, Some(tr)))
                    }
                    _ => self.waiting_al.push_back((id, None)),
                },
            }
        }
    }

    pub(super) fn start_write(&mut self, id: u64) {
        if self.dual_defer_start(id) {
            return;
        }
        let (sector, len, fua, data) = {
            let r = self.reqs.get(&id).expect("request exists");
            (r.sector, r.len, r.fua, r.data.clone().expect("write has data"))
        };
        // Network part first so that the epoch numbering follows submission order.
        if self.replicating() {
            if self.need_barrier || self.epoch_writes >= self.cfg.max_epoch_size {
                self.close_epoch();
            }
            let ack = match self.cfg.protocol {
                Protocol::A => AckKind::None,
                Protocol::B => AckKind::Receive,
                Protocol::C => AckKind::Write,
            };
            let epoch = self.epoch;
            self.epoch_writes += 1;
            *self.tl_epochs.entry(epoch).or_insert(0) += 1;
            self.send(PeerMsg::Data {
                id,
                sector,
                epoch,
                ack,
                fua,
                may_set_in_sync: false,
                data: data.clone(),
            });
            let r = self.reqs.get_mut(&id).expect("request exists");
            r.epoch = Some(epoch);
            r.net = if ack == AckKind::None { Part::Done(true) } else { Part::Pending };
            r.replicated = ack == AckKind::None;
        } else {
            self.set_oos(sector, len);
            if self.conn >= ConnState::Connected {
                self.send(PeerMsg::OutOfSync { sector, len });
            }
            self.reqs.get_mut(&id).expect("request exists").net = Part::Done(false);
        }
        if self.local_ok_for_write() {
            self.sync_note_app_write(sector, len);
            self.reqs.get_mut(&id).expect("request exists").local = Part::Pending;
            self.submit(OpCtx::App(id), DiskOpKind::Write { sector, data, fua });
        } else {
            self.reqs.get_mut(&id).expect("request exists").local = Part::Done(false);
        }
        if !self.dual() {
            // Kept with two primaries: a P_RETRY_WRITE sends it again.
            self.reqs.get_mut(&id).expect("request exists").data = None;
        }
        self.maybe_complete(id);
    }

    /// Send P_BARRIER for the current epoch if it has writes and start the next one.
    pub(super) fn close_epoch(&mut self) {
        if self.epoch_writes > 0 {
            let nr = self.epoch;
            self.send(PeerMsg::Barrier { nr });
            self.epoch = self.epoch.wrapping_add(1);
            self.epoch_writes = 0;
        }
        self.need_barrier = false;
    }

    /// An application flush (empty flush bio).
    pub fn on_flush(&mut self, tag: u64) {
        let id = self.id();
        let req = Req {
            tag,
            kind: ReqKind::Flush,
            sector: 0,
            len: 0,
            fua: false,
            data: None,
            local: Part::Idle,
            net: Part::Idle,
            epoch: None,
            flush_epoch: None,
            completed: false,
            al_held: false,
            replicated: false,
            postponed: false,
        };
        self.reqs.insert(id, req);
        if self.write_gate_closed() {
            self.held.push_back(id);
        } else {
            self.start_flush(id);
        }
    }

    fn start_flush(&mut self, id: u64) {
        let replicating = self.replicating();
        if replicating {
            self.close_epoch();
        }
        // Under protocol C a flush also waits until the peer made every earlier epoch stable
        // (its barrier ack), so a completed flush means "durable on both nodes".
        let wait = replicating && self.cfg.protocol == Protocol::C;
        let last_closed = self.epoch.wrapping_sub(1);
        let has_disk = self.has_disk();
        {
            let r = self.reqs.get_mut(&id).expect("request exists");
            r.flush_epoch = wait.then_some(last_closed);
            r.net = if wait { Part::Pending } else { Part::Done(false) };
            r.local = if has_disk { Part::Pending } else { Part::Done(false) };
        }
        if has_disk {
            self.submit(OpCtx::App(id), DiskOpKind::Flush);
        }
        self.check_flush_waiters();
        self.maybe_complete(id);
    }

    pub(super) fn check_flush_waiters(&mut self) {
        let oldest = self.tl_epochs.keys().next().copied();
        let ids: Vec<u64> = self
            .reqs
            .iter()
            .filter(|(_, r)| r.kind == ReqKind::Flush && r.net == Part::Pending)
            .map(|(&id, _)| id)
            .collect();
        for id in ids {
            let r = self.reqs.get_mut(&id).expect("request exists");
            let fe = r.flush_epoch.expect("pending flush waits for an epoch");
            let done = match oldest {
                None => true,
                Some(o) => (o.wrapping_sub(fe) as i32) > 0,
            };
            if done {
                r.net = Part::Done(true);
                r.replicated = true;
                self.maybe_complete(id);
            }
        }
    }

    /// An application read.
    pub fn on_read(&mut self, rq: ReadReq) {
        if rq.len == 0 || rq.sector + u64::from(rq.len) > self.cfg.size_sectors {
            self.push(Action::Complete {
                tag: rq.tag,
                result: Err(IoError::OutOfRange),
                replicated: false,
            });
            return;
        }
        let range = rq.sector..rq.sector + u64::from(rq.len);
        let local_good = self.disk == DiskState::UpToDate
            || (self.has_disk()
                && self.disk >= DiskState::Inconsistent
                && !self.bitmap.any_out_of_sync(range.clone())
                && self.conn == ConnState::SyncTarget);
        let id = self.id();
        let req = Req {
            tag: rq.tag,
            kind: ReqKind::Read,
            sector: rq.sector,
            len: rq.len,
            fua: false,
            data: None,
            local: Part::Pending,
            net: Part::Done(false),
            epoch: None,
            flush_epoch: None,
            completed: false,
            al_held: false,
            replicated: false,
            postponed: false,
        };
        self.reqs.insert(id, req);
        if local_good {
            self.submit(OpCtx::App(id), DiskOpKind::Read { sector: rq.sector, len: rq.len });
        } else if self.conn >= ConnState::Connected && self.peer_disk == DiskState::UpToDate {
            self.read_waiters.insert(id, rq.tag);
            self.send(PeerMsg::DataRequest { id, sector: rq.sector, len: rq.len });
        } else {
            self.reqs.remove(&id);
            self.push(Action::Complete {
                tag: rq.tag,
                result: Err(IoError::Eio),
                replicated: false,
            });
        }
    }

    /// Complete the request upward once neither part is pending; release it once its epoch
    /// is acknowledged.
    pub(super) fn maybe_complete(&mut self, id: u64) {
        let Some(r) = self.reqs.get_mut(&id) else { return };
        let pending = |p: Part| matches!(p, Part::Pending | Part::Idle);
        // A write that did not reach the peer is acknowledged only once the new data
        // generation is on disk: otherwise a crash could hide it from split-brain detection.
        let gen_wait = r.kind == ReqKind::Write
            && r.net == Part::Done(false)
            && self.sb_generation_pending > 0;
        if !r.completed && !pending(r.local) && !pending(r.net) && !gen_wait {
            r.completed = true;
            let ok = r.local == Part::Done(true) || r.net == Part::Done(true);
            let tag = r.tag;
            let replicated = r.replicated;
            let in_cur_epoch = r.epoch == Some(self.epoch);
            if r.kind == ReqKind::Write && in_cur_epoch {
                self.need_barrier = true;
            }
            let result = if ok { Ok(None) } else { Err(IoError::Eio) };
            self.push(Action::Complete { tag, result, replicated });
        }
        self.maybe_release(id);
    }

    fn maybe_release(&mut self, id: u64) {
        let Some(r) = self.reqs.get(&id) else { return };
        if !r.completed || r.epoch.is_some() {
            return;
        }
        let r = self.reqs.remove(&id).expect("request exists");
        if r.al_held {
            self.al_end(r.sector, r.len);
        }
    }

    /// Disk (or metadata) completion.
    pub fn on_disk_done(&mut self, c: DiskCompletion) {
        let Some(ctx) = self.ops.remove(&c.id) else { return };
        let ok = c.result.is_ok();
        match ctx {
            OpCtx::App(id) => {
                self.write_done(c.id);
                self.app_done(id, c.result)
            }
            OpCtx::PeerWrite { id, ack, sector, len, gen, al, epoch } => {
                self.write_done(c.id);
                if al {
                    self.al_end(sector, len);
                }
                if gen != self.conn_gen {
                    if !ok {
                        self.set_oos(sector, len);
                    }
                    self.kick_dual();
                    return;
                }
                if ok {
                    if ack == AckKind::Write {
                        self.send(PeerMsg::WriteAck { id });
                    }
                } else {
                    self.set_oos(sector, len);
                    self.send(PeerMsg::NegAck { id });
                }
                self.recv_write_done(epoch);
                self.kick_dual();
            }
            OpCtx::EpochFlush { gen, .. } if gen != self.conn_gen => {}
            OpCtx::EpochFlush { nr, set_size, .. } => {
                self.send(PeerMsg::BarrierAck { nr, set_size });
                self.recv = RecvEpoch { nr: nr.wrapping_add(1), ..RecvEpoch::default() };
                self.recv_blocked = false;
                self.drain_recv_queue();
            }
            OpCtx::Meta(kind) => {
                self.meta_busy = false;
                if let MetaKind::Al(tr) = kind {
                    self.al.transaction_durable(tr);
                    self.retry_al_waiters();
                    self.kick_al();
                }
                if kind == MetaKind::Superblock && self.sb_generation_pending > 0 {
                    self.sb_generation_pending -= 1;
                    if self.sb_generation_pending == 0 {
                        let ids: Vec<u64> = self.reqs.keys().copied().collect();
                        for id in ids {
                            self.maybe_complete(id);
                        }
                    }
                    self.release_held();
                }
                self.kick_meta();
            }
            other => self.sync_disk_done(c.id, other, c.result),
        }
    }

    fn app_done(&mut self, id: u64, result: Result<Option<Payload>, IoError>) {
        let Some(r) = self.reqs.get(&id) else { return };
        match r.kind {
            ReqKind::Read => {
                let r = self.reqs.remove(&id).expect("request exists");
                let replicated = false;
                match result {
                    Ok(d) => self.push(Action::Complete { tag: r.tag, result: Ok(d), replicated }),
                    Err(_)
                        if self.conn >= ConnState::Connected
                            && self.peer_disk == DiskState::UpToDate =>
                    {
                        // Local read error: retry on the peer and mark the block for resync.
                        self.set_oos(r.sector, r.len);
                        let nid = self.id();
                        self.reqs.insert(nid, r);
                        let r = &self.reqs[&nid];
                        let (tag, sector, len) = (r.tag, r.sector, r.len);
                        self.read_waiters.insert(nid, tag);
                        self.send(PeerMsg::DataRequest { id: nid, sector, len });
                    }
                    Err(e) => {
                        self.push(Action::Complete { tag: r.tag, result: Err(e), replicated })
                    }
                }
            }
            ReqKind::Write => {
                self.write_done_app(id, result.is_ok());
            }
            ReqKind::Flush => {
                let r = self.reqs.get_mut(&id).expect("request exists");
                r.local = Part::Done(result.is_ok());
                self.maybe_complete(id);
            }
        }
    }

    fn write_done_app(&mut self, id: u64, ok: bool) {
        let r = self.reqs.get_mut(&id).expect("request exists");
        r.local = Part::Done(ok);
        let (s, l, postponed) = (r.sector, r.len, r.postponed);
        if !ok {
            self.set_oos(s, l);
        }
        self.maybe_complete(id);
        if postponed {
            self.kick_dual();
        }
    }

    // ----------------------------------------------------------------------- receive path

    /// A message from the peer (in connection order).
    pub fn on_peer_msg(&mut self, m: PeerMsg) {
        if self.conn < ConnState::WFReportParams {
            return;
        }
        let ack = matches!(
            m,
            PeerMsg::RecvAck { .. }
                | PeerMsg::WriteAck { .. }
                | PeerMsg::NegAck { .. }
                | PeerMsg::Superseded { .. }
                | PeerMsg::RetryWrite { .. }
                | PeerMsg::BarrierAck { .. }
        );
        if self.recv_blocked && !(ack && self.dual()) {
            self.recv_queue.push_back(m);
            return;
        }
        self.dispatch(m);
    }

    fn drain_recv_queue(&mut self) {
        while !self.recv_blocked {
            let Some(m) = self.recv_queue.pop_front() else { break };
            self.dispatch(m);
        }
    }

    fn dispatch(&mut self, m: PeerMsg) {
        match m {
            PeerMsg::Data { id, sector, epoch, ack, fua, data, .. } => {
                self.recv_data(id, sector, epoch, ack, fua, data)
            }
            PeerMsg::Barrier { nr } => {
                if nr != self.recv.nr && self.recv.total > 0 {
                    self.protocol_error(&format!("barrier {nr} for epoch {}", self.recv.nr));
                    return;
                }
                self.recv.nr = nr;
                self.recv.barrier = true;
                if self.write_ordering_none() {
                    // The next epoch's writes go to the disk at once; this one is
                    // acknowledged when its own writes are done.
                    let closed = std::mem::replace(
                        &mut self.recv,
                        RecvEpoch { nr: nr.wrapping_add(1), ..RecvEpoch::default() },
                    );
                    self.recv_closed.push_back(closed);
                    self.ack_closed_epochs();
                } else {
                    self.recv_blocked = true;
                    self.try_finish_recv_epoch();
                }
            }
            PeerMsg::RecvAck { id } | PeerMsg::WriteAck { id } => self.net_ack(id, true),
            PeerMsg::NegAck { id } => self.net_ack(id, false),
            PeerMsg::Superseded { id } => self.verdict(id, true),
            PeerMsg::RetryWrite { id } => self.verdict(id, false),
            PeerMsg::BarrierAck { nr, set_size } => self.barrier_ack(nr, set_size),
            PeerMsg::OutOfSync { sector, len } => {
                self.set_oos(sector, len);
            }
            PeerMsg::DataRequest { id, sector, len } => {
                // Only UpToDate data is served (8.4 answers P_NEG_DREPLY otherwise): the
                // peer may still take this node for UpToDate while a handshake has just made
                // it the SyncTarget.
                if self.disk == DiskState::UpToDate {
                    let gen = self.conn_gen;
                    let kind = DiskOpKind::Read { sector, len };
                    self.serve_read(OpCtx::ReadServe { id, gen }, kind);
                } else {
                    self.send(PeerMsg::DataReply { id, data: None });
                }
            }
            PeerMsg::DataReply { id, data } => {
                if let Some(tag) = self.read_waiters.remove(&id) {
                    self.reqs.remove(&id);
                    let result = data.map(Some).ok_or(IoError::Eio);
                    self.push(Action::Complete { tag, result, replicated: false });
                }
            }
            other => self.dispatch_control(other),
        }
    }

    fn recv_data(
        &mut self,
        id: u64,
        sector: u64,
        epoch: u32,
        ack: AckKind,
        fua: bool,
        data: Payload,
    ) {
        if self.recv.total == 0 && !self.recv.barrier {
            self.recv.nr = epoch;
        } else if epoch != self.recv.nr {
            self.protocol_error(&format!("data of epoch {epoch} inside epoch {}", self.recv.nr));
            return;
        }
        let len = (data.len() / 512) as u32;
        if ack == AckKind::Receive {
            self.send(PeerMsg::RecvAck { id });
        }
        self.recv.total += 1;
        if self.dual() && ack == AckKind::Write {
            if self.resolve_conflicts {
                if self.resolve_peer_write(id, sector, len) {
                    self.recv_write_done(epoch);
                    return;
                }
            } else if self.must_park(sector, len) {
                self.park(InWrite { id, epoch, sector, ack, fua, data });
                return;
            }
        }
        self.apply_peer_write(InWrite { id, epoch, sector, ack, fua, data });
    }

    /// Neither `disk-flushes` nor `disk-drain`: epochs overlap on this node.
    fn write_ordering_none(&self) -> bool {
        !self.cfg.disk_flushes && !self.cfg.disk_drain
    }

    /// One write of receive epoch `nr` is done (written, failed or dropped).
    fn recv_write_done(&mut self, nr: u32) {
        if self.recv.nr == nr {
            self.recv.done += 1;
            self.try_finish_recv_epoch();
        } else if let Some(e) = self.recv_closed.iter_mut().find(|e| e.nr == nr) {
            e.done += 1;
            self.ack_closed_epochs();
        }
    }

    /// Write ordering "none": acknowledge the closed epochs whose writes are all done, in
    /// order.
    fn ack_closed_epochs(&mut self) {
        while self.recv_closed.front().is_some_and(|e| e.done == e.total) {
            let e = self.recv_closed.pop_front().expect("non-empty");
            self.send(PeerMsg::BarrierAck { nr: e.nr, set_size: e.total });
        }
    }

    /// Write a received peer write locally (its epoch accounting is done).
    pub(super) fn apply_peer_write(&mut self, w: InWrite) {
        let InWrite { id, epoch, sector, ack, fua, data } = w;
        let len = (data.len() / 512) as u32;
        self.sync_note_app_write(sector, len);
        if self.peer_disk == DiskState::Diskless {
            // A diskless Primary writes through us: its own disk will need these blocks.
            self.set_oos(sector, len);
        }
        if self.has_disk() {
            let gen = self.conn_gen;
            // With a diskless peer this node holds the only copy: like a Primary, it must
            // have the extent in the activity log before writing (8.4 receive_Data).
            let al = self.peer_disk == DiskState::Diskless;
            let ctx = OpCtx::PeerWrite { id, ack, sector, len, gen, al, epoch };
            let kind = DiskOpKind::Write { sector, data, fua };
            if al {
                self.peer_al_wait.push_back((None, ctx, kind));
                self.retry_peer_al();
            } else {
                self.submit(ctx, kind);
            }
        } else {
            self.send(PeerMsg::NegAck { id });
            // A parked write may be applied after its epoch's barrier arrived.
            self.recv_write_done(epoch);
        }
    }

    fn try_finish_recv_epoch(&mut self) {
        let e = &mut self.recv;
        if e.barrier && !e.flushing && e.done == e.total {
            e.flushing = true;
            let (nr, set_size) = (e.nr, e.total);
            if self.has_disk() && self.cfg.disk_flushes {
                let gen = self.conn_gen;
                self.submit(OpCtx::EpochFlush { nr, set_size, gen }, DiskOpKind::Flush);
            } else {
                self.send(PeerMsg::BarrierAck { nr, set_size });
                self.recv = RecvEpoch { nr: nr.wrapping_add(1), ..RecvEpoch::default() };
                self.recv_blocked = false;
                self.drain_recv_queue();
            }
        }
    }

    fn net_ack(&mut self, id: u64, ok: bool) {
        let Some(r) = self.reqs.get_mut(&id) else { return };
        if r.net != Part::Pending {
            return;
        }
        r.net = Part::Done(ok);
        r.replicated = ok;
        let (s, l) = (r.sector, r.len);
        if !ok {
            self.set_oos(s, l);
        }
        self.maybe_complete(id);
        if self.dual() {
            self.unpark();
            self.kick_dual();
        }
    }

    fn barrier_ack(&mut self, nr: u32, set_size: u32) {
        let Some(count) = self.tl_epochs.remove(&nr) else {
            self.protocol_error(&format!("BarrierAck for unknown epoch {nr}"));
            return;
        };
        if count != set_size {
            self.protocol_error(&format!(
                "BarrierAck set_size {set_size} != {count} for epoch {nr}"
            ));
            return;
        }
        let ids: Vec<u64> =
            self.reqs.iter().filter(|(_, r)| r.epoch == Some(nr)).map(|(&id, _)| id).collect();
        for id in ids {
            let r = self.reqs.get_mut(&id).expect("request exists");
            if r.net == Part::Pending {
                // Protocol A/B writes are stable on the peer now.
                r.net = Part::Done(true);
            }
            r.epoch = None;
            self.maybe_complete(id);
        }
        self.check_flush_waiters();
    }

    /// Marks out of sync every write of the transfer log not yet covered by a barrier ack
    /// (the peer may not have it on disk).
    pub(super) fn mark_unconfirmed_out_of_sync(&mut self) {
        let unconfirmed: Vec<(u64, u32)> = self
            .reqs
            .values()
            .filter(|r| r.kind == ReqKind::Write && r.epoch.is_some())
            .map(|r| (r.sector, r.len))
            .collect();
        for (s, l) in unconfirmed {
            self.set_oos(s, l);
        }
    }

    /// Clean the transfer log after the connection is gone: every write not covered by a
    /// barrier ack is marked out of sync; its network part is done but not OK.
    pub(super) fn tl_clear(&mut self) {
        let ids: Vec<u64> = self.reqs.keys().copied().collect();
        for id in ids {
            let r = self.reqs.get_mut(&id).expect("request exists");
            let was_replicated = r.epoch.is_some();
            if r.kind == ReqKind::Read {
                continue;
            }
            if r.net == Part::Pending {
                r.net = Part::Done(false);
            }
            if r.kind == ReqKind::Flush {
                r.replicated = false;
            }
            r.epoch = None;
            let (s, l, kind) = (r.sector, r.len, r.kind);
            if was_replicated && kind == ReqKind::Write {
                self.set_oos(s, l);
            }
            self.maybe_complete(id);
        }
        self.tl_epochs.clear();
        self.epoch_writes = 0;
        self.need_barrier = false;
        // Reads waiting for the peer fail.
        let waiting: Vec<(u64, u64)> = self.read_waiters.iter().map(|(&a, &b)| (a, b)).collect();
        self.read_waiters.clear();
        for (id, tag) in waiting {
            self.reqs.remove(&id);
            self.push(Action::Complete { tag, result: Err(IoError::Eio), replicated: false });
        }
        // The receive side forgets the old connection's epoch; its writes still complete.
        self.recv = RecvEpoch::default();
        self.recv_closed.clear();
        self.recv_queue.clear();
        self.recv_blocked = false;
        self.conflicts_clear();
        self.kick_dual();
    }
}
