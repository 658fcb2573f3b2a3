//! Status texts as DRBD prints them (pure functions of [`ResourceStatus`]).
//!
//! * [`proc_drbd`]: the 8.4 `/proc/drbd` layout (user space cannot add a /proc entry, so the
//!   daemon writes it to `$RUN_DIR/proc-drbd` and `drbdadm proc` prints it).
//! * [`status9`]: `drbdadm status` in the 9.x indented layout, with `done:` during resync.
//! * [`role`], [`cstate`], [`dstate`]: the 8.4 one-line queries.
//! * [`overview_line`]: one `drbd-overview` entry (plus the progress line while syncing).
//! * [`events2_exists`], [`events2_changes`]: the `events2` dump and the change lines that
//!   follow it.

use super::status::{ResourceStatus, SyncProgress};
use crate::repl::ConnState;
use std::fmt::Write;

/// Version banner of the /proc/drbd text.
pub const PROC_VERSION: &str = "version: 8.4.11 (api:1/proto:86-101)\n\
GIT-hash: 0000000000000000000000000000000000000000 build by drbd-ublk\n";

/// `1,234,567`: thousands separated by commas, as /proc/drbd prints speeds.
pub fn commas(v: u64) -> String {
    let s = v.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn flags(st: &ResourceStatus) -> String {
    let mut f = String::with_capacity(6);
    f.push(if st.suspended { 's' } else { 'r' });
    f.push('-');
    f.push(if st.peer_isp { 'p' } else { '-' });
    f.push(if st.user_isp { 'u' } else { '-' });
    f.push('-');
    f.push('-');
    f
}

/// The two progress lines of /proc/drbd (without trailing newline on the last).
pub fn progress_lines(p: &SyncProgress) -> String {
    let res = p.permille();
    let x = (res / 50) as usize;
    let mut s = String::from("\t[");
    for _ in 1..x {
        s.push('=');
    }
    s.push('>');
    for _ in 0..20usize.saturating_sub(x) {
        s.push('.');
    }
    s.push_str("] ");
    let what = if p.verify { "verified:" } else { "sync'ed:" };
    let _ = write!(s, "{what}{:3}.{}% ", res / 10, res % 10);
    // Units: M when the total exceeds 4 GiB, as 8.4 does.
    if p.total_kib > 4 << 20 {
        let _ = write!(s, "({}/{})M", p.left_kib >> 10, p.total_kib >> 10);
    } else {
        let _ = write!(s, "({}/{})K", p.left_kib, p.total_kib);
    }
    let e = p.eta_s;
    let _ = write!(
        s,
        "\n\tfinish: {}:{:02}:{:02} speed: {} ({}) K/sec",
        e / 3600,
        (e / 60) % 60,
        e % 60,
        commas(p.speed_kib_s),
        commas(p.avg_kib_s)
    );
    s
}

/// One minor's entry of /proc/drbd.
pub fn proc_entry(st: &ResourceStatus) -> String {
    let proto = if st.cstate == ConnState::StandAlone { ' ' } else { st.protocol };
    let mut s = format!(
        "{:2}: cs:{} ro:{}/{} ds:{}/{} {} {}\n",
        st.minor,
        st.cstate.name(),
        st.role.name(),
        st.peer_role.name(),
        st.disk.name(),
        st.peer_disk.name(),
        proto,
        flags(st)
    );
    let _ = writeln!(
        s,
        "    ns:{} nr:{} dw:{} dr:{} al:{} bm:{} lo:{} pe:{} ua:{} ap:{} ep:{} wo:{} oos:{}",
        st.ns, st.nr, st.dw, st.dr, st.al, st.bm, st.lo, st.pe, st.ua, st.ap, st.ep, st.wo, st.oos
    );
    if let Some(p) = &st.sync {
        s.push_str(&progress_lines(p));
        s.push('\n');
    }
    s
}

/// The whole /proc/drbd text for the running resources (sorted by minor).
pub fn proc_drbd(list: &[ResourceStatus]) -> String {
    let mut v: Vec<&ResourceStatus> = list.iter().collect();
    v.sort_by_key(|s| s.minor);
    let mut s = String::from(PROC_VERSION);
    for st in v {
        s.push_str(&proc_entry(st));
    }
    s
}

/// 9.x connection state name for an 8.4 one.
pub fn connection9(c: ConnState) -> &'static str {
    match c {
        ConnState::WFConnection | ConnState::WFReportParams => "Connecting",
        c if c >= ConnState::Connected => "Connected",
        c => c.name(),
    }
}

