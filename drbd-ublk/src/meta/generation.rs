//! Generation identifiers ("UUIDs"), metadata flags and the connect-time comparison.
//!
//! # Model (DRBD 8.4, two nodes)
//!
//! Every backing device stores four 64-bit identifiers ([`Uuids`]):
//!
//! * `current` names the data generation held on this disk;
//! * `bitmap` is the generation the peer had when this node started recording changes in its
//!   bitmap (non-zero only while the peer is behind or disconnected);
//! * `history[0]`, `history[1]` are older generations (8.4 keeps two; DRBD 9 keeps up to 32 —
//!   for two nodes the 8.4 shape is enough and is what we follow).
//!
//! Bit 0 of `current` is not part of the identity: it is the "this node is/was Primary" flag
//! ([`UUID_PRIMARY`]). Every comparison masks it off ([`Uuids::masked`]). The value
//! [`UUID_JUST_CREATED`] (4) marks fresh metadata, 0 means "empty".
//!
//! # Transitions
//!
//! All transitions are methods on [`Uuids`]; none of them draws randomness: the caller passes
//! the new random value in (the state machine is sans-IO). After any transition that changes
//! `current` or `bitmap` the caller must write the superblock synchronously before letting I/O
//! proceed (invariant 5 of the spec: a Primary writing without its peer has already moved to a
//! new generation on disk).
//!
//! | event | method |
//! |---|---|
//! | create-md | [`Uuids::just_created`] |
//! | promote (also `primary --force`), lose the peer while Primary | [`Uuids::promote`], [`Uuids::on_peer_lost`] |
//! | `new-current-uuid [--clear-bitmap]` | [`Uuids::new_current`] |
//! | resync start, source / target | [`Uuids::sync_source_start`], [`Uuids::sync_target_start`] |
//! | resync finished, source / target | [`Uuids::sync_source_finished`], [`Uuids::sync_target_finished`] |
//! | demote | [`Uuids::set_primary_bit`] |
//!
//! # Comparison
//!
//! [`uuid_compare`] implements 8.4's `drbd_uuid_compare` rule by rule in the same order
//! (rules 10 … 100, see the spec §2.6) for a peer speaking protocol ≥ 96 (our own link always
//! does, so the "needs protocol version X" results of 8.4 do not exist here). The result names
//! the rule that decided, the decision, and — for rules 34, 35, 51 and 71, where 8.4 repairs the
//! identifiers of a side that missed the end (or the start) of a resync — the corrected
//! identifiers the caller must adopt (its own, to be written to disk) or use for the peer.
//!
//! # Flags
//!
//! [`MdFlags`] are the `MDF_*` bits of the 8.4 superblock with the same numeric values.

use std::fmt;

/// Bit 0 of the current identifier: this node is (or was, when it crashed) Primary.
pub const UUID_PRIMARY: u64 = 1;
/// Current identifier of freshly created metadata.
pub const UUID_JUST_CREATED: u64 = 4;
/// Added to a non-trivial bitmap identifier when a resync starts on the source (8.4's
/// `UUID_NEW_BM_OFFSET`), so the target's new current is related to, but distinct from, it.
pub const UUID_NEW_BM_OFFSET: u64 = 1 << 48;

/// P_UUIDS flag bit: discard-my-data was requested on the sending node.
pub const UUID_FLAG_DISCARD_MY_DATA: u64 = 1;
/// P_UUIDS flag bit: the sending node is a crashed Primary.
pub const UUID_FLAG_CRASHED_PRIMARY: u64 = 2;
/// P_UUIDS flag bit: the sending node's disk will be Inconsistent after negotiation.
pub const UUID_FLAG_INCONSISTENT: u64 = 4;
/// P_UUIDS flag bit: skip the initial sync (`new-current-uuid --clear-bitmap`).
pub const UUID_FLAG_SKIP_INITIAL_SYNC: u64 = 8;

/// The four generation identifiers of one backing device.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Uuids {
    /// Generation of the data on this disk; bit 0 is the Primary flag.
    pub current: u64,
    /// Generation the peer had when change tracking started; 0 when not tracking.
    pub bitmap: u64,
    /// Older generations, newest first.
    pub history: [u64; 2],
}

impl fmt::Display for Uuids {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:016X}:{:016X}:{:016X}:{:016X}",
            self.current, self.bitmap, self.history[0], self.history[1]
        )
    }
}

