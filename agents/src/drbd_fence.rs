//! DRBD fence-peer / unfence-peer handlers for Pacemaker (`crm-fence-peer.9.sh` behaviour).
//!
//! `crm-fence-peer` is run by the replication engine when a Primary (or a node about to become
//! Primary) loses its peer and the peer's data is not known to be Outdated. It keeps the peer
//! from being promoted by adding a location constraint to the CIB:
//!
//! ```xml
//! <rsc_location rsc="MSRES" id="drbd-fence-by-handler-RES-MSRES">
//!   <rule role="Promoted" score="-INFINITY" id="drbd-fence-by-handler-RES-rule-MSRES">
//!     <expression attribute="#uname" operation="ne" value="THIS_NODE"
//!                 id="drbd-fence-by-handler-RES-expr-MSRES"/>
//!   </rule>
//! </rsc_location>
//! ```
//!
//! `MSRES` is the promotable clone (or legacy `<master>`) whose `ocf:linbit:drbd` or
//! `ocf:drbd-ublk:drbd` primitive has `drbd_resource=RES`. The role is spelled `Master` for CIB
//! schemas before pacemaker-3.7. `crm-unfence-peer` (run after a resync as
//! `after-resync-target`, or as `unfence-peer`) removes every such constraint of `RES`.
//!
//! The CIB is read and written through [`cluster_core::cib::store::CibSource::from_env`]
//! (`CIB_file`, `CIB_shadow`, else the live CIB file), atomically, with `epoch` bumped.
//!
//! Exit codes are DRBD's handler codes: 4 = peer outdated (constraint in place and the peer is
//! a cluster member, so Pacemaker will not promote it), 5 = peer unreachable (constraint placed
//! but the peer's state is unknown), 6 = a constraint placed by the *peer* already forbids
//! promotion here (our data is the stale one: DRBD outdates itself), 7 = the peer was fenced
//! (its node state was written by the fencer), 1 = the handler could not do its job.

use cluster_core::cib::store::{bump_epoch, CibSource};
use cluster_core::cib::xml::Element;

/// Default constraint id prefix (`--id-prefix`).
pub const DEFAULT_ID_PREFIX: &str = "drbd-fence-by-handler";

/// Handler exit codes (drbd.conf(5) `fence-peer`).
pub mod exit {
    /// The handler failed; DRBD keeps I/O frozen.
    pub const FAILED: i32 = 1;
    /// The peer's disk is Inconsistent or worse.
    pub const PEER_INCONSISTENT: i32 = 3;
    /// The peer is outdated (here: it cannot be promoted any more).
    pub const PEER_OUTDATED: i32 = 4;
    /// The peer could not be reached.
    pub const PEER_UNREACHABLE: i32 = 5;
    /// The peer is (or may become) Primary: outdate ourselves.
    pub const PEER_PRIMARY: i32 = 6;
    /// The peer was fenced (STONITH).
    pub const PEER_FENCED: i32 = 7;
}

/// Why a handler could not act.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FenceError {
    /// DRBD_RESOURCE was not given.
    #[error("no DRBD resource given (DRBD_RESOURCE is not set)")]
    NoResource,
    /// No promotable clone manages this DRBD resource.
    #[error("no promotable clone in the CIB manages drbd_resource={0}")]
    NoMaster(String),
    /// The CIB has no `configuration` element.
    #[error("the CIB has no <configuration> section")]
    NoConfiguration,
    /// Reading or writing the CIB failed.
    #[error(transparent)]
    Store(#[from] cluster_core::cib::store::StoreError),
    /// A command line option was wrong.
    #[error("{0}")]
    Usage(String),
}

/// What the fence handler is asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FenceRequest {
    /// DRBD resource name (`DRBD_RESOURCE`).
    pub resource: String,
    /// Peer node name (`DRBD_PEER`, or the first of `DRBD_PEERS`).
    pub peer: Option<String>,
    /// This node: the only one still allowed to promote.
    pub local_node: String,
    /// Constraint id prefix.
    pub id_prefix: String,
}

/// What `fence_peer` found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FenceOutcome {
    /// Handler exit code.
    pub code: i32,
    /// The CIB was changed (constraint added).
    pub changed: bool,
    /// Id of the constraint concerned.
    pub constraint_id: String,
}

fn nvpair_value<'a>(e: &'a Element, name: &str) -> Option<&'a str> {
    let mut found = None;
    e.walk(&mut |x| {
        if found.is_none() && x.name == "nvpair" && x.attr("name") == Some(name) {
            found = x.attr("value");
        }
    });
    found
}

