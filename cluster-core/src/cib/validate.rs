//! Structural validation of a CIB, the subset of Pacemaker's schema checks that decide
//! whether an update is accepted: unique ids, constraints naming existing resources and
//! nodes, well-formed scores, known resource classes, `ocf` with a provider.
//!
//! Writers call [`validate`] on the edited tree before saving; on any error nothing is written.

use std::collections::HashMap;

use super::model::{Cib, Constraint, Resource, Rule};
use super::score::is_schema_score;
use super::xml::Element;

/// Resource classes Pacemaker knows.
pub const CLASSES: [&str; 7] = ["ocf", "lsb", "service", "systemd", "stonith", "upstart", "nagios"];

/// One validation problem, naming the element and its id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// Two elements carry the same id.
    #[error("duplicate id \"{id}\": used by <{first}> and <{second}>")]
    DuplicateId {
        /// The id.
        id: String,
        /// The first element's name.
        first: String,
        /// The second element's name.
        second: String,
    },
    /// A constraint names a resource that does not exist.
    #[error("<{element} id=\"{id}\">: {attr}=\"{rsc}\" names no resource")]
    MissingResource {
        /// Constraint element.
        element: String,
        /// Constraint id.
        id: String,
        /// Attribute (rsc, with-rsc, first, then).
        attr: String,
        /// The name given.
        rsc: String,
    },
    /// A location constraint names a node that does not exist.
    #[error("<rsc_location id=\"{id}\">: node=\"{node}\" names no configured node")]
    MissingNode {
        /// Constraint id.
        id: String,
        /// The node given.
        node: String,
    },
    /// A score is not `INFINITY`, `+INFINITY`, `-INFINITY` or an integer (the schema's rule;
    /// crmsh's `inf` forms must be converted before writing).
    #[error("<{element} id=\"{id}\">: score \"{score}\" is not an integer, INFINITY, +INFINITY or -INFINITY")]
    BadScore {
        /// Element name.
        element: String,
        /// Element id.
        id: String,
        /// The text.
        score: String,
    },
    /// Unknown resource class.
    #[error("<primitive id=\"{id}\">: unknown class \"{class}\"")]
    UnknownClass {
        /// Primitive id.
        id: String,
        /// The class given.
        class: String,
    },
    /// An attribute has a value the schema does not allow.
    #[error("<{element} id=\"{id}\">: {attr}=\"{value}\" is not one of {allowed}")]
    BadValue {
        /// Element name.
        element: String,
        /// Element id.
        id: String,
        /// The attribute.
        attr: String,
        /// The value given.
        value: String,
        /// The allowed values, comma separated.
        allowed: String,
    },
    /// A required attribute is missing.
    #[error("<{element} id=\"{id}\">: missing attribute {attr}")]
    MissingAttr {
        /// Element name.
        element: String,
        /// Element id.
        id: String,
        /// The attribute.
        attr: String,
    },
}

/// Resource references of a constraint: (attribute, value).
type Refs<'a> = Vec<(&'a str, &'a Option<String>)>;

/// Collects every problem of `root` (a `<cib>` element) that Pacemaker's schema would reject.
/// Empty means the CIB may be written. Location constraints naming nodes that are not (yet)
/// configured are accepted, as Pacemaker accepts them; [`validate_strict`] reports those too.
pub fn validate(root: &Element) -> Vec<ValidationError> {
    check(root, false)
}

/// [`validate`] plus location constraints naming nodes absent from a non-empty `nodes`
/// section (what `crm_verify` reports as warnings).
pub fn validate_strict(root: &Element) -> Vec<ValidationError> {
    check(root, true)
}