impl Uuids {
    /// Identifiers of freshly created metadata: current = [`UUID_JUST_CREATED`], rest 0.
    pub const fn just_created() -> Self {
        Uuids { current: UUID_JUST_CREATED, bitmap: 0, history: [0, 0] }
    }

    /// Copy with bit 0 masked off every identifier (the form used in comparisons).
    pub const fn masked(&self) -> Self {
        Uuids {
            current: self.current & !UUID_PRIMARY,
            bitmap: self.bitmap & !UUID_PRIMARY,
            history: [self.history[0] & !UUID_PRIMARY, self.history[1] & !UUID_PRIMARY],
        }
    }

    /// Current identifier without the Primary bit.
    pub const fn current_masked(&self) -> u64 {
        self.current & !UUID_PRIMARY
    }

    /// True if the current identifier carries the Primary bit.
    pub const fn primary_bit(&self) -> bool {
        self.current & UUID_PRIMARY != 0
    }

    /// Set (promote) or clear (demote) bit 0 of the current identifier.
    pub fn set_primary_bit(&mut self, primary: bool) {
        if primary {
            self.current |= UUID_PRIMARY;
        } else {
            self.current &= !UUID_PRIMARY;
        }
    }

    /// Push `value` into `history[0]`, shifting `history[0]` to `history[1]`.
    fn push_history(&mut self, value: u64) {
        self.history[1] = self.history[0];
        self.history[0] = value;
    }

    /// 8.4's `drbd_uuid_set(UI_BITMAP, v)`: a non-zero old bitmap identifier goes to history.
    fn set_bitmap_rotating(&mut self, value: u64) {
        if self.bitmap != 0 {
            self.push_history(self.bitmap);
        }
        self.bitmap = value;
    }

    /// Start a new data generation (8.4 `drbd_uuid_new_current`): `bitmap ← current`,
    /// `current ← new_random` (with the Primary bit kept as it was). `new_random` must be a
    /// fresh random value; its bit 0 is ignored.
    ///
    /// With `clear_bitmap` (`new-current-uuid --clear-bitmap`, the skip-initial-sync case) the
    /// bitmap identifier is reset to 0 afterwards: the caller clears the bitmap as well and
    /// sends [`UUID_FLAG_SKIP_INITIAL_SYNC`].
    pub fn new_current(&mut self, new_random: u64, clear_bitmap: bool) {
        let primary = self.primary_bit();
        self.bitmap = self.current;
        self.current = new_random & !UUID_PRIMARY;
        self.set_primary_bit(primary);
        if clear_bitmap {
            self.bitmap = 0;
        }
    }

    /// Promotion to Primary (8.4 `drbd_set_role`). A new generation is started if the peer
    /// cannot receive our writes (`peer_unreachable`: disconnected or peer disk ≤ Failed) and we
    /// are not already tracking changes (bitmap == 0), or if the promotion is forced
    /// (`primary --force`, which also is how the initial full sync is chosen). The Primary bit
    /// is set in every case. Returns true if a new generation was started (superblock must be
    /// written before the first write).
    pub fn promote(&mut self, peer_unreachable: bool, forced: bool, new_random: u64) -> bool {
        let bump = (peer_unreachable && self.bitmap == 0) || forced;
        if bump {
            self.new_current(new_random, false);
        }
        self.set_primary_bit(true);
        bump
    }

    /// The peer was lost while this node (or the peer, writing through us) was Primary with an
    /// UpToDate disk: start a new generation unless already tracking (bitmap != 0). Returns true
    /// if a new generation was started.
    pub fn on_peer_lost(&mut self, new_random: u64) -> bool {
        if self.bitmap != 0 {
            return false;
        }
        self.new_current(new_random, false);
        true
    }

    /// Resync start on the SyncSource (8.4 `drbd_gen_and_send_sync_uuid`): the new bitmap
    /// identifier is `bitmap + UUID_NEW_BM_OFFSET` if bitmap was a real generation, else
    /// `new_random`; the old bitmap identifier goes to history. Returns the value to send to the
    /// target in P_SYNC_UUID.
    pub fn sync_source_start(&mut self, new_random: u64) -> u64 {
        let old = self.bitmap;
        let value = if old != 0 && old != UUID_JUST_CREATED {
            old.wrapping_add(UUID_NEW_BM_OFFSET)
        } else {
            new_random
        };
        self.set_bitmap_rotating(value);
        value
    }

