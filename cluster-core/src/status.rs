//! Cluster status text in crm_mon's layout (node list, resource list), shared by crm_mon and
//! crm_simulate.
//!
//! The caller builds a [`ClusterView`] (nodes with their state, resources as a tree with each
//! primitive's role, nodes and flags) and [`render`] prints it as crm_mon 2.1.5 does with
//! inactive resources shown: `* Node List:` then `* Full List of Resources:`. Anonymous
//! clone instances are summarised per role (`* Started: [ n1 n2 ]`); unique clones, failed or
//! unmanaged instances are listed one by one.

use std::fmt::Write as _;

/// How crm_mon classifies a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeStatus {
    /// Online and usable.
    Online,
    /// Cleanly offline.
    Offline,
    /// Lost without a clean shutdown (`UNCLEAN (offline)` / `UNCLEAN (online)`).
    Unclean {
        /// Whether the node is still online.
        online: bool,
    },
    /// Online in standby (`with_resources`: still running something).
    Standby {
        /// Still has active resources.
        with_resources: bool,
    },
    /// Offline with standby set.
    OfflineStandby,
    /// In maintenance.
    Maintenance,
    /// Offline with maintenance set.
    OfflineMaintenance,
    /// Joining.
    Pending,
}

/// One node line.
#[derive(Debug, Clone)]
pub struct NodeView {
    /// Node name.
    pub name: String,
    /// State.
    pub status: NodeStatus,
}

/// One primitive (or clone instance of a primitive).
#[derive(Debug, Clone, Default)]
pub struct PrimitiveView {
    /// Id as printed.
    pub id: String,
    /// `class:provider:type`.
    pub agent: String,
    /// Role word: `Started`, `Stopped`, `Promoted`, `Unpromoted`.
    pub role: String,
    /// Nodes it is active on.
    pub nodes: Vec<String>,
    /// Failed.
    pub failed: bool,
    /// Not managed.
    pub unmanaged: bool,
    /// Blocked (failed and not recoverable).
    pub blocked: bool,
    /// target-role=Stopped.
    pub disabled: bool,
    /// Failure ignored (on-fail=ignore).
    pub failure_ignored: bool,
    /// Running on an unclean node.
    pub on_unclean: bool,
    /// No longer in the configuration.
    pub orphaned: bool,
    /// Stopped, with a probe that found the agent not installed somewhere.
    pub not_installed: bool,
}

/// A resource in the status tree.
#[derive(Debug, Clone)]
pub enum RscView {
    /// A primitive.
    Primitive(PrimitiveView),
    /// A group.
    Group {
        /// Group id.
        id: String,
        /// Members.
        members: Vec<PrimitiveView>,
        /// Group flags text (e.g. `unmanaged`), if any.
        flags: Vec<String>,
    },
    /// A clone.
    Clone {
        /// Clone id.
        id: String,
        /// Child template id.
        child: String,
        /// Promotable.
        promotable: bool,
        /// Globally unique.
        unique: bool,
        /// Disabled / unmanaged flags.
        flags: Vec<String>,
        /// Instances (each one primitive or group).
        instances: Vec<RscView>,
        /// Nodes listed as Stopped candidates (allowed nodes).
        allowed: Vec<String>,
        /// target-role=Stopped.
        disabled: bool,
        /// `clone-max`: the Stopped list is shown only while fewer instances are active.
        max_instances: usize,
    },
}

/// The whole status to print.
#[derive(Debug, Clone, Default)]
pub struct ClusterView {
    /// Nodes, any order (they are sorted by name).
    pub nodes: Vec<NodeView>,
    /// Top-level resources in configuration order.
    pub resources: Vec<RscView>,
}