/// `drbdadm status RES` (9.x layout). `verbose` adds the statistics keys.
pub fn status9(st: &ResourceStatus, verbose: bool) -> String {
    let mut s = format!("{} role:{}", st.name, st.role.name());
    if st.suspended {
        s.push_str(" suspended:user");
    }
    s.push('\n');
    let _ = write!(s, "  disk:{}", st.disk.name());
    if verbose {
        let _ = write!(
            s,
            " minor:{} size:{} read:{} written:{} al-writes:{} bm-writes:{} upper-pending:{} \
             lower-pending:{}",
            st.minor, st.size_kib, st.dr, st.dw, st.al, st.bm, st.ap, st.lo
        );
    }
    s.push('\n');
    if st.peer.is_empty() {
        return s;
    }
    let _ = write!(s, "  {}", st.peer);
    if st.cstate >= ConnState::Connected {
        let _ = writeln!(s, " role:{}", st.peer_role.name());
    } else {
        let _ = writeln!(s, " connection:{}", connection9(st.cstate));
        return s;
    }
    s.push_str("    ");
    if st.cstate > ConnState::Connected {
        let _ = write!(s, "replication:{} ", st.cstate.name());
    }
    let _ = write!(s, "peer-disk:{}", st.peer_disk.name());
    if let Some(p) = &st.sync {
        let _ = write!(s, " done:{:.2}", p.percent());
    }
    if st.user_isp || st.peer_isp {
        let _ = write!(s, " resync-suspended:{}", if st.user_isp { "user" } else { "peer" });
    }
    if verbose {
        let _ = write!(
            s,
            " received:{} sent:{} out-of-sync:{} pending:{} unacked:{}",
            st.nr, st.ns, st.oos, st.pe, st.ua
        );
    }
    s.push('\n');
    s
}

/// `drbdadm role` (8.4): `Primary/Secondary`.
pub fn role(st: &ResourceStatus) -> String {
    format!("{}/{}", st.role.name(), st.peer_role.name())
}

/// `drbdadm cstate`: `Connected`.
pub fn cstate(st: &ResourceStatus) -> String {
    st.cstate.name().to_string()
}

/// `drbdadm dstate`: `UpToDate/UpToDate`.
pub fn dstate(st: &ResourceStatus) -> String {
    format!("{}/{}", st.disk.name(), st.peer_disk.name())
}

/// `drbdadm get-gi`: `CURRENT:BITMAP:HISTORY1:HISTORY2:` then the flags consistent,
/// was-up-to-date, primary, connected, full-sync, peer-outdated, crashed-primary as 0/1 (the
/// drbdmeta 8.4 layout).
pub fn get_gi(st: &ResourceStatus) -> String {
    let u = &st.uuids;
    let f = |bit: u32| u8::from(st.md_flags & bit != 0);
    format!(
        "{:016X}:{:016X}:{:016X}:{:016X}:{}:{}:{}:{}:{}:{}:{}\n",
        u[0],
        u[1],
        u[2],
        u[3],
        f(0x001),
        f(0x010),
        f(0x002),
        f(0x004),
        f(0x008),
        f(0x020),
        f(0x040)
    )
}

/// `drbdadm show-gi`: [`get_gi`] with the meaning of each field.
pub fn show_gi(st: &ResourceStatus) -> String {
    let mut s = get_gi(st);
    s.push_str(
        "current:bitmap:history1:history2:consistent:was-up-to-date:primary:connected:\
         full-sync:peer-outdated:crashed-primary\n",
    );
    s
}

/// One `drbd-overview` entry; `usage` is what uses the device (`/mnt ext4 ...`), if known.
pub fn overview_line(st: &ResourceStatus, usage: Option<&str>) -> String {
    let mut s = format!(
        "{:>3}:{}/{}  {} {} {}",
        st.minor,
        st.name,
        st.volume,
        st.cstate.name(),
        role(st),
        dstate(st)
    );
    if let Some(u) = usage {
        s.push(' ');
        s.push_str(u);
    }
    s.push('\n');
    if let Some(p) = &st.sync {
        // The first progress line of /proc/drbd, indented as drbd-overview does.
        let first = progress_lines(p);
        let first = first.split('\n').next().unwrap_or("").trim_start_matches('\t');
        let _ = writeln!(s, "    {first}");
    }
    s
}