    /// Resync start on the SyncTarget on receipt of P_SYNC_UUID: `current ← sync_uuid` (Primary
    /// bit kept), `bitmap ← 0`, history untouched.
    pub fn sync_target_start(&mut self, sync_uuid: u64) {
        let primary = self.primary_bit();
        self.current = sync_uuid & !UUID_PRIMARY;
        self.set_primary_bit(primary);
        self.bitmap = 0;
    }

    /// Successful resync end on the SyncSource: the bitmap identifier moves to history, bitmap
    /// becomes 0.
    pub fn sync_source_finished(&mut self) {
        let bm = self.bitmap;
        self.push_history(bm);
        self.bitmap = 0;
    }

    /// Successful resync end on the SyncTarget, given the source's identifiers (as last
    /// received): take the peer's bitmap and history, then `bitmap ← own old current`
    /// (rotating), `current ← peer's current` (own Primary bit kept), then bitmap → history.
    pub fn sync_target_finished(&mut self, peer: &Uuids) {
        let old_current = self.current;
        let primary = self.primary_bit();
        self.bitmap = peer.bitmap;
        self.history = peer.history;
        self.set_bitmap_rotating(old_current);
        self.current = peer.current & !UUID_PRIMARY;
        self.set_primary_bit(primary);
        self.sync_source_finished();
    }
}

/// Metadata flags of the superblock (`MDF_*` of DRBD 8.4, same bit values).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct MdFlags(pub u32);

impl MdFlags {
    /// Disk state was better than Inconsistent.
    pub const CONSISTENT: u32 = 0x001;
    /// Primary, or the peer is Primary and writes through us without a disk.
    pub const PRIMARY_IND: u32 = 0x002;
    /// Connected (connection state beyond WFReportParams).
    pub const CONNECTED_IND: u32 = 0x004;
    /// A full sync ("set all bits, write bitmap") was in progress.
    pub const FULL_SYNC: u32 = 0x008;
    /// Disk state was better than Outdated.
    pub const WAS_UP_TO_DATE: u32 = 0x010;
    /// The peer's disk is known Outdated or Inconsistent.
    pub const PEER_OUT_DATED: u32 = 0x020;
    /// This node was Primary and did not demote cleanly.
    pub const CRASHED_PRIMARY: u32 = 0x040;
    /// The activity log has no hot extents.
    pub const AL_CLEAN: u32 = 0x080;
    /// `al-updates no`: after a crash a full sync is needed.
    pub const AL_DISABLED: u32 = 0x100;
    /// Every bit defined above.
    pub const ALL: u32 = 0x1ff;

    /// True if every bit of `bits` is set.
    pub const fn contains(self, bits: u32) -> bool {
        self.0 & bits == bits
    }

    /// Set or clear `bits`.
    pub fn set(&mut self, bits: u32, on: bool) {
        if on {
            self.0 |= bits;
        } else {
            self.0 &= !bits;
        }
    }

    /// Disk state to assume on attach, from CONSISTENT and WAS_UP_TO_DATE (spec §2.3).
    pub const fn disk_state_on_attach(self) -> AttachDiskState {
        if self.0 & Self::CONSISTENT == 0 {
            AttachDiskState::Inconsistent
        } else if self.0 & Self::WAS_UP_TO_DATE != 0 {
            AttachDiskState::Consistent
        } else {
            AttachDiskState::Outdated
        }
    }
}

/// Local disk state derived from the superblock flags when attaching.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttachDiskState {
    /// CONSISTENT and WAS_UP_TO_DATE: `Consistent` (becomes UpToDate if the peer is known
    /// Outdated or fencing is dont-care).
    Consistent,
    /// CONSISTENT only.
    Outdated,
    /// Neither.
    Inconsistent,
}

/// One side of a comparison: identifiers plus the facts `uuid_compare` needs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CompareSide {
    /// The side's generation identifiers (unmasked; masking is done here).
    pub uuids: Uuids,
    /// The side is a crashed Primary (local: [`MdFlags::CRASHED_PRIMARY`]; peer:
    /// [`UUID_FLAG_CRASHED_PRIMARY`] in P_UUIDS).
    pub crashed_primary: bool,
    /// The side's role is Primary right now.
    pub is_primary: bool,
}

