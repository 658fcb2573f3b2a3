//! `crm configure show`: a CIB configuration in crmsh's text layout.
//!
//! Objects come in crmsh's order: nodes (CIB order), primitives, groups, clones, ms (each
//! sorted by id), constraints (all kinds together, sorted by id), then `property`,
//! `rsc_defaults`, `op_defaults`. An object that does not fit on one line continues on
//! TAB-indented lines, each previous line ending in ` \`. `ocf:heartbeat:` agents are shown by
//! type alone; values with blanks or `/` are quoted.

use crate::cib::xml::Element;

use super::lex::quote_value;
use super::show_score;

/// Which objects `show` prints.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ShowFilter {
    /// Everything.
    #[default]
    All,
    /// The objects with these ids (node names also match nodes).
    Ids(Vec<String>),
    /// Objects of one kind: `node`, `primitive`, `group`, `clone`, `ms`, `colocation`,
    /// `order`, `location`, `property`, `rsc_defaults`, `op_defaults`.
    Type(String),
}

struct Obj<'a> {
    kind: &'static str,
    id: String,
    alias: Option<String>,
    el: &'a Element,
}

fn collect(cib: &Element) -> Vec<Obj<'_>> {
    let mut out = Vec::new();
    let Some(conf) = cib.child("configuration") else { return out };
    if let Some(nodes) = conf.child("nodes") {
        for n in nodes.children_named("node") {
            out.push(Obj {
                kind: "node",
                id: n.id().unwrap_or_default().into(),
                alias: n.attr("uname").map(str::to_string),
                el: n,
            });
        }
    }
    let mut rsc: Vec<Obj> = Vec::new();
    if let Some(res) = conf.child("resources") {
        res.walk(&mut |e| {
            let kind = match e.name.as_str() {
                "primitive" => "primitive",
                "group" => "group",
                "clone" => "clone",
                "master" => "ms",
                "bundle" => "bundle",
                _ => return,
            };
            rsc.push(Obj { kind, id: e.id().unwrap_or_default().into(), alias: None, el: e });
        });
    }
    let rank =
        |k: &str| ["primitive", "group", "clone", "ms", "bundle"].iter().position(|x| *x == k);
    rsc.sort_by(|a, b| rank(a.kind).cmp(&rank(b.kind)).then_with(|| a.id.cmp(&b.id)));
    out.extend(rsc);
    let mut cons: Vec<Obj> = Vec::new();
    if let Some(c) = conf.child("constraints") {
        for e in &c.children {
            let kind = match e.name.as_str() {
                "rsc_colocation" => "colocation",
                "rsc_order" => "order",
                "rsc_location" => "location",
                "rsc_ticket" => "rsc_ticket",
                _ => "xml",
            };
            cons.push(Obj { kind, id: e.id().unwrap_or_default().into(), alias: None, el: e });
        }
    }
    cons.sort_by(|a, b| a.id.cmp(&b.id));
    out.extend(cons);
    for (sec, kind) in [
        ("crm_config", "property"),
        ("rsc_defaults", "rsc_defaults"),
        ("op_defaults", "op_defaults"),
    ] {
        if let Some(s) = conf.child(sec) {
            for set in &s.children {
                out.push(Obj {
                    kind,
                    id: set.id().unwrap_or_default().into(),
                    alias: None,
                    el: set,
                });
            }
        }
    }
    out
}

fn wanted(o: &Obj, filter: &ShowFilter) -> bool {
    match filter {
        ShowFilter::All => true,
        ShowFilter::Ids(ids) => ids.iter().any(|i| *i == o.id || o.alias.as_deref() == Some(i)),
        ShowFilter::Type(t) => o.kind == t || (t == "master" && o.kind == "ms"),
    }
}

