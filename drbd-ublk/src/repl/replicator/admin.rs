//! Admin commands (what `drbdsetup` asks the kernel module for).

use super::*;
use crate::meta::activity_log::extent_sectors;

impl Replicator {
    /// Attach the backing disk with its metadata. Hot activity-log extents are folded into the
    /// bitmap first (8.4 `apply-al`), then bitmap and superblock are rewritten.
    ///
    /// # Errors
    /// [`StateError::AlreadyAttached`] if a disk is attached;
    /// [`StateError::DeviceTooSmall`] if the bitmap does not cover the configured size.
    pub fn attach(&mut self, meta: AttachMeta) -> Result<(), StateError> {
        if self.disk != DiskState::Diskless {
            return Err(StateError::AlreadyAttached);
        }
        if meta.bitmap.capacity_sectors() < self.cfg.size_sectors {
            return Err(StateError::DeviceTooSmall);
        }
        self.set_disk(DiskState::Attaching);
        self.uuids = meta.uuids;
        self.flags = meta.flags;
        self.bitmap = meta.bitmap;
        let mut folded = 0;
        for &e in &meta.hot_extents {
            let r = extent_sectors(e);
            let r = r.start.min(self.cfg.size_sectors)..r.end.min(self.cfg.size_sectors);
            folded += self.bitmap.set_out_of_sync(r);
        }
        if !meta.hot_extents.is_empty() {
            self.log(format!("Marked additional {} KB as out-of-sync based on AL.", folded * 4));
        }
        self.crashed_primary = self.flags.contains(MdFlags::PRIMARY_IND);
        self.fresh_attach = true;
        self.flags.set(MdFlags::CRASHED_PRIMARY, self.crashed_primary);
        if self.flags.contains(MdFlags::FULL_SYNC) {
            self.bitmap.set_all();
        }
        let disk = match self.flags.disk_state_on_attach() {
            crate::meta::generation::AttachDiskState::Inconsistent => DiskState::Inconsistent,
            crate::meta::generation::AttachDiskState::Outdated => DiskState::Outdated,
            crate::meta::generation::AttachDiskState::Consistent => {
                // fencing dont-care (or a known-outdated peer): Consistent counts as UpToDate.
                if self.cfg.fencing == Fencing::DontCare
                    || self.flags.contains(MdFlags::PEER_OUT_DATED)
                {
                    DiskState::UpToDate
                } else {
                    DiskState::Consistent
                }
            }
        };
        if self.flags.contains(MdFlags::PEER_OUT_DATED) {
            self.peer_disk = DiskState::Outdated;
        }
        self.al = new_al(self.cfg.al_extents, meta.al_next_tr);
        // A Primary re-attaching after running diskless has stale data.
        let disk = if self.role == Role::Primary { DiskState::Inconsistent } else { disk };
        self.bitmap.mark_all_dirty();
        self.set_disk(disk);
        self.write_bitmap();
        self.sb_written_uuids = None;
        self.write_sb();
        if self.conn >= ConnState::WFReportParams {
            // Negotiate again with a disk: run the handshake on a fresh connection.
            self.drop_connection(ConnState::TearDown, true);
        }
        Ok(())
    }

    /// `detach`: drop the backing disk (metadata is written first). A Primary may detach only
    /// while connected to an UpToDate peer; it then reads and writes through the peer.
    ///
    /// # Errors
    /// [`StateError::NoLocalDisk`], [`StateError::DeviceInUse`] (requests in flight),
    /// [`StateError::ResyncRunning`], [`StateError::NoUpToDateDisk`].
    pub fn detach(&mut self) -> Result<(), StateError> {
        if !self.has_disk() {
            return Err(StateError::NoLocalDisk);
        }
        if self.requests_in_flight() > 0
            || !self.held.is_empty()
            || !self.waiting_al.is_empty()
            || !self.peer_al_wait.is_empty()
            || self.ops.values().any(|o| matches!(o, OpCtx::PeerWrite { al: true, .. }))
        {
            return Err(StateError::DeviceInUse);
        }
        if self.conn > ConnState::Connected || self.conn == ConnState::WFReportParams {
            return Err(StateError::ResyncRunning);
        }
        if self.role == Role::Primary
            && !(self.conn == ConnState::Connected && self.peer_disk == DiskState::UpToDate)
        {
            return Err(StateError::NoUpToDateDisk);
        }
        // Writes go on without this disk: on re-attach it must not count as UpToDate.
        if self.disk > DiskState::Outdated {
            self.set_disk(DiskState::Outdated);
        }
        self.write_bitmap();
        self.write_sb();
        for r in self.reqs.values_mut() {
            r.al_held = false;
        }
        self.al = new_al(self.cfg.al_extents, 0);
        self.set_disk(DiskState::Diskless);
        self.send_state();
        Ok(())
    }