/// Outcome of [`uuid_compare`] (8.4's `hg` value in a typed form).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncDecision {
    /// hg = 0: no resync needed.
    NoSync,
    /// hg = +1 / +2: this node becomes SyncSource; `full` for a full sync.
    Source {
        /// Full sync (all bits set) instead of bitmap-based.
        full: bool,
    },
    /// hg = −1 / −2: this node becomes SyncTarget; `full` for a full sync.
    Target {
        /// Full sync (all bits set) instead of bitmap-based.
        full: bool,
    },
    /// hg = +100: split brain from a common base (both diverged after the same bitmap
    /// identifier); the after-sb-* policies may resolve it automatically.
    SplitBrainAutoRecoverable,
    /// hg = −100: split brain that is too ambiguous for automatic recovery (unless
    /// `always-asbp`): only discard-my-data resolves it.
    SplitBrainManual,
    /// hg = −1000: the data sets are unrelated; the connection must be dropped.
    Unrelated,
}

impl SyncDecision {
    /// DRBD 8.4's numeric `hg` value of this decision.
    pub const fn hg(self) -> i32 {
        match self {
            SyncDecision::NoSync => 0,
            SyncDecision::Source { full: false } => 1,
            SyncDecision::Source { full: true } => 2,
            SyncDecision::Target { full: false } => -1,
            SyncDecision::Target { full: true } => -2,
            SyncDecision::SplitBrainAutoRecoverable => 100,
            SyncDecision::SplitBrainManual => -100,
            SyncDecision::Unrelated => -1000,
        }
    }

    /// True for either split-brain result.
    pub const fn is_split_brain(self) -> bool {
        matches!(self, SyncDecision::SplitBrainAutoRecoverable | SyncDecision::SplitBrainManual)
    }
}

/// Full result of [`uuid_compare`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Comparison {
    /// What to do.
    pub decision: SyncDecision,
    /// The 8.4 rule number that decided (10, 20, 30, 34 … 37, 40, 41, 50, 51, 60, 70, 71, 80,
    /// 90, 100; 110 = none matched), for the log line "uuid_compare()=… by rule …".
    pub rule: u32,
    /// Rules 34 and 71: corrected own identifiers; the caller must adopt them and write the
    /// superblock.
    pub fix_self: Option<Uuids>,
    /// Rules 35 and 51: corrected view of the peer's identifiers (the peer repairs its own
    /// copy when it runs the mirror rule).
    pub fix_peer: Option<Uuids>,
}

impl Comparison {
    fn new(decision: SyncDecision, rule: u32) -> Self {
        Comparison { decision, rule, fix_self: None, fix_peer: None }
    }
}