/// The ids `filter` names that match no object (for an error message).
pub fn missing_ids(cib: &Element, filter: &ShowFilter) -> Vec<String> {
    let ShowFilter::Ids(ids) = filter else { return vec![] };
    let objs = collect(cib);
    ids.iter()
        .filter(|i| !objs.iter().any(|o| o.id == **i || o.alias.as_deref() == Some(i.as_str())))
        .cloned()
        .collect()
}

fn pairs(set: &Element) -> Vec<String> {
    set.children
        .iter()
        .filter(|c| c.name == "nvpair")
        .map(|p| {
            format!(
                "{}={}",
                p.attr("name").unwrap_or_default(),
                quote_value(p.attr("value").unwrap_or_default())
            )
        })
        .collect()
}

fn set_line(word: &str, set: &Element) -> String {
    let mut parts = vec![word.to_string()];
    parts.extend(pairs(set));
    parts.join(" ")
}

/// The agent as crmsh shows it: `IPaddr2` for heartbeat agents, else `class:[provider:]type`.
pub fn agent_name(p: &Element) -> String {
    let class = p.attr("class").unwrap_or("ocf");
    let ty = p.attr("type").unwrap_or_default();
    match (class, p.attr("provider")) {
        ("ocf", Some("heartbeat")) => ty.to_string(),
        (c, Some(pr)) => format!("{c}:{pr}:{ty}"),
        (c, None) => format!("{c}:{ty}"),
    }
}

fn join(head: String, rest: Vec<String>) -> String {
    let mut s = head;
    for r in rest {
        s.push_str(" \\\n\t");
        s.push_str(&r);
    }
    s
}

fn attr_sets(e: &Element, rest: &mut Vec<String>) {
    for c in &e.children {
        match c.name.as_str() {
            "instance_attributes" => rest.push(set_line("params", c)),
            "meta_attributes" => rest.push(set_line("meta", c)),
            "utilization" => rest.push(set_line("utilization", c)),
            _ => {}
        }
    }
}

fn render_primitive(p: &Element) -> String {
    let mut head = format!("primitive {} {}", p.id().unwrap_or_default(), agent_name(p));
    if let Some(d) = p.attr("description") {
        head.push_str(&format!(" description={}", quote_value(d)));
    }
    let mut rest = Vec::new();
    attr_sets(p, &mut rest);
    if let Some(ops) = p.child("operations") {
        for op in ops.children_named("op") {
            let mut parts = vec![format!("op {}", op.attr("name").unwrap_or_default())];
            for (k, v) in &op.attrs {
                if k != "name" && k != "id" {
                    parts.push(format!("{k}={}", quote_value(v)));
                }
            }
            for set in &op.children {
                parts.extend(pairs(set));
            }
            rest.push(parts.join(" "));
        }
    }
    join(head, rest)
}

fn render_container(kind: &str, e: &Element) -> String {
    let kids: Vec<&str> = e
        .children
        .iter()
        .filter(|c| matches!(c.name.as_str(), "primitive" | "group"))
        .filter_map(|c| c.id())
        .collect();
    let mut head = format!("{kind} {} {}", e.id().unwrap_or_default(), kids.join(" "));
    if let Some(d) = e.attr("description") {
        head.push_str(&format!(" description={}", quote_value(d)));
    }
    let mut rest = Vec::new();
    attr_sets(e, &mut rest);
    join(head, rest)
}

fn with_suffix(rsc: Option<&str>, suffix: Option<&str>) -> String {
    match suffix {
        Some(s) => format!("{}:{s}", rsc.unwrap_or_default()),
        None => rsc.unwrap_or_default().to_string(),
    }
}

fn render_sets(e: &Element) -> String {
    let mut parts = Vec::new();
    for set in e.children_named("resource_set") {
        let refs: Vec<String> = set
            .children_named("resource_ref")
            .map(|r| with_suffix(r.id(), set.attr("role").or(set.attr("action"))))
            .collect();
        if set.attr("require-all") == Some("false") {
            parts.push(format!("[ {} ]", refs.join(" ")));
        } else if set.attr("sequential") == Some("false") {
            parts.push(format!("( {} )", refs.join(" ")));
        } else {
            parts.push(refs.join(" "));
        }
    }
    parts.join(" ")
}