    /// Start connecting (`drbdsetup connect`), optionally with `--discard-my-data`.
    ///
    /// # Errors
    /// [`StateError::AlreadyConnected`] unless StandAlone.
    pub fn connect(&mut self, discard_my_data: bool) -> Result<(), StateError> {
        if self.conn != ConnState::StandAlone {
            return Err(StateError::AlreadyConnected);
        }
        self.discard_my_data = discard_my_data;
        self.set_conn(ConnState::Unconnected);
        self.set_conn(ConnState::WFConnection);
        self.push(Action::Connect);
        Ok(())
    }

    /// Drop the connection and stay StandAlone.
    ///
    /// # Errors
    /// [`StateError::AlreadyStandAlone`].
    pub fn disconnect(&mut self) -> Result<(), StateError> {
        if self.conn == ConnState::StandAlone {
            return Err(StateError::AlreadyStandAlone);
        }
        if self.conn < ConnState::WFReportParams {
            self.set_conn(ConnState::Disconnecting);
            self.set_conn(ConnState::StandAlone);
            self.push(Action::Disconnect);
            return Ok(());
        }
        self.drop_connection(ConnState::Disconnecting, false);
        Ok(())
    }

    /// Promote (`drbdsetup primary [--force]`). While connected the peer must agree
    /// ([`Done::Pending`]).
    ///
    /// # Errors
    /// [`StateError::TwoPrimaries`], [`StateError::NoUpToDateDisk`],
    /// [`StateError::InTransientState`] (handshake or bitmap exchange running).
    pub fn primary(&mut self, force: bool) -> Result<Done, StateError> {
        if self.role == Role::Primary && (!force || self.disk == DiskState::UpToDate) {
            return Ok(Done::Now);
        }
        if self.pending_promote
            || matches!(
                self.conn,
                ConnState::WFReportParams
                    | ConnState::WFBitMapS
                    | ConnState::WFBitMapT
                    | ConnState::WFSyncUUID
                    | ConnState::StartingSyncS
                    | ConnState::StartingSyncT
            )
        {
            return Err(StateError::InTransientState);
        }
        let connected = self.conn >= ConnState::Connected;
        if connected && self.peer_role == Role::Primary && !self.cfg.allow_two_primaries {
            return Err(StateError::TwoPrimaries);
        }
        let fencing_consistent = !connected
            && self.cfg.fencing != Fencing::DontCare
            && self.disk == DiskState::Consistent;
        let good = self.disk == DiskState::UpToDate
            || fencing_consistent
            || (connected
                && self.disk == DiskState::Inconsistent
                && matches!(self.conn, ConnState::SyncTarget | ConnState::PausedSyncT)
                && self.peer_disk == DiskState::UpToDate);
        if !good && !force {
            return Err(StateError::NoUpToDateDisk);
        }
        if !self.has_disk() {
            return Err(StateError::NoLocalDisk);
        }
        if force && self.disk < DiskState::UpToDate && !self.conn.is_sync() {
            self.set_disk(DiskState::UpToDate);
            let r = self.random();
            self.uuids.promote(!connected, true, r);
            self.forced_generation = true;
            self.write_sb_gate();
            self.log(format!(
                "Forced to consider local data as UpToDate, new current UUID {:016X}",
                self.uuids.current
            ));
            if connected {
                // The handshake is not repeated on a live connection: tell the peer the new
                // identifiers (it adopts them at the end of its resync), then start the full
                // sync now.
                let p = self.report_params();
                self.send(PeerMsg::ReportParams(Box::new(p)));
                self.bitmap.set_all();
                self.send_state();
                self.set_conn(ConnState::StartingSyncS);
                self.send(PeerMsg::State {
                    role: Role::Secondary,
                    disk: self.disk,
                    conn: ConnState::StartingSyncS,
                });
                self.start_bitmap_exchange(true);
            }
        }
        if !connected
            && self.cfg.fencing != Fencing::DontCare
            && !matches!(self.peer_disk, DiskState::Outdated | DiskState::Inconsistent)
        {
            // SS_PRIMARY_NOP: the peer might have current data; fence it first.
            self.promote_after_fence = true;
            self.start_fencing();
            return Ok(Done::Pending);
        }
        if self.role == Role::Primary {
            // Already Primary: `--force` only made the data UpToDate.
            return Ok(Done::Now);
        }
        if connected {
            self.pending_promote = true;
            self.send(PeerMsg::PromoteReq);
            return Ok(Done::Pending);
        }
        self.become_primary();
        Ok(Done::Now)
    }