/// The id of the promotable clone (or `<master>`) managing DRBD resource `res`.
pub fn find_master_id(cib: &Element, res: &str) -> Option<String> {
    let resources = cib.path(&["configuration", "resources"])?;
    for top in &resources.children {
        let promotable = top.name == "master"
            || (top.name == "clone"
                && top.children_named("meta_attributes").any(|m| {
                    nvpair_value(m, "promotable").is_some_and(|v| v.eq_ignore_ascii_case("true"))
                }));
        if !promotable {
            continue;
        }
        let mut hit = false;
        top.walk(&mut |x| {
            if x.name == "primitive"
                && x.attr("class") == Some("ocf")
                && x.attr("type") == Some("drbd")
                && matches!(x.attr("provider"), Some("linbit" | "drbd-ublk"))
                && x.children_named("instance_attributes")
                    .any(|ia| nvpair_value(ia, "drbd_resource") == Some(res))
            {
                hit = true;
            }
        });
        if hit {
            return top.id().map(str::to_string);
        }
    }
    None
}

/// `Promoted` for CIB schemas ≥ pacemaker-3.7 (and pacemaker-next/latest), else `Master`.
pub fn promoted_role_name(cib: &Element) -> &'static str {
    let v = cib.attr("validate-with").unwrap_or("");
    let Some(ver) = v.strip_prefix("pacemaker-") else {
        return "Promoted";
    };
    let mut it = ver.split('.').map(|x| x.parse::<u32>());
    match (it.next(), it.next()) {
        (Some(Ok(a)), Some(Ok(b))) if (a, b) < (3, 7) => "Master",
        _ => "Promoted",
    }
}

/// The constraint forbidding promotion of `master_id` anywhere but `local_node`.
pub fn fence_constraint(req: &FenceRequest, master_id: &str, role: &str) -> Element {
    let base = format!("{}-{}", req.id_prefix, req.resource);
    Element::new("rsc_location")
        .with_attr("rsc", master_id)
        .with_attr("id", &format!("{base}-{master_id}"))
        .with_child(
            Element::new("rule")
                .with_attr("role", role)
                .with_attr("score", "-INFINITY")
                .with_attr("id", &format!("{base}-rule-{master_id}"))
                .with_child(
                    Element::new("expression")
                        .with_attr("attribute", "#uname")
                        .with_attr("operation", "ne")
                        .with_attr("value", &req.local_node)
                        .with_attr("id", &format!("{base}-expr-{master_id}")),
                ),
        )
}

/// The node a fence constraint lets promote (its `#uname ne` value).
fn allowed_node(c: &Element) -> Option<String> {
    let mut v = None;
    c.walk(&mut |x| {
        if v.is_none()
            && x.name == "expression"
            && x.attr("attribute") == Some("#uname")
            && x.attr("operation") == Some("ne")
        {
            v = x.attr("value").map(str::to_string);
        }
    });
    v
}

/// The peer's state as the CIB status section shows it: exit code 4 (cluster member), 7
/// (fenced) or 5 (unknown / lost without fencing).
pub fn peer_code(cib: &Element, peer: Option<&str>) -> i32 {
    let Some(peer) = peer else {
        return exit::PEER_UNREACHABLE;
    };
    let Some(status) = cib.child("status") else {
        return exit::PEER_UNREACHABLE;
    };
    let Some(ns) = status.children_named("node_state").find(|n| n.attr("uname") == Some(peer))
    else {
        return exit::PEER_UNREACHABLE;
    };
    let in_ccm = ns.attr("in_ccm").is_some_and(|v| v != "false" && v != "0" && !v.is_empty());
    let crmd =
        ns.attr("crmd").is_some_and(|v| v == "online" || v.parse::<u64>().is_ok_and(|n| n > 0));
    if in_ccm && crmd {
        return exit::PEER_OUTDATED;
    }
    let origin = ns.attr("crm-debug-origin").unwrap_or("");
    if !in_ccm && (origin.contains("stonith") || origin.contains("fence")) {
        return exit::PEER_FENCED;
    }
    exit::PEER_UNREACHABLE
}

/// Places the fence constraint in `cib` (pure: the caller saves).
///
/// # Errors
/// No promotable clone manages the resource, or the CIB has no configuration.
pub fn fence_peer(cib: &mut Element, req: &FenceRequest) -> Result<FenceOutcome, FenceError> {
    let master = find_master_id(cib, &req.resource)
        .ok_or_else(|| FenceError::NoMaster(req.resource.clone()))?;
    let role = promoted_role_name(cib);
    let want = fence_constraint(req, &master, role);
    let id = want.id().unwrap_or_default().to_string();
    let peer = peer_code(cib, req.peer.as_deref());
    let config = cib.child_mut("configuration").ok_or(FenceError::NoConfiguration)?;
    let constraints = config.child_or_insert("constraints");
    if let Some(old) = constraints.children.iter().find(|c| c.id() == Some(id.as_str())) {
        let code = match allowed_node(old) {
            Some(n) if n == req.local_node => peer,
            // The peer fenced us first: its data wins, ours must be outdated.
            _ => exit::PEER_PRIMARY,
        };
        return Ok(FenceOutcome { code, changed: false, constraint_id: id });
    }
    constraints.children.push(want);
    bump_epoch(cib);
    Ok(FenceOutcome { code: peer, changed: true, constraint_id: id })
}