fn check(root: &Element, strict: bool) -> Vec<ValidationError> {
    let mut errs = Vec::new();
    check_ids(root, &mut errs);
    let cib = Cib::from_element(root);
    let ids: Vec<&str> = cib.all_resources().iter().map(|r| r.id()).collect();
    let have = |r: &str| ids.contains(&r);
    for r in cib.all_resources() {
        if let Resource::Primitive(p) = r {
            let miss = |attr: &str| ValidationError::MissingAttr {
                element: "primitive".into(),
                id: p.id.clone(),
                attr: attr.into(),
            };
            match p.class.as_deref() {
                None if !p.extra.iter().any(|(k, _)| k == "template") => errs.push(miss("class")),
                Some(c) if !CLASSES.contains(&c) => {
                    errs.push(ValidationError::UnknownClass { id: p.id.clone(), class: c.into() })
                }
                Some("ocf") if p.provider.is_none() => errs.push(miss("provider")),
                _ => {}
            }
            if p.class.is_some() && p.agent_type.is_none() {
                errs.push(miss("type"));
            }
        }
    }
    // `validate-with="none"` switches Pacemaker's schema off; the enumerations are pure schema
    // rules, while ids, references and scores are needed to make sense of the CIB at all.
    if root.attr("validate-with") != Some("none") {
        check_enums(root, &mut errs);
    }
    for c in &cib.constraints {
        let (element, refs, scores): (&str, Refs<'_>, Vec<&Option<String>>) = match c {
            Constraint::Location(l) => {
                if let Some(n) = &l.node {
                    if strict && cib.node(n).is_none() && !cib.nodes.is_empty() {
                        errs.push(ValidationError::MissingNode {
                            id: l.id.clone(),
                            node: n.clone(),
                        });
                    }
                }
                let mut sc = vec![&l.score];
                collect_rule_scores(&l.rules, &mut sc);
                ("rsc_location", vec![("rsc", &l.rsc)], sc)
            }
            Constraint::Colocation(c) => {
                ("rsc_colocation", vec![("rsc", &c.rsc), ("with-rsc", &c.with_rsc)], vec![&c.score])
            }
            Constraint::Order(o) => {
                ("rsc_order", vec![("first", &o.first), ("then", &o.then)], vec![&o.score])
            }
            Constraint::Other(_) => continue,
        };
        for (attr, r) in refs {
            if let Some(r) = r {
                if !have(r) {
                    errs.push(ValidationError::MissingResource {
                        element: element.into(),
                        id: c.id().into(),
                        attr: attr.into(),
                        rsc: r.clone(),
                    });
                }
            }
        }
        for s in scores.into_iter().flatten() {
            if !is_schema_score(s) {
                errs.push(ValidationError::BadScore {
                    element: element.into(),
                    id: c.id().into(),
                    score: s.clone(),
                });
            }
        }
    }
    errs
}

const ROLES: &[&str] = &["Started", "Stopped", "Slave", "Master", "Unpromoted", "Promoted"];
const ACTIONS: &[&str] =
    &["start", "stop", "promote", "demote", "notify", "monitor", "migrate_to", "migrate_from"];

/// Enumerated attributes the schema restricts, per element.
fn allowed(element: &str, attr: &str) -> Option<&'static [&'static str]> {
    Some(match (element, attr) {
        ("rsc_location" | "rule" | "op", "role") => ROLES,
        ("rsc_colocation", "rsc-role" | "with-rsc-role") => ROLES,
        ("rsc_order", "first-action" | "then-action") => ACTIONS,
        ("rsc_order", "kind") => &["Mandatory", "Optional", "Serialize"],
        ("rule", "boolean-op") => &["and", "or"],
        ("expression", "operation") => {
            &["lt", "gt", "lte", "gte", "eq", "ne", "defined", "not_defined"]
        }
        ("expression", "type") => &["string", "integer", "number", "version"],
        ("rsc_location", "resource-discovery") => &["always", "never", "exclusive"],
        _ => return None,
    })
}

/// Attributes the schema requires on an element of the configuration.
fn required(e: &Element) -> Vec<&'static str> {
    let has_sets = e.child("resource_set").is_some();
    let idref = e.attr("id-ref").is_some();
    match e.name.as_str() {
        _ if idref => vec![],
        "primitive" | "group" | "clone" | "master" | "bundle" | "template" | "rule" => vec!["id"],
        "instance_attributes" | "meta_attributes" | "utilization" | "cluster_property_set" => {
            vec!["id"]
        }
        "nvpair" => vec!["id", "name"],
        "op" => vec!["id", "name", "interval"],
        "node" => vec!["id", "uname"],
        "expression" => vec!["id", "attribute", "operation"],
        "date_expression" => vec!["id"],
        "rsc_location" => {
            let mut v = vec!["id"];
            if !has_sets && e.attr("rsc-pattern").is_none() {
                v.push("rsc");
            }
            if e.child("rule").is_none() && !has_sets {
                v.push("node");
                if e.attr("score-attribute").is_none() {
                    v.push("score");
                }
            }
            v
        }
        "rsc_colocation" if !has_sets => vec!["id", "rsc", "with-rsc"],
        "rsc_order" if !has_sets => vec!["id", "first", "then"],
        "rsc_colocation" | "rsc_order" | "rsc_ticket" => vec!["id"],
        _ => vec![],
    }
}