/// Decide at connect time who syncs from whom, following DRBD 8.4's rule order exactly
/// (spec §2.6). `resolve_conflicts` is the deterministic per-connection tie-break bit
/// (RESOLVE_CONFLICTS: set on exactly one of the two nodes); it only matters in rule 40 when
/// both sides are crashed Primaries and both are Secondary now: the node with the bit set
/// becomes SyncTarget.
pub fn uuid_compare(me: &CompareSide, peer: &CompareSide, resolve_conflicts: bool) -> Comparison {
    use SyncDecision::*;
    let s = me.uuids.masked();
    let p = peer.uuids.masked();

    if s.current == UUID_JUST_CREATED && p.current == UUID_JUST_CREATED {
        return Comparison::new(NoSync, 10);
    }
    if (s.current == UUID_JUST_CREATED || s.current == 0) && p.current != UUID_JUST_CREATED {
        return Comparison::new(Target { full: true }, 20);
    }
    if s.current != UUID_JUST_CREATED && (p.current == UUID_JUST_CREATED || p.current == 0) {
        return Comparison::new(Source { full: true }, 30);
    }

    if s.current == p.current {
        return compare_equal_currents(me, peer, &s, &p, resolve_conflicts);
    }

    if s.current == p.bitmap {
        return Comparison::new(Target { full: false }, 50);
    }
    if s.current == p.history[0] && p.history[0].wrapping_add(UUID_NEW_BM_OFFSET) == p.bitmap {
        // The peer started a resync as source, but its P_SYNC_UUID never reached us: undo the
        // peer's start-of-resync rotation.
        let mut fixed = peer.uuids;
        fixed.bitmap = fixed.history[0];
        fixed.history[0] = fixed.history[1];
        return Comparison { fix_peer: Some(fixed), ..Comparison::new(Target { full: false }, 51) };
    }
    if p.history.contains(&s.current) {
        return Comparison::new(Target { full: true }, 60);
    }
    if s.bitmap == p.current {
        return Comparison::new(Source { full: false }, 70);
    }
    if s.history[0] == p.current && s.history[0].wrapping_add(UUID_NEW_BM_OFFSET) == s.bitmap {
        // Mirror of rule 51 for our own identifiers.
        let mut fixed = me.uuids;
        fixed.bitmap = fixed.history[0];
        fixed.history[0] = fixed.history[1];
        return Comparison { fix_self: Some(fixed), ..Comparison::new(Source { full: false }, 71) };
    }
    if s.history.contains(&p.current) {
        return Comparison::new(Source { full: true }, 80);
    }
    if s.bitmap == p.bitmap && s.bitmap != 0 {
        return Comparison::new(SplitBrainAutoRecoverable, 90);
    }
    // 8.4 compares all history entries pairwise, zeros included (empty history on both sides
    // therefore reports split brain rather than unrelated data).
    if s.history.iter().any(|h| p.history.contains(h)) {
        return Comparison::new(SplitBrainManual, 100);
    }
    Comparison::new(Unrelated, 110)
}

/// Rules 34–41: both current identifiers are equal.
fn compare_equal_currents(
    me: &CompareSide,
    peer: &CompareSide,
    s: &Uuids,
    p: &Uuids,
    resolve_conflicts: bool,
) -> Comparison {
    use SyncDecision::*;
    if p.bitmap == 0 && s.bitmap != 0 {
        if s.bitmap == p.history[0] && s.history[0] == p.history[1] {
            // We were SyncSource and missed the "resync finished" event: finish it now.
            let mut fixed = me.uuids;
            fixed.sync_source_finished();
            return Comparison {
                fix_self: Some(fixed),
                ..Comparison::new(Source { full: false }, 34)
            };
        }
        return Comparison::new(Source { full: false }, 36);
    }
    if s.bitmap == 0 && p.bitmap != 0 {
        if s.history[0] == p.bitmap && s.history[1] == p.history[0] {
            let mut fixed = peer.uuids;
            fixed.sync_source_finished();
            return Comparison {
                fix_peer: Some(fixed),
                ..Comparison::new(Target { full: false }, 35)
            };
        }
        return Comparison::new(Target { full: false }, 37);
    }
    if !me.crashed_primary && !peer.crashed_primary {
        return Comparison::new(NoSync, 40);
    }
    if me.is_primary || peer.is_primary {
        let d = match (me.is_primary, peer.is_primary) {
            (true, true) => SplitBrainManual,
            (true, false) => Source { full: false },
            _ => Target { full: false },
        };
        return Comparison::new(d, 41);
    }
    let d = match (me.crashed_primary, peer.crashed_primary) {
        (true, false) => Source { full: false },
        (false, true) => Target { full: false },
        _ if resolve_conflicts => Target { full: false },
        _ => Source { full: false },
    };
    Comparison::new(d, 40)
}

#[cfg(test)]
mod tests {
    use super::*;
    use SyncDecision::*;

    const A: u64 = 0xA000_0000_0000_00A0;
    const B: u64 = 0xB000_0000_0000_00B0;
    const C: u64 = 0xC000_0000_0000_00C0;
    const D: u64 = 0xD000_0000_0000_00D0;
    const E: u64 = 0xE000_0000_0000_00E0;
    const F: u64 = 0xF000_0000_0000_00F0;

    fn u(current: u64, bitmap: u64, h0: u64, h1: u64) -> Uuids {
        Uuids { current, bitmap, history: [h0, h1] }
    }
    fn side(uuids: Uuids) -> CompareSide {
        CompareSide { uuids, crashed_primary: false, is_primary: false }
    }

    struct Case {
        name: &'static str,
        me: CompareSide,
        peer: CompareSide,
        rc: bool,
        decision: SyncDecision,
        rule: u32,
    }