fn prim_line(p: &PrimitiveView, show_id: &str) -> String {
    let mut s = format!("{show_id}\t({}):\t ", p.agent);
    if p.orphaned {
        s.push_str("ORPHANED ");
    }
    if p.failed {
        s.push_str("FAILED");
        if p.role == "Promoted" || p.role == "Unpromoted" {
            s.push(' ');
            s.push_str(&p.role);
        }
    } else if p.nodes.is_empty() {
        s.push_str("Stopped");
        if p.not_installed {
            s.push_str(" (not installed)");
        }
    } else {
        s.push_str(&p.role);
    }
    if p.nodes.len() == 1 {
        s.push(' ');
        s.push_str(&p.nodes[0]);
    }
    let mut flags = Vec::new();
    if p.on_unclean {
        flags.push("UNCLEAN");
    }
    if p.disabled {
        flags.push("disabled");
    }
    if p.blocked {
        flags.push("blocked");
    } else if p.unmanaged {
        flags.push("unmanaged");
    }
    if p.failure_ignored {
        flags.push("failure ignored");
    }
    if !flags.is_empty() {
        let _ = write!(s, " ({})", flags.join(", "));
    }
    if p.nodes.len() > 1 {
        s.push_str(" [ ");
        s.push_str(&p.nodes.join(" "));
        s.push_str(" ]");
    }
    s
}

fn node_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    a.to_ascii_lowercase().cmp(&b.to_ascii_lowercase())
}

fn render_rsc(out: &mut String, r: &RscView, ind: usize) {
    let pad = " ".repeat(ind);
    match r {
        RscView::Primitive(p) => {
            let _ = writeln!(out, "{pad}* {}", prim_line(p, &p.id));
        }
        RscView::Group { id, members, flags } => {
            let f =
                if flags.is_empty() { String::new() } else { format!(" ({})", flags.join(", ")) };
            let _ = writeln!(out, "{pad}* Resource Group: {id}{f}:");
            for m in members {
                let _ = writeln!(out, "{pad}  * {}", prim_line(m, &m.id));
            }
        }
        RscView::Clone {
            id,
            child,
            promotable,
            unique,
            flags,
            instances,
            allowed,
            disabled,
            max_instances,
        } => {
            let mut f: Vec<String> = Vec::new();
            if *promotable {
                f.push("promotable".into());
            }
            if *unique {
                f.push("unique".into());
            }
            f.extend(flags.iter().cloned());
            let ft = if f.is_empty() { String::new() } else { format!(" ({})", f.join(", ")) };
            let _ = writeln!(out, "{pad}* Clone Set: {id} [{child}]{ft}:");
            let ipad = format!("{pad}  ");
            if *unique {
                for i in instances {
                    render_rsc(out, i, ind + 2);
                }
                return;
            }
            let mut by_role: Vec<(String, Vec<String>)> = Vec::new();
            let mut active_count = 0usize;
            let mut active_nodes: Vec<String> = Vec::new();
            for i in instances {
                let (summarisable, role, nodes) = match i {
                    RscView::Primitive(p) => (
                        !p.failed
                            && !p.unmanaged
                            && !p.blocked
                            && p.nodes.len() == 1
                            && !p.on_unclean
                            && !p.orphaned,
                        p.role.clone(),
                        p.nodes.clone(),
                    ),
                    RscView::Group { members, .. } => {
                        let all_same = members.iter().all(|m| {
                            m.nodes.len() == 1
                                && m.nodes == members[0].nodes
                                && m.role == members[0].role
                                && !m.failed
                                && !m.unmanaged
                        });
                        let nodes: Vec<String> =
                            members.iter().flat_map(|m| m.nodes.clone()).collect();
                        (
                            all_same && !members.is_empty(),
                            members.first().map(|m| m.role.clone()).unwrap_or_default(),
                            nodes,
                        )
                    }
                    RscView::Clone { .. } => (false, String::new(), Vec::new()),
                };
                for n in &nodes {
                    if !active_nodes.contains(n) {
                        active_nodes.push(n.clone());
                    }
                }
                if nodes.is_empty() {
                    continue;
                }
                active_count += 1;
                if summarisable {
                    if let Some(e) = by_role.iter_mut().find(|(r, _)| *r == role) {
                        e.1.push(nodes[0].clone());
                    } else {
                        by_role.push((role, vec![nodes[0].clone()]));
                    }
                } else {
                    match i {
                        RscView::Primitive(p) => {
                            let show = p.id.split(':').next().unwrap_or(&p.id).to_string();
                            let _ = writeln!(out, "{ipad}* {}", prim_line(p, &show));
                        }
                        other => render_rsc(out, other, ind + 2),
                    }
                }
            }
            for want in ["Promoted", "Unpromoted", "Started"] {
                if let Some((_, ns)) = by_role.iter_mut().find(|(r, _)| r == want) {
                    ns.sort_by(|a, b| node_cmp(a, b));
                    let _ = writeln!(out, "{ipad}* {want}: [ {} ]", ns.join(" "));
                }
            }
            let mut stopped: Vec<String> =
                allowed.iter().filter(|n| !active_nodes.contains(n)).cloned().collect();
            stopped.sort_by(|a, b| node_cmp(a, b));
            if !stopped.is_empty() && active_count < *max_instances {
                let w = if *disabled { "Stopped (disabled)" } else { "Stopped" };
                let _ = writeln!(out, "{ipad}* {w}: [ {} ]", stopped.join(" "));
            }
        }
    }
}