    /// The role change itself. A new generation starts when the data will be written without
    /// the peer: not connected, or connected to a peer without a disk (8.4 `drbd_set_role`).
    pub(super) fn become_primary(&mut self) {
        let alone = self.conn < ConnState::Connected
            || matches!(self.peer_disk, DiskState::Diskless | DiskState::Failed);
        let fresh = std::mem::take(&mut self.forced_generation);
        let bumped = alone && !fresh && self.new_generation();
        self.uuids.set_primary_bit(true);
        self.role = Role::Primary;
        self.log("role( Secondary -> Primary )".to_string());
        if bumped {
            self.log(format!("new current UUID {:016X}", self.uuids.current));
        }
        self.write_sb_gate();
        self.state_changed();
        self.send_state();
    }

    /// Start a new data generation because this node writes without its peer. Unlike 8.4 this
    /// also happens when the bitmap UUID is already set (an interrupted resync as source):
    /// otherwise a peer that completed that resync shares our current UUID and our new writes
    /// would be invisible to `uuid_compare` (the old bitmap UUID is kept in history).
    pub(super) fn new_generation(&mut self) -> bool {
        if self.uuids.bitmap != 0 {
            self.uuids.history = [self.uuids.bitmap, self.uuids.history[0]];
            self.uuids.bitmap = 0;
        }
        let r = self.random();
        self.uuids.new_current(r, false);
        true
    }

    pub(super) fn start_fencing(&mut self) {
        if self.fence_pending {
            return;
        }
        self.fence_pending = true;
        if self.cfg.fencing == Fencing::ResourceAndStonith {
            self.susp_fen = true;
            self.state_changed();
        }
        self.push(Action::CallHandler(Handler::FencePeer));
    }

    /// Exit code of the `fence-peer` handler (3: peer Inconsistent, 4: peer outdated, 5: peer
    /// unreachable, 6: peer is Primary, 7: peer was STONITHed, other: handler broken).
    /// Resumes frozen I/O unless the handler failed.
    pub fn fence_peer_result(&mut self, exit_code: i32) {
        if !self.fence_pending {
            return;
        }
        self.fence_pending = false;
        let mut ok = true;
        if self.conn >= ConnState::Connected {
            // The peer is back: its disk state is known first-hand now.
            self.log(format!("fence-peer helper returned {exit_code} after reconnect, ignored"));
            self.susp_fen = false;
            self.promote_after_fence = false;
            self.state_changed();
            self.release_held();
            return;
        }
        match exit_code {
            3 => self.set_peer(self.peer_role, DiskState::Inconsistent),
            4 | 7 => self.set_peer(self.peer_role, DiskState::Outdated),
            5 if self.disk == DiskState::UpToDate => {
                self.set_peer(self.peer_role, DiskState::Outdated)
            }
            5 => ok = false,
            6 => {
                if self.role != Role::Primary {
                    self.set_disk(DiskState::Outdated);
                }
                ok = false;
            }
            _ => {
                self.log(format!("fence-peer helper broken, returned {exit_code}"));
                return; // I/O stays frozen (resume-io would unfreeze it)
            }
        }
        self.log(format!("fence-peer helper returned {exit_code}"));
        self.write_sb();
        self.susp_fen = false;
        self.state_changed();
        if ok && self.disk == DiskState::Consistent {
            self.set_disk(DiskState::UpToDate);
        }
        if std::mem::take(&mut self.promote_after_fence) {
            if ok && self.role != Role::Primary && self.disk == DiskState::UpToDate {
                self.become_primary();
            } else {
                self.log(
                    "State change failed: (-7) Refusing to be Primary while peer is not outdated"
                        .into(),
                );
            }
        }
        self.release_held();
    }

    /// `resume-io`: unfreeze I/O frozen by fencing.
    pub fn resume_io(&mut self) {
        self.fence_pending = false;
        self.susp_fen = false;
        self.state_changed();
        self.release_held();
    }

    /// Demote (`drbdsetup secondary`).
    ///
    /// # Errors
    /// [`StateError::DeviceInUse`] while application requests are in flight.
    pub fn secondary(&mut self) -> Result<(), StateError> {
        if self.role != Role::Primary {
            return Ok(());
        }
        if self.requests_in_flight() > 0 || !self.held.is_empty() {
            return Err(StateError::DeviceInUse);
        }
        if self.replicating() {
            self.close_epoch();
        }
        self.role = Role::Secondary;
        self.uuids.set_primary_bit(false);
        self.log("role( Primary -> Secondary )".to_string());
        self.write_sb();
        self.state_changed();
        self.send_state();
        Ok(())
    }