/// Removes every fence constraint of DRBD resource `res`; returns their ids.
pub fn unfence_peer(cib: &mut Element, res: &str, id_prefix: &str) -> Vec<String> {
    let prefix = format!("{id_prefix}-{res}-");
    let mut removed = Vec::new();
    if let Some(c) = cib.path_mut(&["configuration", "constraints"]) {
        c.children.retain(|x| {
            let hit = x.name == "rsc_location"
                && x.attr("rsc").is_some_and(|r| x.id() == Some(format!("{prefix}{r}").as_str()));
            if hit {
                removed.push(x.id().unwrap_or_default().to_string());
            }
            !hit
        });
    }
    if !removed.is_empty() {
        bump_epoch(cib);
    }
    removed
}

/// Handler options and environment, shared by both handlers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerArgs {
    /// DRBD resource.
    pub resource: Option<String>,
    /// Constraint id prefix.
    pub id_prefix: String,
    /// Peer node name.
    pub peer: Option<String>,
}

/// Parses `[-r|--resource RES] [-i|--id-prefix P]` (other `--long[=value]` options of the shell
/// handlers, such as `--timeout`, are accepted and ignored) and the DRBD environment.
///
/// # Errors
/// An unknown short option or a missing option value.
pub fn parse_args(
    args: &[String],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<HandlerArgs, FenceError> {
    let get = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    let mut a = HandlerArgs {
        resource: get("DRBD_RESOURCE").or_else(|| {
            get("DRBD_RESOURCES").and_then(|r| r.split_whitespace().next().map(str::to_string))
        }),
        id_prefix: DEFAULT_ID_PREFIX.to_string(),
        peer: get("DRBD_PEER").or_else(|| {
            get("DRBD_PEERS").and_then(|p| p.split_whitespace().next().map(str::to_string))
        }),
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = |n: &str| {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or_else(|| FenceError::Usage(format!("option {n} needs a value")))
        };
        match name {
            "-r" | "--resource" => a.resource = Some(value(name)?),
            "-i" | "--id-prefix" => a.id_prefix = value(name)?,
            n if n.starts_with("--") => {}
            n => return Err(FenceError::Usage(format!("unknown option '{n}'"))),
        }
    }
    Ok(a)
}

/// `crm-fence-peer` main: returns the handler exit code; messages go to `err`.
pub fn fence_main(
    args: &[String],
    env: &dyn Fn(&str) -> Option<String>,
    err: &mut dyn std::io::Write,
) -> i32 {
    let run = || -> Result<(FenceOutcome, String), FenceError> {
        let a = parse_args(args, env)?;
        let resource = a.resource.ok_or(FenceError::NoResource)?;
        let src = CibSource::from_vars(|k| env(k).filter(|v| !v.is_empty()));
        let mut cib = src.load()?;
        let req = FenceRequest {
            resource,
            peer: a.peer,
            local_node: drbd_ublk::config::local_hostname(),
            id_prefix: a.id_prefix,
        };
        let out = fence_peer(&mut cib, &req)?;
        if out.changed {
            src.save(&cib)?;
        }
        Ok((out, req.local_node))
    };
    match run() {
        Ok((o, me)) => {
            let what = match o.code {
                exit::PEER_OUTDATED => "peer is a cluster member and can no longer be promoted",
                exit::PEER_FENCED => "peer was fenced",
                exit::PEER_PRIMARY => {
                    "a constraint from the peer forbids promotion here; outdating myself"
                }
                _ => "peer state unknown (not a cluster member)",
            };
            let verb = if o.changed { "placed" } else { "already present:" };
            let _ = writeln!(
                err,
                "crm-fence-peer: {verb} constraint {} (only {me} may promote); {what}; exit {}",
                o.constraint_id, o.code
            );
            o.code
        }
        Err(e) => {
            let _ = writeln!(err, "crm-fence-peer: {e}");
            exit::FAILED
        }
    }
}

/// `crm-unfence-peer` main: removes the constraints; 0 on success (also when none existed).
pub fn unfence_main(
    args: &[String],
    env: &dyn Fn(&str) -> Option<String>,
    err: &mut dyn std::io::Write,
) -> i32 {
    let run = || -> Result<Vec<String>, FenceError> {
        let a = parse_args(args, env)?;
        let resource = a.resource.ok_or(FenceError::NoResource)?;
        let src = CibSource::from_vars(|k| env(k).filter(|v| !v.is_empty()));
        let mut cib = src.load()?;
        let removed = unfence_peer(&mut cib, &resource, &a.id_prefix);
        if !removed.is_empty() {
            src.save(&cib)?;
        }
        Ok(removed)
    };
    match run() {
        Ok(r) if r.is_empty() => {
            let _ = writeln!(err, "crm-unfence-peer: no fence constraint to remove");
            0
        }
        Ok(r) => {
            let _ = writeln!(err, "crm-unfence-peer: removed {}", r.join(" "));
            0
        }
        Err(e) => {
            let _ = writeln!(err, "crm-unfence-peer: {e}");
            1
        }
    }
}