fn render_rule(r: &Element) -> String {
    let mut s = String::from("rule ");
    if let Some(role) = r.attr("role") {
        s.push_str(&format!("$role={role} "));
    }
    match (r.attr("score"), r.attr("score-attribute")) {
        (Some(sc), _) => s.push_str(&format!("{}: ", show_score(sc))),
        (None, Some(a)) => s.push_str(&format!("{a}: ")),
        _ => s.push_str("0: "),
    }
    let op = r.attr("boolean-op").unwrap_or("and");
    let exprs: Vec<String> = r
        .children
        .iter()
        .map(|e| match e.name.as_str() {
            "expression" => {
                let attr = e.attr("attribute").unwrap_or_default();
                let oper = e.attr("operation").unwrap_or_default();
                if oper == "defined" || oper == "not_defined" {
                    return format!("{oper} {attr}");
                }
                let oper = match e.attr("type") {
                    Some(t) => format!("{t}:{oper}"),
                    None => oper.to_string(),
                };
                format!("{attr} {oper} {}", quote_value(e.attr("value").unwrap_or_default()))
            }
            "date_expression" => match e.attr("operation") {
                Some("lt") => format!("date lt {}", quote_value(e.attr("end").unwrap_or_default())),
                Some("gt") => {
                    format!("date gt {}", quote_value(e.attr("start").unwrap_or_default()))
                }
                _ => {
                    let mut s = String::from("date in");
                    for k in ["start", "end"] {
                        if let Some(v) = e.attr(k) {
                            s.push_str(&format!(" {k}={}", quote_value(v)));
                        }
                    }
                    s
                }
            },
            _ => format!("xml {}", e.to_compact_string()),
        })
        .collect();
    s.push_str(&exprs.join(&format!(" {op} ")));
    s
}

fn render_constraint(kind: &str, e: &Element) -> String {
    let id = e.id().unwrap_or_default();
    match kind {
        "colocation" => {
            let mut s = format!("colocation {id} {}: ", show_score(e.attr("score").unwrap_or("0")));
            if e.child("resource_set").is_some() {
                s.push_str(&render_sets(e));
            } else {
                s.push_str(&format!(
                    "{} {}",
                    with_suffix(e.attr("rsc"), e.attr("rsc-role")),
                    with_suffix(e.attr("with-rsc"), e.attr("with-rsc-role"))
                ));
            }
            if let Some(a) = e.attr("node-attribute") {
                s.push_str(&format!(" node-attribute={a}"));
            }
            s
        }
        "order" => {
            let mut s = format!("order {id} ");
            if let Some(k) = e.attr("kind") {
                s.push_str(&format!("{k}: "));
            } else if let Some(sc) = e.attr("score") {
                s.push_str(&format!("{}: ", show_score(sc)));
            }
            if e.child("resource_set").is_some() {
                s.push_str(&render_sets(e));
            } else {
                s.push_str(&format!(
                    "{} {}",
                    with_suffix(e.attr("first"), e.attr("first-action")),
                    with_suffix(e.attr("then"), e.attr("then-action"))
                ));
            }
            if let Some(v) = e.attr("symmetrical") {
                s.push_str(&format!(" symmetrical={v}"));
            }
            s
        }
        "location" => {
            let mut head = format!("location {id} {}", e.attr("rsc").unwrap_or_default());
            for k in ["role", "resource-discovery"] {
                if let Some(v) = e.attr(k) {
                    head.push_str(&format!(" {k}={v}"));
                }
            }
            if let (Some(sc), Some(n)) = (e.attr("score"), e.attr("node")) {
                return format!("{head} {}: {n}", show_score(sc));
            }
            let rules: Vec<String> = e.children_named("rule").map(render_rule).collect();
            join(head, rules)
        }
        _ => format!("xml {}", e.to_compact_string()),
    }
}