    fn cases() -> Vec<Case> {
        let jc = Uuids::just_created();
        let crashed = |x: Uuids, prim: bool| CompareSide {
            uuids: x,
            crashed_primary: true,
            is_primary: prim,
        };
        let primary = |x: Uuids| CompareSide { uuids: x, crashed_primary: false, is_primary: true };
        vec![
            Case {
                name: "both just created",
                me: side(jc),
                peer: side(jc),
                rc: false,
                decision: NoSync,
                rule: 10,
            },
            Case {
                name: "me just created",
                me: side(jc),
                peer: side(u(A, 0, 0, 0)),
                rc: false,
                decision: Target { full: true },
                rule: 20,
            },
            Case {
                name: "me empty",
                me: side(u(0, 0, 0, 0)),
                peer: side(u(A, 0, 0, 0)),
                rc: false,
                decision: Target { full: true },
                rule: 20,
            },
            Case {
                name: "peer just created",
                me: side(u(A | 1, 0, 0, 0)),
                peer: side(jc),
                rc: false,
                decision: Source { full: true },
                rule: 30,
            },
            Case {
                name: "peer empty",
                me: side(u(A, 0, 0, 0)),
                peer: side(u(0, 0, 0, 0)),
                rc: false,
                decision: Source { full: true },
                rule: 30,
            },
            Case {
                name: "source missed finish",
                me: side(u(A, B, C, D)),
                peer: side(u(A, 0, B, C)),
                rc: false,
                decision: Source { full: false },
                rule: 34,
            },
            Case {
                name: "peer missed finish",
                me: side(u(A, 0, B, C)),
                peer: side(u(A, B, C, D)),
                rc: false,
                decision: Target { full: false },
                rule: 35,
            },
            Case {
                name: "source, peer failed sync uuid",
                me: side(u(A, B, E, 0)),
                peer: side(u(A, 0, C, D)),
                rc: false,
                decision: Source { full: false },
                rule: 36,
            },
            Case {
                name: "target failed sync uuid",
                me: side(u(A, 0, C, D)),
                peer: side(u(A, B, E, 0)),
                rc: false,
                decision: Target { full: false },
                rule: 37,
            },
            Case {
                name: "equal, nobody crashed",
                me: side(u(A | 1, 0, B, 0)),
                peer: side(u(A, 0, B, 0)),
                rc: false,
                decision: NoSync,
                rule: 40,
            },
            Case {
                name: "equal, I crashed",
                me: crashed(u(A, 0, 0, 0), false),
                peer: side(u(A, 0, 0, 0)),
                rc: false,
                decision: Source { full: false },
                rule: 40,
            },
            Case {
                name: "equal, peer crashed",
                me: side(u(A, 0, 0, 0)),
                peer: crashed(u(A, 0, 0, 0), false),
                rc: false,
                decision: Target { full: false },
                rule: 40,
            },
            Case {
                name: "equal, both crashed, rc set",
                me: crashed(u(A, 0, 0, 0), false),
                peer: crashed(u(A, 0, 0, 0), false),
                rc: true,
                decision: Target { full: false },
                rule: 40,
            },
            Case {
                name: "equal, both crashed, rc clear",
                me: crashed(u(A, 0, 0, 0), false),
                peer: crashed(u(A, 0, 0, 0), false),
                rc: false,
                decision: Source { full: false },
                rule: 40,
            },
            Case {
                name: "equal, crashed, I am primary",
                me: primary(u(A, 0, 0, 0)),
                peer: crashed(u(A, 0, 0, 0), false),
                rc: false,
                decision: Source { full: false },
                rule: 41,
            },
            Case {
                name: "equal, crashed, peer primary",
                me: crashed(u(A, 0, 0, 0), false),
                peer: primary(u(A, 0, 0, 0)),
                rc: false,
                decision: Target { full: false },
                rule: 41,
            },
            Case {
                name: "equal, crashed, both primary",
                me: crashed(u(A, 0, 0, 0), true),
                peer: primary(u(A, 0, 0, 0)),
                rc: false,
                decision: SplitBrainManual,
                rule: 41,
            },
            Case {
                name: "peer has changes since my gen",
                me: side(u(A, 0, C, 0)),
                peer: side(u(B | 1, A, C, 0)),
                rc: false,
                decision: Target { full: false },
                rule: 50,
            },
            Case {
                name: "lost sync uuid, peer side",
                me: side(u(A, 0, C, 0)),
                peer: side(u(B, A + UUID_NEW_BM_OFFSET, A, D)),
                rc: false,
                decision: Target { full: false },
                rule: 51,
            },
            Case {
                name: "peer far ahead",
                me: side(u(A, 0, 0, 0)),
                peer: side(u(C, B, A, 0)),
                rc: false,
                decision: Target { full: true },
                rule: 60,
            },
            Case {
                name: "I have changes since peer's gen",
                me: side(u(B, A, C, 0)),
                peer: side(u(A, 0, C, 0)),
                rc: false,
                decision: Source { full: false },
                rule: 70,
            },
            Case {
                name: "lost sync uuid, my side",
                me: side(u(B, A + UUID_NEW_BM_OFFSET, A, D)),
                peer: side(u(A, 0, C, 0)),
                rc: false,
                decision: Source { full: false },
                rule: 71,
            },
            Case {
                name: "I am far ahead",
                me: side(u(C, B, A, 0)),
                peer: side(u(A, 0, 0, 0)),
                rc: false,
                decision: Source { full: true },
                rule: 80,
            },
            Case {
                name: "split brain from common base",
                me: side(u(B, A, C, 0)),
                peer: side(u(D, A, C, 0)),
                rc: false,
                decision: SplitBrainAutoRecoverable,
                rule: 90,
            },
            Case {
                name: "split brain, shared history",
                me: side(u(B, E, C, 0)),
                peer: side(u(D, F, A, C)),
                rc: false,
                decision: SplitBrainManual,
                rule: 100,
            },
            Case {
                name: "unrelated",
                me: side(u(B, E, C, D)),
                peer: side(u(A, F, 0x10, 0x20)),
                rc: false,
                decision: Unrelated,
                rule: 110,
            },
        ]
    }