    /// `invalidate`: this node's data becomes the target of a full sync.
    ///
    /// # Errors
    /// [`StateError::NoLocalDisk`], [`StateError::ResyncRunning`], or Primary
    /// ([`StateError::NoUpToDateDisk`]).
    pub fn invalidate(&mut self) -> Result<(), StateError> {
        if !self.has_disk() {
            return Err(StateError::NoLocalDisk);
        }
        if self.conn > ConnState::Connected {
            return Err(StateError::ResyncRunning);
        }
        if self.role == Role::Primary {
            return Err(StateError::NoUpToDateDisk);
        }
        if self.conn == ConnState::WFReportParams {
            return Err(StateError::InTransientState);
        }
        // Connected, the full sync must have an UpToDate source: refuse before touching
        // anything (the local data may be the only good copy, e.g. of a diskless peer).
        if self.conn == ConnState::Connected && self.peer_disk != DiskState::UpToDate {
            return Err(StateError::NoUpToDateDisk);
        }
        self.bitmap.set_all();
        self.write_bitmap();
        self.set_disk(DiskState::Inconsistent);
        self.write_sb();
        if self.conn == ConnState::Connected {
            self.set_conn(ConnState::StartingSyncT);
            self.send_state();
            self.peer_bitmap_done = false;
            self.set_conn(ConnState::WFBitMapT);
        }
        Ok(())
    }

    /// `invalidate-remote`: the peer becomes the target of a full sync.
    ///
    /// # Errors
    /// [`StateError::NeedConnection`], [`StateError::ResyncRunning`],
    /// [`StateError::NoUpToDateDisk`].
    pub fn invalidate_remote(&mut self) -> Result<(), StateError> {
        if self.conn < ConnState::Connected {
            return Err(StateError::NeedConnection);
        }
        if self.conn > ConnState::Connected {
            return Err(StateError::ResyncRunning);
        }
        if self.disk != DiskState::UpToDate {
            return Err(StateError::NoUpToDateDisk);
        }
        self.bitmap.set_all();
        self.set_conn(ConnState::StartingSyncS);
        self.send_state();
        self.start_bitmap_exchange(true);
        Ok(())
    }

    /// `verify [--start SECTOR]`: online verify driven by this node.
    ///
    /// # Errors
    /// [`StateError::NoVerifyAlg`], [`StateError::NeedConnection`],
    /// [`StateError::ResyncRunning`], [`StateError::NoUpToDateDisk`].
    pub fn verify(&mut self, start_sector: u64) -> Result<(), StateError> {
        if !self.cfg.verify {
            return Err(StateError::NoVerifyAlg);
        }
        if self.conn < ConnState::Connected {
            return Err(StateError::NeedConnection);
        }
        if self.conn != ConnState::Connected {
            return Err(StateError::ResyncRunning);
        }
        if self.disk != DiskState::UpToDate || self.peer_disk != DiskState::UpToDate {
            return Err(StateError::NoUpToDateDisk);
        }
        self.start_verify(start_sector.min(self.cfg.size_sectors));
        Ok(())
    }

    /// `pause-sync` / `resume-sync`.
    pub fn pause_sync(&mut self, paused: bool) {
        self.user_isp = paused;
        self.send(PeerMsg::SyncPause { paused });
        self.apply_pause();
    }

    /// `outdate`: mark the local data Outdated (only when not connected and not Primary).
    ///
    /// # Errors
    /// [`StateError::ConnectedOutdates`] when connected, [`StateError::NoLocalDisk`],
    /// [`StateError::NoUpToDateDisk`] on a Primary.
    pub fn outdate(&mut self) -> Result<(), StateError> {
        if self.conn >= ConnState::Connected {
            return Err(StateError::ConnectedOutdates);
        }
        if !self.has_disk() {
            return Err(StateError::NoLocalDisk);
        }
        if self.role == Role::Primary {
            return Err(StateError::NoUpToDateDisk);
        }
        if self.disk > DiskState::Outdated {
            self.set_disk(DiskState::Outdated);
            self.write_sb();
        }
        Ok(())
    }

    /// `new-current-uuid [--clear-bitmap]`. With `clear_bitmap` on a connected
    /// Secondary/Secondary pair of fresh metadata, both sides become UpToDate without a sync.
    ///
    /// # Errors
    /// [`StateError::NoLocalDisk`].
    pub fn new_current_uuid(&mut self, clear_bitmap: bool) -> Result<(), StateError> {
        if !self.has_disk() {
            return Err(StateError::NoLocalDisk);
        }
        let r = self.random();
        self.uuids.new_current(r, clear_bitmap);
        if clear_bitmap {
            self.bitmap.clear_all();
            self.write_bitmap();
            self.set_disk(DiskState::UpToDate);
        }
        self.write_sb_gate();
        if clear_bitmap && self.conn == ConnState::Connected {
            let mut p = self.report_params();
            p.flags.skip_initial_sync = true;
            self.send(PeerMsg::ReportParams(Box::new(p)));
            self.set_peer(self.peer_role, DiskState::UpToDate);
        }
        Ok(())
    }
}