/// One object of the `events2` view: a resource, its connection, its device or its
/// peer-device, with the fields that name it and the fields that describe its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventObject {
    /// `resource`, `connection`, `device` or `peer-device`.
    pub kind: &'static str,
    /// The naming fields, `name:r0 peer-node-id:1 conn-name:bob volume:0`.
    pub ident: String,
    /// State fields in DRBD's order.
    pub fields: Vec<(&'static str, String)>,
}

impl EventObject {
    fn line(&self, verb: &str, only: Option<&[usize]>) -> String {
        let mut s = format!("{verb} {} {}", self.kind, self.ident);
        for (i, (k, v)) in self.fields.iter().enumerate() {
            if only.map_or(true, |o| o.contains(&i)) {
                let _ = write!(s, " {k}:{v}");
            }
        }
        s.push('\n');
        s
    }
}

/// The `events2` objects of one resource, parents first. `statistics` adds DRBD's
/// `--statistics` counters (and `done:` while a resync or verify runs).
pub fn events2_objects(st: &ResourceStatus, statistics: bool) -> Vec<EventObject> {
    use crate::repl::{DiskState, Role};
    let yn = |b: bool| if b { "yes" } else { "no" }.to_string();
    let may_promote =
        st.role != Role::Primary && st.peer_role != Role::Primary && st.disk == DiskState::UpToDate;
    let connected = st.cstate >= ConnState::Connected;
    let mut out = vec![EventObject {
        kind: "resource",
        ident: format!("name:{}", st.name),
        fields: vec![
            ("role", st.role.name().to_string()),
            ("suspended", if st.suspended { "user" } else { "no" }.to_string()),
            ("force-io-failures", yn(false)),
            ("may_promote", yn(may_promote)),
        ],
    }];
    if !st.peer.is_empty() {
        let mut fields = vec![("connection", connection9(st.cstate).to_string())];
        fields.push(("role", if connected { st.peer_role.name() } else { "Unknown" }.to_string()));
        if statistics {
            fields.push(("congested", yn(false)));
            fields.push(("ap-in-flight", st.ap.to_string()));
            fields.push(("rs-in-flight", st.pe.to_string()));
        }
        out.push(EventObject {
            kind: "connection",
            ident: format!("name:{} peer-node-id:1 conn-name:{}", st.name, st.peer),
            fields,
        });
    }
    let mut fields =
        vec![("disk", st.disk.name().to_string()), ("client", yn(st.disk == DiskState::Diskless))];
    if statistics {
        fields.extend([
            ("size", st.size_kib.to_string()),
            ("read", st.dr.to_string()),
            ("written", st.dw.to_string()),
            ("al-writes", st.al.to_string()),
            ("bm-writes", st.bm.to_string()),
            ("upper-pending", st.ap.to_string()),
            ("lower-pending", st.lo.to_string()),
        ]);
    }
    out.push(EventObject {
        kind: "device",
        ident: format!("name:{} volume:{} minor:{}", st.name, st.volume, st.minor),
        fields,
    });
    if !st.peer.is_empty() {
        let replication = match st.cstate {
            ConnState::Connected => "Established",
            c if c > ConnState::Connected => c.name(),
            _ => "Off",
        };
        let suspended = if st.user_isp {
            "user"
        } else if st.peer_isp {
            "peer"
        } else {
            "no"
        };
        let mut fields = vec![
            ("replication", replication.to_string()),
            ("peer-disk", st.peer_disk.name().to_string()),
            ("resync-suspended", suspended.to_string()),
        ];
        if statistics {
            fields.extend([
                ("received", st.nr.to_string()),
                ("sent", st.ns.to_string()),
                ("out-of-sync", st.oos.to_string()),
                ("pending", st.pe.to_string()),
                ("unacked", st.ua.to_string()),
            ]);
            if let Some(p) = &st.sync {
                fields.push(("done", format!("{:.2}", p.percent())));
            }
        }
        out.push(EventObject {
            kind: "peer-device",
            ident: format!(
                "name:{} peer-node-id:1 conn-name:{} volume:{}",
                st.name, st.peer, st.volume
            ),
            fields,
        });
    }
    out
}