    #[test]
    fn every_rule_table() {
        for c in cases() {
            let r = uuid_compare(&c.me, &c.peer, c.rc);
            assert_eq!((r.decision, r.rule), (c.decision, c.rule), "case {:?}", c.name);
        }
    }

    #[test]
    fn mirrored_cases_give_mirrored_decisions() {
        for c in cases() {
            let a = uuid_compare(&c.me, &c.peer, c.rc);
            let b = uuid_compare(&c.peer, &c.me, !c.rc);
            let expect = match a.decision.hg() {
                100 | -100 | -1000 => a.decision.hg(),
                hg => -hg,
            };
            assert_eq!(b.decision.hg(), expect, "case {:?}: {a:?} vs {b:?}", c.name);
        }
    }

    #[test]
    fn fixups_of_rules_34_35_51_71() {
        let r = uuid_compare(&side(u(A, B, C, D)), &side(u(A, 0, B, C)), false);
        assert_eq!(r.fix_self, Some(u(A, 0, B, C)));
        let r = uuid_compare(&side(u(A, 0, B, C)), &side(u(A, B, C, D)), false);
        assert_eq!(r.fix_peer, Some(u(A, 0, B, C)));
        let r =
            uuid_compare(&side(u(A, 0, C, 0)), &side(u(B, A + UUID_NEW_BM_OFFSET, A, D)), false);
        assert_eq!(r.fix_peer, Some(u(B, A, D, D)));
        let r =
            uuid_compare(&side(u(B, A + UUID_NEW_BM_OFFSET, A, D)), &side(u(A, 0, C, 0)), false);
        assert_eq!(r.fix_self, Some(u(B, A, D, D)));
        // After the fix, comparing again gives the plain rules 70 / 50.
        let again = uuid_compare(&side(r.fix_self.unwrap()), &side(u(A, 0, C, 0)), false);
        assert_eq!(again.rule, 70);
    }

    #[test]
    fn primary_bit_is_ignored_in_comparisons() {
        let r = uuid_compare(&side(u(B | 1, A | 1, C, 0)), &side(u(A, 0, C | 1, 0)), false);
        assert_eq!((r.decision, r.rule), (Source { full: false }, 70));
    }