/// Print the node list and the full resource list.
pub fn render(view: &ClusterView) -> String {
    let mut out = String::new();
    let mut nodes = view.nodes.clone();
    nodes.sort_by(|a, b| node_cmp(&a.name, &b.name));
    out.push_str("  * Node List:\n");
    let mut online = Vec::new();
    let mut offline = Vec::new();
    for n in &nodes {
        let txt = match &n.status {
            NodeStatus::Online => {
                online.push(n.name.clone());
                continue;
            }
            NodeStatus::Offline => {
                offline.push(n.name.clone());
                continue;
            }
            NodeStatus::Unclean { online: true } => "UNCLEAN (online)",
            NodeStatus::Unclean { online: false } => "UNCLEAN (offline)",
            NodeStatus::Standby { with_resources: false } => "standby",
            NodeStatus::Standby { with_resources: true } => "standby (with active resources)",
            NodeStatus::OfflineStandby => "OFFLINE (standby)",
            NodeStatus::Maintenance => "maintenance",
            NodeStatus::OfflineMaintenance => "OFFLINE (maintenance)",
            NodeStatus::Pending => "pending",
        };
        let _ = writeln!(out, "    * Node {}: {txt}", n.name);
    }
    if !online.is_empty() {
        let _ = writeln!(out, "    * Online: [ {} ]", online.join(" "));
    }
    if !offline.is_empty() {
        let _ = writeln!(out, "    * OFFLINE: [ {} ]", offline.join(" "));
    }
    out.push('\n');
    out.push_str("  * Full List of Resources:\n");
    if view.resources.is_empty() {
        out.push_str("    * No resources\n");
    }
    for r in &view.resources {
        render_rsc(&mut out, r, 4);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primitive_and_clone_layout() {
        let v = ClusterView {
            nodes: vec![
                NodeView { name: "node2".into(), status: NodeStatus::Online },
                NodeView {
                    name: "node1".into(),
                    status: NodeStatus::Standby { with_resources: false },
                },
            ],
            resources: vec![
                RscView::Primitive(PrimitiveView {
                    id: "vip".into(),
                    agent: "ocf:heartbeat:IPaddr2".into(),
                    role: "Started".into(),
                    nodes: vec!["node2".into()],
                    ..Default::default()
                }),
                RscView::Clone {
                    id: "ms".into(),
                    child: "d".into(),
                    promotable: true,
                    unique: false,
                    flags: vec![],
                    instances: vec![RscView::Primitive(PrimitiveView {
                        id: "d:0".into(),
                        agent: "ocf:linbit:drbd".into(),
                        role: "Promoted".into(),
                        nodes: vec!["node2".into()],
                        ..Default::default()
                    })],
                    allowed: vec!["node1".into(), "node2".into()],
                    disabled: false,
                    max_instances: 2,
                },
            ],
        };
        let t = render(&v);
        assert!(t.contains("    * Node node1: standby\n    * Online: [ node2 ]\n"));
        assert!(t.contains("    * vip\t(ocf:heartbeat:IPaddr2):\t Started node2\n"));
        assert!(t.contains("    * Clone Set: ms [d] (promotable):\n      * Promoted: [ node2 ]\n      * Stopped: [ node1 ]\n"));
    }
}