fn check_enums(root: &Element, errs: &mut Vec<ValidationError>) {
    let Some(conf) = root.child("configuration") else { return };
    conf.walk(&mut |e| {
        for attr in required(e) {
            if e.attr(attr).is_none() {
                errs.push(ValidationError::MissingAttr {
                    element: e.name.clone(),
                    id: e.id().unwrap_or("").into(),
                    attr: attr.into(),
                });
            }
        }
        if let Some(v) = e.attr("symmetrical").filter(|_| e.name == "rsc_order") {
            if !super::score::is_bool(v) {
                errs.push(ValidationError::BadValue {
                    element: e.name.clone(),
                    id: e.id().unwrap_or("").into(),
                    attr: "symmetrical".into(),
                    value: v.into(),
                    allowed: "true, false".into(),
                });
            }
        }
        for (k, v) in &e.attrs {
            if let Some(ok) = allowed(&e.name, k) {
                if !ok.contains(&v.as_str()) {
                    errs.push(ValidationError::BadValue {
                        element: e.name.clone(),
                        id: e.id().unwrap_or("").into(),
                        attr: k.clone(),
                        value: v.clone(),
                        allowed: ok.join(", "),
                    });
                }
            }
        }
    });
}

fn collect_rule_scores<'a>(rules: &'a [Rule], out: &mut Vec<&'a Option<String>>) {
    for r in rules {
        out.push(&r.score);
        collect_rule_scores(&r.rules, out);
    }
}

fn check_ids(root: &Element, errs: &mut Vec<ValidationError>) {
    let mut seen: HashMap<&str, &str> = HashMap::new();
    let Some(conf) = root.child("configuration") else { return };
    conf.walk(&mut |e| {
        // Pacemaker's schema makes ids unique across the configuration; `id-ref`
        // elements and nvpairs without ids are references, not definitions.
        if let Some(id) = e.id() {
            if let Some(first) = seen.insert(id, &e.name) {
                errs.push(ValidationError::DuplicateId {
                    id: id.into(),
                    first: first.into(),
                    second: e.name.clone(),
                });
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cib(resources: &str, constraints: &str) -> Element {
        Element::parse(&format!(
            r#"<cib epoch="1" num_updates="0" admin_epoch="0"><configuration><crm_config/>
            <nodes><node id="1" uname="n1"/></nodes><resources>{resources}</resources>
            <constraints>{constraints}</constraints></configuration><status/></cib>"#
        ))
        .unwrap()
    }

    const VIP: &str = r#"<primitive id="vip" class="ocf" provider="heartbeat" type="IPaddr2"/>"#;

    #[test]
    fn unknown_node_only_in_strict_mode() {
        let c = cib(VIP, r#"<rsc_location id="l" rsc="vip" node="later" score="5"/>"#);
        assert_eq!(validate(&c), vec![]);
        assert_eq!(validate_strict(&c).len(), 1);
    }

    #[test]
    fn good_cib_passes() {
        let c = cib(VIP, r#"<rsc_location id="l" rsc="vip" node="n1" score="-INFINITY"/>"#);
        assert_eq!(validate(&c), vec![]);
    }

    #[test]
    fn each_problem_is_named() {
        let cases = [
            (format!("{VIP}{VIP}"), "", "duplicate id \"vip\""),
            (
                VIP.into(),
                r#"<rsc_location id="l" rsc="ghost" node="n1" score="1"/>"#,
                "rsc=\"ghost\"",
            ),
            (VIP.into(), r#"<rsc_location id="l" rsc="vip" node="n9" score="1"/>"#, "node=\"n9\""),
            (
                VIP.into(),
                r#"<rsc_location id="l" rsc="vip" node="n1" score="lots"/>"#,
                "score \"lots\"",
            ),
            (
                VIP.into(),
                r#"<rsc_colocation id="c" rsc="vip" with-rsc="nope" score="INFINITY"/>"#,
                "with-rsc=\"nope\"",
            ),
            (r#"<primitive id="x" class="bogus" type="y"/>"#.into(), "", "unknown class \"bogus\""),
            (
                r#"<primitive id="x" class="ocf" type="y"/>"#.into(),
                "",
                "missing attribute provider",
            ),
        ];
        for (r, c, want) in cases {
            let errs = validate_strict(&cib(&r, c));
            assert_eq!(errs.len(), 1, "{r} {c}: {errs:?}");
            assert!(errs[0].to_string().contains(want), "{}", errs[0]);
        }
    }
}