    /// Walk a whole life cycle through the transitions and check the comparisons at each point.
    #[test]
    fn lifecycle_initial_sync_disconnect_resync() {
        let mut a = Uuids::just_created();
        let mut b = Uuids::just_created();
        assert_eq!(uuid_compare(&side(a), &side(b), false).rule, 10);
        // primary --force on A while connected: full sync A → B.
        assert!(a.promote(false, true, 0x1111_0000_0000_0000));
        assert!(a.primary_bit());
        assert_eq!(a.bitmap, UUID_JUST_CREATED);
        let r = uuid_compare(&side(a), &side(b), false);
        assert_eq!((r.decision, r.rule), (Source { full: true }, 30));
        let sync = a.sync_source_start(0x2222_0000_0000_0000);
        assert_eq!(sync, 0x2222_0000_0000_0000, "bitmap JUST_CREATED gets a random value");
        b.sync_target_start(sync);
        assert_eq!(b.bitmap, 0);
        a.sync_source_finished();
        b.sync_target_finished(&a);
        assert_eq!(a.current_masked(), b.current_masked());
        assert_eq!((a.bitmap, b.bitmap), (0, 0));
        assert_eq!(uuid_compare(&side(a), &side(b), false).decision, NoSync);

        // B disconnects; A (Primary) loses the peer and starts a new generation.
        let before = a;
        assert!(a.on_peer_lost(0x3333_0000_0000_0000));
        assert!(!a.on_peer_lost(0x4444_0000_0000_0000), "second loss keeps tracking");
        assert_eq!(a.bitmap, before.current);
        let r = uuid_compare(&side(a), &side(b), false);
        assert_eq!((r.decision, r.rule), (Source { full: false }, 70));
        let r = uuid_compare(&side(b), &side(a), false);
        assert_eq!((r.decision, r.rule), (Target { full: false }, 50));
        // Bitmap resync: sync uuid derived from the bitmap identifier.
        let sync = a.sync_source_start(0xdead);
        assert_eq!(sync, before.current.wrapping_add(UUID_NEW_BM_OFFSET));
        assert_eq!(a.history[0], before.current);
        b.sync_target_start(sync);
        a.sync_source_finished();
        b.sync_target_finished(&a);
        assert_eq!(a.masked().current, b.masked().current);
        assert_eq!(uuid_compare(&side(a), &side(b), false).decision, NoSync);

        // Both promote while disconnected: split brain from a common base.
        let mut a2 = a;
        let mut b2 = b;
        a2.set_primary_bit(false);
        assert!(a2.promote(true, false, 0x5555_0000_0000_0000));
        assert!(b2.promote(true, false, 0x6666_0000_0000_0000));
        let r = uuid_compare(&side(a2), &side(b2), false);
        assert_eq!((r.decision, r.rule), (SplitBrainAutoRecoverable, 90));
    }

    #[test]
    fn new_current_clear_bitmap() {
        let mut a = Uuids::just_created();
        a.new_current(0x7777_0000_0000_0001, true);
        assert_eq!(a, u(0x7777_0000_0000_0000, 0, 0, 0));
        let mut b = Uuids { current: A | 1, ..Default::default() };
        b.new_current(B, false);
        assert_eq!(b, u(B | 1, A | 1, 0, 0));
    }

    #[test]
    fn promote_without_bump_when_connected() {
        let mut a = u(A, 0, B, 0);
        assert!(!a.promote(false, false, C));
        assert_eq!(a, u(A | 1, 0, B, 0));
        let mut t = u(A, B, 0, 0);
        assert!(!t.promote(true, false, C), "already tracking changes");
    }

    #[test]
    fn flags_attach_state() {
        let f = MdFlags(MdFlags::CONSISTENT | MdFlags::WAS_UP_TO_DATE);
        assert_eq!(f.disk_state_on_attach(), AttachDiskState::Consistent);
        assert_eq!(MdFlags(MdFlags::CONSISTENT).disk_state_on_attach(), AttachDiskState::Outdated);
        assert_eq!(MdFlags(0).disk_state_on_attach(), AttachDiskState::Inconsistent);
        let mut g = MdFlags::default();
        g.set(MdFlags::CRASHED_PRIMARY | MdFlags::AL_CLEAN, true);
        assert!(g.contains(MdFlags::CRASHED_PRIMARY));
        g.set(MdFlags::AL_CLEAN, false);
        assert_eq!(g.0, 0x40);
        assert_eq!(MdFlags::ALL, 0x1ff);
    }
}