fn render_node(n: &Element) -> String {
    let id = n.id().unwrap_or_default();
    let uname = n.attr("uname").unwrap_or(id);
    let mut head =
        if id == uname { format!("node {uname}") } else { format!("node {id}: {uname}") };
    if let Some(t) = n.attr("type").filter(|t| *t != "member" && *t != "normal") {
        head.push_str(&format!(":{t}"));
    }
    let mut rest = Vec::new();
    for c in &n.children {
        match c.name.as_str() {
            "instance_attributes" => rest.push(set_line("attributes", c)),
            "utilization" => rest.push(set_line("utilization", c)),
            _ => {}
        }
    }
    join(head, rest)
}

fn render(o: &Obj) -> String {
    match o.kind {
        "node" => render_node(o.el),
        "primitive" => render_primitive(o.el),
        "group" | "clone" | "ms" => render_container(o.kind, o.el),
        "property" | "rsc_defaults" | "op_defaults" => {
            join(format!("{} {}:", o.kind, o.id), pairs(o.el))
        }
        "colocation" | "order" | "location" => render_constraint(o.kind, o.el),
        _ => format!("xml {}", o.el.to_compact_string()),
    }
}

/// The configuration (or the objects `filter` selects) in `crm configure show`'s layout, one
/// object per (continued) line, ending with a newline when not empty.
pub fn show_config(cib: &Element, filter: &ShowFilter) -> String {
    let mut out = String::new();
    for o in collect(cib).iter().filter(|o| wanted(o, filter)) {
        out.push_str(&render(o));
        out.push('\n');
    }
    out
}

/// `show xml`: the whole `<configuration>` for [`ShowFilter::All`], else each selected
/// object's XML.
pub fn show_xml(cib: &Element, filter: &ShowFilter) -> String {
    if *filter == ShowFilter::All {
        return cib.child("configuration").map(Element::to_pretty_string).unwrap_or_default();
    }
    collect(cib).iter().filter(|o| wanted(o, filter)).map(|o| o.el.to_pretty_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_cib_renders_in_crmsh_layout() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/spec/cluster-vectors/cib.xml"
        ));
        let Ok(text) = text else { return };
        let cib = Element::parse(&text).unwrap();
        let shown = show_config(&cib, &ShowFilter::All);
        let expected = "node 1: node1
node 2: node2
primitive drbd0 ocf:linbit:drbd \\
\tparams drbd_resource=r0 \\
\top monitor interval=29s role=Master \\
\top monitor interval=31s role=Slave
primitive fs Filesystem \\
\tparams device=\"/dev/drbd0\" directory=\"/srv\" fstype=ext4 \\
\top monitor interval=20s
primitive vip IPaddr2 \\
\tparams ip=10.99.0.50 cidr_netmask=24 \\
\top monitor interval=10s timeout=20s
ms ms_drbd0 drbd0 \\
\tmeta master-max=1 master-node-max=1 clone-max=2 clone-node-max=1 notify=true
order drbd_before_fs Mandatory: ms_drbd0:promote fs:start
order fs_before_vip Mandatory: fs vip
colocation fs_on_drbd inf: fs ms_drbd0:Master
location prefer_node1 vip 100: node1
colocation vip_with_fs inf: vip fs
property cib-bootstrap-options: \\
\tstonith-enabled=false \\
\tno-quorum-policy=ignore
rsc_defaults rsc-options: \\
\tresource-stickiness=100
op_defaults op-options: \\
\ttimeout=60s
";
        assert_eq!(shown, expected);
        let one = show_config(&cib, &ShowFilter::Ids(vec!["vip".into()]));
        assert!(one.starts_with("primitive vip IPaddr2"));
        assert_eq!(missing_ids(&cib, &ShowFilter::Ids(vec!["nope".into()])), ["nope"]);
    }
}