/// The `events2 --now` dump of some resources: every object with `exists`, then `exists -`.
pub fn events2_exists(list: &[ResourceStatus]) -> String {
    let objs: Vec<EventObject> = list.iter().flat_map(|st| events2_objects(st, false)).collect();
    events2_dump(&objs)
}

/// The `exists` dump of `objs`, ending with `exists -`.
pub fn events2_dump(objs: &[EventObject]) -> String {
    let mut s: String = objs.iter().map(|o| o.line("exists", None)).collect();
    s.push_str("exists -\n");
    s
}

/// The `events2` lines that turn the objects `prev` into `cur`: `create` for a new object
/// (all its fields), `change` with the fields whose value changed (an object whose only
/// change is a field appearing or vanishing, such as `done:`, reports that field), and
/// `destroy` for an object that is gone (children before their parents).
pub fn events2_changes(prev: &[EventObject], cur: &[EventObject]) -> String {
    let mut s = String::new();
    for o in prev.iter().rev() {
        if !cur.iter().any(|c| c.kind == o.kind && c.ident == o.ident) {
            let _ = writeln!(s, "destroy {} {}", o.kind, o.ident);
        }
    }
    for o in cur {
        let Some(p) = prev.iter().find(|p| p.kind == o.kind && p.ident == o.ident) else {
            s.push_str(&o.line("create", None));
            continue;
        };
        let changed: Vec<usize> = o
            .fields
            .iter()
            .enumerate()
            .filter(|(_, (k, v))| !p.fields.iter().any(|(pk, pv)| pk == k && pv == v))
            .map(|(i, _)| i)
            .collect();
        if !changed.is_empty() {
            s.push_str(&o.line("change", Some(&changed)));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repl::{DiskState, Role};

    fn syncing() -> ResourceStatus {
        let mut st = ResourceStatus::new("r0", 1);
        st.peer = "bob".into();
        st.role = Role::Primary;
        st.peer_role = Role::Secondary;
        st.cstate = ConnState::SyncSource;
        st.disk = DiskState::UpToDate;
        st.peer_disk = DiskState::Inconsistent;
        st.ns = 2_097_152;
        st.dw = 1024;
        st.dr = 2_099_200;
        st.al = 3;
        st.pe = 4;
        st.ep = 1;
        st.oos = 8_388_608;
        st.sync = Some(SyncProgress {
            total_kib: 10240 << 10,
            left_kib: 8192 << 10,
            speed_kib_s: 99_864,
            avg_kib_s: 97_540,
            eta_s: 84,
            verify: false,
        });
        st
    }

    #[test]
    fn proc_drbd_golden_during_sync() {
        let want = "version: 8.4.11 (api:1/proto:86-101)\n\
GIT-hash: 0000000000000000000000000000000000000000 build by drbd-ublk\n \
1: cs:SyncSource ro:Primary/Secondary ds:UpToDate/Inconsistent C r-----\n    \
ns:2097152 nr:0 dw:1024 dr:2099200 al:3 bm:0 lo:0 pe:4 ua:0 ap:0 ep:1 wo:f oos:8388608\n\
\t[===>................] sync'ed: 20.0% (8192/10240)M\n\
\tfinish: 0:01:24 speed: 99,864 (97,540) K/sec\n";
        assert_eq!(proc_drbd(&[syncing()]), want);
    }

    #[test]
    fn proc_drbd_standalone_has_no_protocol_letter() {
        let mut st = ResourceStatus::new("r0", 0);
        st.role = Role::Primary;
        st.disk = DiskState::UpToDate;
        let e = proc_entry(&st);
        assert_eq!(
            e.lines().next().unwrap(),
            " 0: cs:StandAlone ro:Primary/Unknown ds:UpToDate/DUnknown   r-----"
        );
    }

    #[test]
    fn progress_small_total_in_k_and_bounds() {
        let p = SyncProgress { total_kib: 1000, left_kib: 0, ..Default::default() };
        assert!(progress_lines(&p).starts_with("\t[===================>] sync'ed:100.0% (0/1000)K"));
        let p = SyncProgress { total_kib: 1000, left_kib: 1000, verify: true, ..p };
        assert!(progress_lines(&p).starts_with("\t[>....................] verified:  0.0% "));
    }

    #[test]
    fn status9_golden_sync_and_standalone() {
        let want = "r0 role:Primary\n  disk:UpToDate\n  bob role:Secondary\n    \
replication:SyncSource peer-disk:Inconsistent done:20.00\n";
        assert_eq!(status9(&syncing(), false), want);
        let mut st = syncing();
        st.cstate = ConnState::WFConnection;
        st.sync = None;
        assert_eq!(
            status9(&st, false),
            "r0 role:Primary\n  disk:UpToDate\n  bob connection:Connecting\n"
        );
        st.cstate = ConnState::Connected;
        st.peer_disk = DiskState::UpToDate;
        assert_eq!(
            status9(&st, false),
            "r0 role:Primary\n  disk:UpToDate\n  bob role:Secondary\n    peer-disk:UpToDate\n"
        );
    }

    #[test]
    fn one_line_queries() {
        let st = syncing();
        assert_eq!(role(&st), "Primary/Secondary");
        assert_eq!(cstate(&st), "SyncSource");
        assert_eq!(dstate(&st), "UpToDate/Inconsistent");
    }

    #[test]
    fn overview_and_events2() {
        let st = syncing();
        assert_eq!(
            overview_line(&st, Some("/mnt ext4")),
            "  1:r0/0  SyncSource Primary/Secondary UpToDate/Inconsistent /mnt ext4\n    \
[===>................] sync'ed: 20.0% (8192/10240)M\n"
        );
        let ev = events2_exists(&[st]);
        assert_eq!(
            ev,
            "exists resource name:r0 role:Primary suspended:no force-io-failures:no may_promote:no\n\
exists connection name:r0 peer-node-id:1 conn-name:bob connection:Connected role:Secondary\n\
exists device name:r0 volume:0 minor:1 disk:UpToDate client:no\n\
exists peer-device name:r0 peer-node-id:1 conn-name:bob volume:0 replication:SyncSource \
peer-disk:Inconsistent resync-suspended:no\n\
exists -\n"
        );
    }

    #[test]
    fn events2_changes_name_only_what_changed() {
        let mut a = syncing();
        a.cstate = ConnState::WFConnection;
        a.peer_disk = DiskState::DUnknown;
        let before = events2_objects(&a, false);
        assert_eq!(events2_changes(&before, &before), "");
        let mut b = a.clone();
        b.cstate = ConnState::Connected;
        b.peer_role = Role::Secondary;
        b.peer_disk = DiskState::UpToDate;
        assert_eq!(
            events2_changes(&before, &events2_objects(&b, false)),
            "change connection name:r0 peer-node-id:1 conn-name:bob connection:Connected \
role:Secondary\n\
change peer-device name:r0 peer-node-id:1 conn-name:bob volume:0 replication:Established \
peer-disk:UpToDate\n"
        );
        // Progress appears with --statistics only, as a changed `done:`.
        let s1 = events2_objects(&syncing(), true);
        let mut later = syncing();
        later.sync.as_mut().unwrap().left_kib /= 2;
        let text = events2_changes(&s1, &events2_objects(&later, true));
        assert!(
            text.starts_with("change peer-device name:r0 peer-node-id:1 conn-name:bob volume:0")
        );
        assert!(text.contains(" done:"), "{text}");
        // Down: children destroyed before parents; up again: created parents first.
        let gone = events2_changes(&before, &[]);
        assert_eq!(
            gone,
            "destroy peer-device name:r0 peer-node-id:1 conn-name:bob volume:0\n\
destroy device name:r0 volume:0 minor:1\n\
destroy connection name:r0 peer-node-id:1 conn-name:bob\n\
destroy resource name:r0\n"
        );
        let back = events2_changes(&[], &before);
        assert!(back.starts_with("create resource name:r0 role:Primary"), "{back}");
        assert_eq!(back.lines().count(), 4);
    }

    #[test]
    fn get_gi_layout() {
        let mut st = ResourceStatus::new("r0", 0);
        st.uuids = [0x8E0E_6E82_B3A0_A6D4, 0, 0xA3B5_FE6E_3D74_D1F0, 4];
        st.md_flags = 0x001 | 0x010 | 0x004;
        assert_eq!(
            get_gi(&st),
            "8E0E6E82B3A0A6D4:0000000000000000:A3B5FE6E3D74D1F0:0000000000000004:1:1:0:1:0:0:0\n"
        );
    }

    #[test]
    fn commas_groups_thousands() {
        assert_eq!(commas(0), "0");
        assert_eq!(commas(999), "999");
        assert_eq!(commas(1000), "1,000");
        assert_eq!(commas(1_234_567), "1,234,567");
    }
}
