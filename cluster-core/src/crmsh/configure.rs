//! The `crm configure` verbs: words in, CIB XML out.
//!
//! [`parse_configure`] turns the words of one command into a [`ConfigCommand`] without looking
//! at any CIB; [`apply`] checks it against a CIB (ids unused, referenced resources present)
//! and changes the tree. `apply` validates everything before it touches the tree, so an error
//! leaves the tree untouched.
//!
//! Generated ids follow crmsh: `RES-instance_attributes` / `RES-instance_attributes-NAME`,
//! `RES-meta_attributes-NAME`, `RES-utilization-NAME`, `RES-OP-INTERVAL` for operations,
//! `SET-NAME` for property / default sets, `LOC-rule` / `LOC-rule-expression` for rules; a
//! clash gets `-0`, `-1`, ... appended.

use crate::cib::xml::Element;

use super::{parse_role, parse_score, suggest, valid_id, CrmError};

/// Which nvpair section a `property` / `rsc_defaults` / `op_defaults` command writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultsSection {
    /// `property`: `crm_config/cluster_property_set`.
    Property,
    /// `rsc_defaults`: `rsc_defaults/meta_attributes`.
    RscDefaults,
    /// `op_defaults`: `op_defaults/meta_attributes`.
    OpDefaults,
}

impl DefaultsSection {
    /// The verb, which is also the configuration section (`crm_config` for properties).
    pub fn verb(self) -> &'static str {
        match self {
            DefaultsSection::Property => "property",
            DefaultsSection::RscDefaults => "rsc_defaults",
            DefaultsSection::OpDefaults => "op_defaults",
        }
    }
    /// The `configuration` child holding the sets.
    pub fn section(self) -> &'static str {
        match self {
            DefaultsSection::Property => "crm_config",
            DefaultsSection::RscDefaults => "rsc_defaults",
            DefaultsSection::OpDefaults => "op_defaults",
        }
    }
    /// The set element's name.
    pub fn set_element(self) -> &'static str {
        match self {
            DefaultsSection::Property => "cluster_property_set",
            _ => "meta_attributes",
        }
    }
    /// The set id used when none is given.
    pub fn default_set_id(self) -> &'static str {
        match self {
            DefaultsSection::Property => "cib-bootstrap-options",
            DefaultsSection::RscDefaults => "rsc-options",
            DefaultsSection::OpDefaults => "op-options",
        }
    }
}

/// One parsed configure command.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigCommand {
    /// `primitive`: the new `<primitive>` element.
    Primitive(Element),
    /// `group` / `clone` / `ms`: the new container (without children) and the ids of the
    /// existing resources it takes in, in order.
    Container {
        /// `<group>`, `<clone>` or `<master>` with its attribute sets.
        element: Element,
        /// The resources moved into it.
        children: Vec<String>,
    },
    /// `colocation` / `order` / `location`: the new constraint element.
    Constraint(Element),
    /// `property` / `rsc_defaults` / `op_defaults`.
    Defaults {
        /// Which section.
        section: DefaultsSection,
        /// The set id.
        set_id: String,
        /// Name/value pairs, in order.
        pairs: Vec<(String, String)>,
    },
    /// `node [ID:] UNAME [attributes ...] [utilization ...]`.
    Node {
        /// Node id (defaults to the name).
        id: String,
        /// Node name.
        uname: String,
        /// `member` / `remote`, when given.
        node_type: Option<String>,
        /// Permanent node attributes.
        attributes: Vec<(String, String)>,
        /// Utilization attributes.
        utilization: Vec<(String, String)>,
    },
    /// `delete ID...`.
    Delete(Vec<String>),
    /// `monitor RSC[:ROLE] INTERVAL[:TIMEOUT]`: the op element to add to the primitive.
    Monitor {
        /// The primitive.
        rsc: String,
        /// The `<op>` (its id already `RSC-monitor-INTERVAL`).
        op: Element,
    },
    /// `show [xml] [ID...|changed|type:T]`.
    Show {
        /// `show xml`.
        xml: bool,
        /// Which objects.
        filter: super::ShowFilter,
    },
}

/// The configure verbs this module parses (the shell handles commit, verify, ... itself).
pub const VERBS: &[&str] = &[
    "primitive",
    "ms",
    "master",
    "clone",
    "group",
    "colocation",
    "collocation",
    "order",
    "location",
    "property",
    "rsc_defaults",
    "op_defaults",
    "node",
    "delete",
    "monitor",
    "show",
];

/// Attributes an `op` takes directly; any other `NAME=VALUE` becomes an op instance attribute.
pub const OP_ATTRS: &[&str] = &[
    "interval",
    "timeout",
    "role",
    "on-fail",
    "enabled",
    "start-delay",
    "interval-origin",
    "record-pending",
    "requires",
    "description",
];

/// Operation names accepted after `op`.
pub const OP_NAMES: &[&str] = &[
    "start",
    "stop",
    "monitor",
    "promote",
    "demote",
    "notify",
    "migrate_to",
    "migrate_from",
    "reload",
    "reload-agent",
    "status",
    "validate-all",
    "meta-data",
];

/// Cluster options (`property`) that Pacemaker knows.
pub const CLUSTER_OPTIONS: &[&str] = &[
    "stonith-enabled",
    "fencing-enabled",
    "stonith-action",
    "fencing-action",
    "stonith-timeout",
    "fencing-timeout",
    "stonith-max-attempts",
    "stonith-watchdog-timeout",
    "fencing-watchdog-timeout",
    "no-quorum-policy",
    "symmetric-cluster",
    "maintenance-mode",
    "stop-all-resources",
    "start-failure-is-fatal",
    "placement-strategy",
    "cluster-recheck-interval",
    "dc-deadtime",
    "election-timeout",
    "shutdown-escalation",
    "cluster-delay",
    "batch-limit",
    "migration-limit",
    "node-health-strategy",
    "node-health-base",
    "node-health-green",
    "node-health-yellow",
    "node-health-red",
    "priority-fencing-delay",
    "startup-fencing",
    "concurrent-fencing",
    "shutdown-lock",
    "shutdown-lock-limit",
    "enable-acl",
    "enable-startup-probes",
    "pe-input-series-max",
    "pe-warn-series-max",
    "pe-error-series-max",
    "dc-version",
    "cluster-infrastructure",
    "have-watchdog",
    "cluster-name",
    "last-lrm-refresh",
    "stop-orphan-resources",
    "stop-orphan-actions",
    "remove-after-stop",
    "node-action-limit",
    "load-threshold",
    "fence-reaction",
    "cluster-ipc-limit",
    "join-integration-timeout",
    "join-finalization-timeout",
    "transition-delay",
    "default-resource-stickiness",
    "is-managed-default",
];

/// Resource meta attributes (`meta`, `rsc_defaults`) Pacemaker knows.
pub const RSC_META: &[&str] = &[
    "priority",
    "target-role",
    "is-managed",
    "maintenance",
    "resource-stickiness",
    "requires",
    "migration-threshold",
    "failure-timeout",
    "multiple-active",
    "allow-migrate",
    "critical",
    "allow-unhealthy-nodes",
    "container-attribute-target",
    "globally-unique",
    "clone-max",
    "clone-node-max",
    "clone-min",
    "notify",
    "ordered",
    "interleave",
    "promotable",
    "promoted-max",
    "promoted-node-max",
    "master-max",
    "master-node-max",
    "remote-node",
    "remote-port",
    "remote-addr",
    "remote-connect-timeout",
    "description",
];

/// Op defaults (`op_defaults`) Pacemaker knows.
pub const OP_META: &[&str] = &[
    "timeout",
    "interval",
    "on-fail",
    "enabled",
    "record-pending",
    "start-delay",
    "interval-origin",
    "role",
    "requires",
];

struct Words<'a> {
    verb: &'a str,
    w: &'a [String],
    pos: usize,
}

impl<'a> Words<'a> {
    fn peek(&self) -> Option<&'a str> {
        self.w.get(self.pos).map(|s| s.as_str())
    }
    fn next(&mut self) -> Option<&'a str> {
        let r = self.peek();
        if r.is_some() {
            self.pos += 1;
        }
        r
    }
    fn expect(&mut self, what: &str) -> Result<&'a str, CrmError> {
        self.next().ok_or_else(|| self.expected(what, None))
    }
    fn expected(&self, what: &str, found: Option<&str>) -> CrmError {
        CrmError::Expected {
            verb: self.verb.to_string(),
            expected: what.to_string(),
            found: found.map(str::to_string),
        }
    }
    fn id(&mut self, what: &str) -> Result<&'a str, CrmError> {
        let id = self.expect(what)?;
        if !valid_id(id) {
            return Err(CrmError::BadId(id.to_string()));
        }
        Ok(id)
    }
}

fn split_pair(word: &str) -> Option<(&str, &str)> {
    let (k, v) = word.split_once('=')?;
    if k.is_empty() {
        return None;
    }
    Some((k, v))
}

/// Parses the words of one configure command (without the leading `configure`).
///
/// # Errors
/// An unknown verb or keyword, a missing or malformed word: the error names the word.
pub fn parse_configure(words: &[String]) -> Result<ConfigCommand, CrmError> {
    let Some(verb) = words.first() else {
        return Err(CrmError::Expected {
            verb: "configure".into(),
            expected: "a command".into(),
            found: None,
        });
    };
    let mut w = Words { verb, w: words, pos: 1 };
    match verb.as_str() {
        "primitive" => parse_primitive(&mut w),
        "ms" | "master" => parse_container(&mut w, "master"),
        "clone" => parse_container(&mut w, "clone"),
        "group" => parse_container(&mut w, "group"),
        "colocation" | "collocation" => parse_colocation(&mut w),
        "order" => parse_order(&mut w),
        "location" => parse_location(&mut w),
        "property" => parse_defaults(&mut w, DefaultsSection::Property),
        "rsc_defaults" => parse_defaults(&mut w, DefaultsSection::RscDefaults),
        "op_defaults" => parse_defaults(&mut w, DefaultsSection::OpDefaults),
        "node" => parse_node(&mut w),
        "monitor" => {
            let target = w.expect("RSC[:ROLE]")?;
            let spec = w.expect("INTERVAL[:TIMEOUT]")?;
            if let Some(extra) = w.next() {
                return Err(CrmError::UnknownKeyword { word: extra.into(), suggestion: None });
            }
            let (rsc, role) = rsc_and_suffix(target);
            let (interval, timeout) = rsc_and_suffix(spec);
            let mut op =
                Element::new("op").with_attr("name", "monitor").with_attr("interval", interval);
            if let Some(t) = timeout {
                op.set_attr("timeout", t);
            }
            if let Some(r) = role {
                op.set_attr("role", &parse_role(r)?);
            }
            op.set_attr("id", &format!("{rsc}-monitor-{interval}"));
            Ok(ConfigCommand::Monitor { rsc: rsc.to_string(), op })
        }
        "delete" => {
            let ids: Vec<String> = words[1..].to_vec();
            if ids.is_empty() {
                return Err(w.expected("an object id", None));
            }
            Ok(ConfigCommand::Delete(ids))
        }
        "show" => parse_show(&words[1..]),
        other => {
            Err(CrmError::UnknownCommand { word: other.into(), suggestion: suggest(other, VERBS) })
        }
    }
}

fn parse_show(args: &[String]) -> Result<ConfigCommand, CrmError> {
    let mut xml = false;
    let mut ids = Vec::new();
    let mut filter = super::ShowFilter::All;
    for a in args {
        match a.as_str() {
            "xml" => xml = true,
            "changed" => {}
            t if t.starts_with("type:") => filter = super::ShowFilter::Type(t[5..].to_string()),
            id => ids.push(id.to_string()),
        }
    }
    if !ids.is_empty() {
        filter = super::ShowFilter::Ids(ids);
    }
    Ok(ConfigCommand::Show { xml, filter })
}

fn nvpair(set_id: &str, name: &str, value: &str) -> Element {
    Element::new("nvpair")
        .with_attr("name", name)
        .with_attr("value", value)
        .with_attr("id", &format!("{set_id}-{name}"))
}

fn nvset(kind: &str, set_id: &str, pairs: &[(String, String)]) -> Element {
    let mut set = Element::new(kind).with_attr("id", set_id);
    for (k, v) in pairs {
        set.children.retain(|c: &Element| c.attr("name") != Some(k));
        set.children.push(nvpair(set_id, k, v));
    }
    set
}

/// Checks a meta attribute name: a near miss of a known name is a typo.
fn check_near_miss(name: &str, known: &[&str], context: &str) -> Result<(), CrmError> {
    if known.contains(&name) {
        return Ok(());
    }
    match suggest(name, known) {
        Some(s) => Err(CrmError::UnknownAttribute {
            word: name.into(),
            context: context.into(),
            suggestion: Some(s),
        }),
        None => Ok(()),
    }
}

/// Splits an agent spec into (class, provider, type).
pub fn parse_agent(spec: &str) -> Result<(String, Option<String>, String), CrmError> {
    let parts: Vec<&str> = spec.split(':').collect();
    let classes = ["ocf", "lsb", "service", "systemd", "stonith", "nagios", "upstart"];
    if parts.len() > 1 && !classes.contains(&parts[0]) {
        return Err(CrmError::BadClass(parts[0].into()));
    }
    let (class, provider, ty) = match parts.as_slice() {
        [t] => ("ocf", Some("heartbeat"), *t),
        ["ocf", t] => ("ocf", Some("heartbeat"), *t),
        ["ocf", p, t] => ("ocf", Some(*p), *t),
        [c, t] => (*c, None, *t),
        [c, p, t] if *c != "ocf" => {
            return Err(CrmError::Expected {
                verb: "primitive".into(),
                expected: format!("no provider for class '{c}'"),
                found: Some(format!("{c}:{p}:{t}")),
            })
        }
        _ => {
            return Err(CrmError::Expected {
                verb: "primitive".into(),
                expected: "an agent [class:[provider:]]type".into(),
                found: Some(spec.into()),
            })
        }
    };
    if !classes.contains(&class) {
        return Err(CrmError::BadClass(class.into()));
    }
    if ty.is_empty() || provider.is_some_and(str::is_empty) {
        return Err(CrmError::Expected {
            verb: "primitive".into(),
            expected: "an agent [class:[provider:]]type".into(),
            found: Some(spec.into()),
        });
    }
    Ok((class.into(), provider.map(str::to_string), ty.into()))
}

#[derive(Clone, Copy, PartialEq)]
enum Sect {
    Params,
    Meta,
    Util,
}

fn parse_primitive(w: &mut Words) -> Result<ConfigCommand, CrmError> {
    let id = w.id("a resource id")?;
    let agent = w.expect("an agent")?;
    if agent.starts_with('@') {
        return Err(CrmError::Unsupported("primitive from a template (@TEMPLATE)".into()));
    }
    let (class, provider, ty) = parse_agent(agent)?;
    let mut prim = Element::new("primitive").with_attr("id", id).with_attr("class", &class);
    if let Some(p) = &provider {
        prim.set_attr("provider", p);
    }
    prim.set_attr("type", &ty);
    let mut params: Vec<(String, String)> = Vec::new();
    let mut meta: Vec<(String, String)> = Vec::new();
    let mut util: Vec<(String, String)> = Vec::new();
    let mut ops: Vec<Element> = Vec::new();
    let mut sect = Sect::Params;
    const KEYWORDS: &[&str] = &["params", "meta", "utilization", "op", "description"];
    while let Some(word) = w.next() {
        match word {
            "params" => sect = Sect::Params,
            "meta" => sect = Sect::Meta,
            "utilization" => sect = Sect::Util,
            "op" => {
                let op = parse_op(w, id, &ops)?;
                ops.push(op);
            }
            _ => match split_pair(word) {
                Some(("description", v))
                    if params.is_empty() && meta.is_empty() && ops.is_empty() =>
                {
                    prim.set_attr("description", v);
                }
                Some((k, v)) => {
                    if k.starts_with('$') {
                        return Err(CrmError::Unsupported(format!("'{k}' in an attribute list")));
                    }
                    let list = match sect {
                        Sect::Params => &mut params,
                        Sect::Meta => {
                            check_near_miss(k, RSC_META, "meta")?;
                            &mut meta
                        }
                        Sect::Util => &mut util,
                    };
                    list.retain(|(n, _)| n != k);
                    list.push((k.into(), v.into()));
                }
                None if word == "rule" => {
                    return Err(CrmError::Unsupported("rules in resource attribute lists".into()))
                }
                None => {
                    return Err(CrmError::UnknownKeyword {
                        word: word.into(),
                        suggestion: suggest(word, KEYWORDS),
                    })
                }
            },
        }
    }
    if !params.is_empty() {
        prim.children.push(nvset(
            "instance_attributes",
            &format!("{id}-instance_attributes"),
            &params,
        ));
    }
    if !meta.is_empty() {
        prim.children.push(nvset("meta_attributes", &format!("{id}-meta_attributes"), &meta));
    }
    if !util.is_empty() {
        prim.children.push(nvset("utilization", &format!("{id}-utilization"), &util));
    }
    if !ops.is_empty() {
        let mut o = Element::new("operations");
        o.children = ops;
        prim.children.push(o);
    }
    Ok(ConfigCommand::Primitive(prim))
}

fn parse_op(w: &mut Words, rsc: &str, earlier: &[Element]) -> Result<Element, CrmError> {
    let name = w.expect("an operation name after 'op'")?;
    if name.contains('=') {
        return Err(w.expected("an operation name after 'op'", Some(name)));
    }
    if !OP_NAMES.contains(&name) {
        return Err(CrmError::BadAction { word: name.into(), suggestion: suggest(name, OP_NAMES) });
    }
    let mut attrs: Vec<(String, String)> = Vec::new();
    let mut inst: Vec<(String, String)> = Vec::new();
    let mut meta: Vec<(String, String)> = Vec::new();
    let mut target = 0; // 0 = op attrs, 1 = op_params, 2 = op_meta
    while let Some(word) = w.peek() {
        match word {
            "op_params" => target = 1,
            "op_meta" => target = 2,
            _ => {
                let Some((k, v)) = split_pair(word) else { break };
                match target {
                    1 => inst.push((k.into(), v.into())),
                    2 => meta.push((k.into(), v.into())),
                    _ if OP_ATTRS.contains(&k) => {
                        if k == "role" {
                            attrs.push((k.into(), parse_role(v)?));
                        } else {
                            attrs.push((k.into(), v.into()));
                        }
                    }
                    _ => {
                        let lower_case = k.chars().any(|c| c.is_ascii_lowercase());
                        if lower_case {
                            if let Some(s) = suggest(k, OP_ATTRS) {
                                return Err(CrmError::UnknownAttribute {
                                    word: k.into(),
                                    context: format!("op {name}"),
                                    suggestion: Some(s),
                                });
                            }
                        }
                        inst.push((k.into(), v.into()));
                    }
                }
            }
        }
        w.pos += 1;
    }
    let interval = attrs
        .iter()
        .find(|(k, _)| k == "interval")
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| "0s".to_string());
    let mut op = Element::new("op").with_attr("name", name).with_attr("interval", &interval);
    for (k, v) in &attrs {
        op.set_attr(k, v);
    }
    let base = format!("{rsc}-{name}-{interval}");
    let mut id = base.clone();
    let mut n = 0;
    while earlier.iter().any(|o| o.id() == Some(&id)) {
        id = format!("{base}-{n}");
        n += 1;
    }
    op.set_attr("id", &id);
    if !inst.is_empty() {
        op.children.push(nvset("instance_attributes", &format!("{id}-instance_attributes"), &inst));
    }
    if !meta.is_empty() {
        op.children.push(nvset("meta_attributes", &format!("{id}-meta_attributes"), &meta));
    }
    Ok(op)
}

fn parse_container(w: &mut Words, kind: &str) -> Result<ConfigCommand, CrmError> {
    let id = w.id("a resource id")?;
    let mut children = Vec::new();
    let mut element = Element::new(kind).with_attr("id", id);
    let mut meta: Vec<(String, String)> = Vec::new();
    let mut params: Vec<(String, String)> = Vec::new();
    let mut sect: Option<Sect> = None;
    const KEYWORDS: &[&str] = &["meta", "params", "description"];
    while let Some(word) = w.next() {
        match word {
            "meta" => sect = Some(Sect::Meta),
            "params" => sect = Some(Sect::Params),
            _ => match split_pair(word) {
                Some(("description", v)) if sect.is_none() => element.set_attr("description", v),
                Some((k, v)) => {
                    let list = match sect {
                        Some(Sect::Meta) => {
                            check_near_miss(k, RSC_META, "meta")?;
                            &mut meta
                        }
                        Some(_) => &mut params,
                        None => {
                            return Err(
                                w.expected("'meta' or 'params' before attributes", Some(word))
                            )
                        }
                    };
                    list.retain(|(n, _)| n != k);
                    list.push((k.into(), v.into()));
                }
                None if sect.is_none() && (kind == "group" || children.is_empty()) => {
                    if KEYWORDS.iter().any(|k| super::distance(word, k) == 1) && !valid_id(word) {
                        return Err(CrmError::UnknownKeyword {
                            word: word.into(),
                            suggestion: suggest(word, KEYWORDS),
                        });
                    }
                    children.push(word.to_string());
                }
                None => {
                    return Err(CrmError::UnknownKeyword {
                        word: word.into(),
                        suggestion: suggest(word, KEYWORDS),
                    })
                }
            },
        }
    }
    if children.is_empty() {
        return Err(w.expected("the resource(s) it contains", None));
    }
    if !params.is_empty() {
        element.children.push(nvset(
            "instance_attributes",
            &format!("{id}-instance_attributes"),
            &params,
        ));
    }
    if !meta.is_empty() {
        element.children.push(nvset("meta_attributes", &format!("{id}-meta_attributes"), &meta));
    }
    Ok(ConfigCommand::Container { element, children })
}

/// Reads `SCORE:` (one word `inf:` or two words `inf` `:`); returns the word before the colon.
fn score_word<'a>(w: &mut Words<'a>, what: &str) -> Result<&'a str, CrmError> {
    let word = w.expect(what)?;
    if let Some(s) = word.strip_suffix(':') {
        if !s.is_empty() {
            return Ok(s);
        }
    }
    if w.peek() == Some(":") {
        w.pos += 1;
        return Ok(word);
    }
    Err(w.expected(what, Some(word)))
}

fn rsc_and_suffix(word: &str) -> (&str, Option<&str>) {
    match word.split_once(':') {
        Some((r, s)) => (r, Some(s)),
        None => (word, None),
    }
}

fn parse_colocation(w: &mut Words) -> Result<ConfigCommand, CrmError> {
    let id = w.id("a constraint id")?;
    let score = parse_score(score_word(w, "'SCORE:'")?)?;
    let mut words: Vec<&str> = Vec::new();
    let mut node_attr = None;
    while let Some(word) = w.next() {
        match split_pair(word) {
            Some(("node-attribute", v)) => node_attr = Some(v),
            Some((k, _)) => {
                return Err(CrmError::UnknownKeyword {
                    word: k.into(),
                    suggestion: suggest(k, &["node-attribute"]),
                })
            }
            None => words.push(word),
        }
    }
    let mut c = Element::new("rsc_colocation").with_attr("id", id).with_attr("score", &score);
    let simple = words.len() == 2 && !words.iter().any(|x| is_bracket(x));
    if simple {
        let mut rscs = Vec::new();
        for word in &words {
            let (r, role) = rsc_and_suffix(word);
            rscs.push((r, role.map(parse_role).transpose()?));
        }
        c.set_attr("rsc", rscs[0].0);
        if let Some(r) = &rscs[0].1 {
            c.set_attr("rsc-role", r);
        }
        c.set_attr("with-rsc", rscs[1].0);
        if let Some(r) = &rscs[1].1 {
            c.set_attr("with-rsc-role", r);
        }
    } else if words.iter().filter(|x| !is_bracket(x)).count() < 2 {
        return Err(w.expected("two resources", words.last().copied()));
    } else {
        c.children = build_sets(id, &words, false)?;
    }
    if let Some(a) = node_attr {
        c.set_attr("node-attribute", a);
    }
    Ok(ConfigCommand::Constraint(c))
}

fn is_bracket(w: &str) -> bool {
    matches!(w, "(" | ")" | "[" | "]")
}

/// Builds `<resource_set>`s from resource words: runs of plain `RSC[:SUFFIX]` with the same
/// suffix form one sequential set, `( ... )` an unordered set (`sequential="false"`) and, for
/// order, `[ ... ]` a set where one member suffices (`require-all="false"`). The suffix is a
/// role (colocation) or an action (order). Set ids are `ID-0`, `ID-1`, ...
fn build_sets(id: &str, words: &[&str], order: bool) -> Result<Vec<Element>, CrmError> {
    let what = if order { "order" } else { "colocation" };
    let mut sets: Vec<Element> = Vec::new();
    let mut cur: Option<(Element, Option<String>, bool)> = None; // set, suffix, has members
    let mut bracket: Option<&str> = None;
    fn flush(sets: &mut Vec<Element>, cur: &mut Option<(Element, Option<String>, bool)>) -> bool {
        match cur.take() {
            Some((e, _, true)) => {
                sets.push(e);
                true
            }
            Some((_, _, false)) => false,
            None => true,
        }
    }
    for word in words {
        match *word {
            "(" | "[" => {
                if bracket.is_some() {
                    return Err(CrmError::Unsupported(format!("nested resource sets in {what}")));
                }
                if *word == "[" && !order {
                    return Err(CrmError::Unsupported("'[ ]' sets in colocation".into()));
                }
                flush(&mut sets, &mut cur);
                let mut set = Element::new("resource_set").with_attr("id", "");
                set.set_attr("sequential", "false");
                if *word == "[" {
                    set.set_attr("require-all", "false");
                }
                cur = Some((set, None, false));
                bracket = Some(if *word == "(" { ")" } else { "]" });
            }
            ")" | "]" => {
                if bracket != Some(*word) {
                    return Err(CrmError::Expected {
                        verb: what.into(),
                        expected: bracket.map_or("no closing bracket".into(), |b| format!("'{b}'")),
                        found: Some(word.to_string()),
                    });
                }
                if !flush(&mut sets, &mut cur) {
                    return Err(CrmError::Expected {
                        verb: what.into(),
                        expected: "resources inside the brackets".into(),
                        found: Some(word.to_string()),
                    });
                }
                bracket = None;
            }
            _ => {
                let (r, suffix) = rsc_and_suffix(word);
                let suffix = match suffix {
                    None => None,
                    Some(a) if order => {
                        if !ACTIONS.contains(&a) {
                            return Err(CrmError::BadAction {
                                word: a.into(),
                                suggestion: suggest(a, ACTIONS),
                            });
                        }
                        Some(a.to_string())
                    }
                    Some(role) => Some(parse_role(role)?),
                };
                if let Some((_, s, true)) = &cur {
                    if *s != suffix {
                        if bracket.is_some() {
                            return Err(CrmError::Expected {
                                verb: what.into(),
                                expected: "the same role or action for every resource of a set"
                                    .into(),
                                found: Some(word.to_string()),
                            });
                        }
                        flush(&mut sets, &mut cur);
                    }
                }
                let (set, s, has) = cur.get_or_insert_with(|| {
                    (Element::new("resource_set").with_attr("id", ""), None, false)
                });
                if !*has {
                    if let Some(x) = &suffix {
                        set.set_attr(if order { "action" } else { "role" }, x);
                    }
                    *s = suffix;
                }
                set.children.push(Element::new("resource_ref").with_attr("id", r));
                *has = true;
            }
        }
    }
    if let Some(b) = bracket {
        return Err(CrmError::Expected {
            verb: what.into(),
            expected: format!("'{b}'"),
            found: None,
        });
    }
    flush(&mut sets, &mut cur);
    for (n, set) in sets.iter_mut().enumerate() {
        set.set_attr("id", &format!("{id}-{n}"));
    }
    Ok(sets)
}

const ACTIONS: &[&str] = &["start", "stop", "promote", "demote"];

fn parse_order(w: &mut Words) -> Result<ConfigCommand, CrmError> {
    let id = w.id("a constraint id")?;
    let mut c = Element::new("rsc_order").with_attr("id", id);
    let has_kind =
        w.peek().is_some_and(|s| s.ends_with(':')) || w.w.get(w.pos + 1).is_some_and(|s| s == ":");
    if has_kind {
        let k = score_word(w, "'KIND:' or 'SCORE:'")?;
        match k.to_ascii_lowercase().as_str() {
            "mandatory" => c.set_attr("kind", "Mandatory"),
            "optional" => c.set_attr("kind", "Optional"),
            "serialize" => c.set_attr("kind", "Serialize"),
            _ => match parse_score(k) {
                Ok(s) if s == "INFINITY" => c.set_attr("kind", "Mandatory"),
                Ok(s) if s == "0" => c.set_attr("kind", "Optional"),
                Ok(s) => c.set_attr("score", &s),
                Err(_) => {
                    return Err(CrmError::UnknownKeyword {
                        word: k.into(),
                        suggestion: suggest(k, &["Mandatory", "Optional", "Serialize"]),
                    })
                }
            },
        }
    }
    let mut words: Vec<&str> = Vec::new();
    let mut symmetrical = None;
    while let Some(word) = w.next() {
        if let Some((k, v)) = split_pair(word) {
            if k == "symmetrical" {
                if !crate::cib::score::is_bool(v) {
                    return Err(CrmError::BadValue {
                        name: k.into(),
                        value: v.into(),
                        expected: "true or false".into(),
                    });
                }
                symmetrical = Some(v);
                continue;
            }
            return Err(CrmError::UnknownKeyword {
                word: k.into(),
                suggestion: suggest(k, &["symmetrical"]),
            });
        }
        words.push(word);
    }
    let simple = words.len() == 2 && !words.iter().any(|x| is_bracket(x));
    if simple {
        for (n, word) in words.iter().enumerate() {
            let (r, a) = rsc_and_suffix(word);
            if let Some(a) = a {
                if !ACTIONS.contains(&a) {
                    return Err(CrmError::BadAction {
                        word: a.into(),
                        suggestion: suggest(a, ACTIONS),
                    });
                }
            }
            let (k, ka) = if n == 0 { ("first", "first-action") } else { ("then", "then-action") };
            c.set_attr(k, r);
            if let Some(a) = a {
                c.set_attr(ka, a);
            }
        }
    } else if words.iter().filter(|x| !is_bracket(x)).count() < 2 {
        return Err(w.expected("two resources", words.last().copied()));
    } else {
        c.children = build_sets(id, &words, true)?;
    }
    if let Some(s) = symmetrical {
        c.set_attr("symmetrical", s);
    }
    Ok(ConfigCommand::Constraint(c))
}

const BINOPS: &[&str] = &["lt", "gt", "lte", "gte", "eq", "ne"];

fn unique_id(base: &str, taken: &mut Vec<String>) -> String {
    let mut id = base.to_string();
    let mut n = 0;
    while taken.contains(&id) {
        id = format!("{base}-{n}");
        n += 1;
    }
    taken.push(id.clone());
    id
}

fn parse_location(w: &mut Words) -> Result<ConfigCommand, CrmError> {
    let id = w.id("a constraint id")?;
    let rsc = w.expect("a resource")?;
    if rsc.starts_with('/') || rsc.starts_with('{') {
        return Err(CrmError::Unsupported("resource patterns and sets in location".into()));
    }
    let mut c = Element::new("rsc_location").with_attr("id", id).with_attr("rsc", rsc);
    while let Some((k, v)) = w.peek().and_then(split_pair) {
        match k {
            "role" => c.set_attr("role", &parse_role(v)?),
            "resource-discovery" => {
                if !["always", "never", "exclusive"].contains(&v) {
                    return Err(CrmError::BadValue {
                        name: k.into(),
                        value: v.into(),
                        expected: "always, never or exclusive".into(),
                    });
                }
                c.set_attr(k, v)
            }
            _ => {
                return Err(CrmError::UnknownKeyword {
                    word: k.into(),
                    suggestion: suggest(k, &["role", "resource-discovery"]),
                })
            }
        }
        w.pos += 1;
    }
    if w.peek() == Some("rule") {
        let mut taken = vec![id.to_string()];
        while w.peek() == Some("rule") {
            w.pos += 1;
            let rule = parse_rule(w, &format!("{id}-rule"), &mut taken)?;
            c.children.push(rule);
        }
        if let Some(extra) = w.next() {
            return Err(CrmError::UnknownKeyword {
                word: extra.into(),
                suggestion: suggest(extra, &["rule"]),
            });
        }
        return Ok(ConfigCommand::Constraint(c));
    }
    let score_w = score_word(w, "'SCORE: NODE' or 'rule'")?;
    let score = parse_score(score_w).map_err(|_| match suggest(score_w, &["rule"]) {
        Some(s) => CrmError::UnknownKeyword { word: score_w.into(), suggestion: Some(s) },
        None => CrmError::BadScore(score_w.into()),
    })?;
    let node = w.expect("a node name")?;
    c.set_attr("score", &score);
    c.set_attr("node", node);
    if let Some(extra) = w.next() {
        return Err(CrmError::UnknownKeyword { word: extra.into(), suggestion: None });
    }
    Ok(ConfigCommand::Constraint(c))
}

fn parse_rule(w: &mut Words, base: &str, taken: &mut Vec<String>) -> Result<Element, CrmError> {
    let mut rule = Element::new("rule");
    let mut rule_id = None;
    let mut role = None;
    while let Some((k, v)) = w.peek().and_then(split_pair) {
        match k {
            "$id" => rule_id = Some(v.to_string()),
            "$role" => role = Some(parse_role(v)?),
            _ => break,
        }
        w.pos += 1;
    }
    let rid = match rule_id {
        Some(r) => {
            taken.push(r.clone());
            r
        }
        None => unique_id(base, taken),
    };
    rule.set_attr("id", &rid);
    if let Some(r) = role {
        rule.set_attr("role", &r);
    }
    let s = score_word(w, "'SCORE:' after 'rule'")?;
    match parse_score(s) {
        Ok(score) => rule.set_attr("score", &score),
        Err(_) if valid_id(s) || s.starts_with('#') => rule.set_attr("score-attribute", s),
        Err(e) => return Err(e),
    }
    let mut bool_op: Option<&str> = None;
    loop {
        let expr_base = format!("{rid}-expression");
        let word = w.expect("an expression")?;
        let mut e;
        if word == "defined" || word == "not_defined" {
            let attr = w.expect("an attribute name")?;
            e = Element::new("expression")
                .with_attr("attribute", attr)
                .with_attr("operation", word);
        } else if word == "date" {
            let op = w.expect("lt, gt or in after 'date'")?;
            e = Element::new("date_expression").with_attr("operation", op);
            match op {
                "lt" => e.set_attr("end", w.expect("an end date")?),
                "gt" => e.set_attr("start", w.expect("a start date")?),
                "in" | "in_range" => {
                    e.set_attr("operation", "in_range");
                    while let Some((k, v)) = w.peek().and_then(split_pair) {
                        if k != "start" && k != "end" {
                            return Err(CrmError::Unsupported(format!("date '{k}=' in a rule")));
                        }
                        e.set_attr(k, v);
                        w.pos += 1;
                    }
                }
                _ => {
                    return Err(CrmError::UnknownKeyword {
                        word: op.into(),
                        suggestion: suggest(op, &["lt", "gt", "in"]),
                    })
                }
            }
        } else {
            let attr = word;
            let opw = w.expect("an operator (lt gt lte gte eq ne)")?;
            let (ty, op) = match opw.split_once(':') {
                Some((t, o)) => (Some(t), o),
                None => (None, opw),
            };
            if !BINOPS.contains(&op) {
                let all = [BINOPS, &["defined", "not_defined"]].concat();
                return Err(CrmError::UnknownKeyword {
                    word: op.into(),
                    suggestion: suggest(op, &all),
                });
            }
            if let Some(t) = ty {
                if !["string", "integer", "number", "version"].contains(&t) {
                    return Err(CrmError::UnknownKeyword {
                        word: t.into(),
                        suggestion: suggest(t, &["string", "integer", "number", "version"]),
                    });
                }
            }
            let value = w.expect("a value")?;
            e = Element::new("expression")
                .with_attr("attribute", attr)
                .with_attr("operation", op)
                .with_attr("value", value);
            if let Some(t) = ty {
                e.set_attr("type", t);
            }
        }
        e.set_attr("id", &unique_id(&expr_base, taken));
        rule.children.push(e);
        match w.peek() {
            Some(b @ ("and" | "or")) => {
                if bool_op.is_some_and(|o| o != b) {
                    return Err(CrmError::Unsupported("mixing 'and' and 'or' in one rule".into()));
                }
                bool_op = Some(b);
                w.pos += 1;
            }
            _ => break,
        }
    }
    if let Some(b) = bool_op {
        rule.set_attr("boolean-op", b);
    }
    Ok(rule)
}

fn parse_defaults(w: &mut Words, section: DefaultsSection) -> Result<ConfigCommand, CrmError> {
    let mut set_id = section.default_set_id().to_string();
    if let Some(first) = w.peek() {
        if let Some(s) = first.strip_suffix(':') {
            if !valid_id(s) {
                return Err(CrmError::BadId(s.into()));
            }
            set_id = s.to_string();
            w.pos += 1;
        }
    }
    let mut pairs: Vec<(String, String)> = Vec::new();
    while let Some(word) = w.next() {
        if word == "rule" {
            return Err(CrmError::Unsupported(format!("rules in {}", section.verb())));
        }
        let Some((k, v)) = split_pair(word) else {
            return Err(w.expected("NAME=VALUE", Some(word)));
        };
        pairs.retain(|(n, _)| n != k);
        pairs.push((k.into(), v.into()));
    }
    if pairs.is_empty() {
        return Err(w.expected("NAME=VALUE", None));
    }
    Ok(ConfigCommand::Defaults { section, set_id, pairs })
}

fn parse_node(w: &mut Words) -> Result<ConfigCommand, CrmError> {
    let first = w.expect("a node name")?;
    let (id, uname) = if let Some(id) = first.strip_suffix(':') {
        (id.to_string(), w.expect("a node name")?.to_string())
    } else {
        (first.to_string(), first.to_string())
    };
    let mut node_type = None;
    let mut attributes = Vec::new();
    let mut utilization = Vec::new();
    let mut sect = None;
    while let Some(word) = w.next() {
        match word {
            ":" => node_type = Some(w.expect("member or remote")?.to_string()),
            "attributes" => sect = Some(0),
            "utilization" => sect = Some(1),
            _ => match (split_pair(word), sect) {
                (Some((k, v)), Some(0)) => attributes.push((k.to_string(), v.to_string())),
                (Some((k, v)), Some(_)) => utilization.push((k.to_string(), v.to_string())),
                _ => {
                    return Err(CrmError::UnknownKeyword {
                        word: word.into(),
                        suggestion: suggest(word, &["attributes", "utilization"]),
                    })
                }
            },
        }
    }
    Ok(ConfigCommand::Node { id, uname, node_type, attributes, utilization })
}

const SECTION_ORDER: &[&str] = &[
    "crm_config",
    "nodes",
    "resources",
    "constraints",
    "fencing-topology",
    "rsc_defaults",
    "op_defaults",
];

/// The `configuration/NAME` section, created at its usual place if missing.
pub fn section_mut<'a>(cib: &'a mut Element, name: &str) -> &'a mut Element {
    if cib.child("configuration").is_none() {
        cib.children.insert(0, Element::new("configuration"));
    }
    let conf = cib.child_mut("configuration").expect("just ensured");
    if conf.child(name).is_none() {
        let rank =
            |n: &str| SECTION_ORDER.iter().position(|s| *s == n).unwrap_or(SECTION_ORDER.len());
        let mine = rank(name);
        let pos =
            conf.children.iter().position(|c| rank(&c.name) > mine).unwrap_or(conf.children.len());
        conf.children.insert(pos, Element::new(name));
    }
    conf.child_mut(name).expect("just ensured")
}

/// True when `id` names a resource (primitive, group, clone, master, bundle) in the CIB.
pub fn resource_exists(cib: &Element, id: &str) -> bool {
    crate::cib::ops::find_resource_elem(cib, id).is_ok()
}

fn check_new_id(cib: &Element, id: &str) -> Result<(), CrmError> {
    if cib.child("configuration").and_then(|c| c.find_id(id)).is_some() {
        return Err(CrmError::Exists(id.into()));
    }
    Ok(())
}

fn check_property(name: &str, value: &str, force: bool) -> Result<(), CrmError> {
    if !CLUSTER_OPTIONS.contains(&name) {
        if force {
            return Ok(());
        }
        return Err(CrmError::UnknownAttribute {
            word: name.into(),
            context: "property".into(),
            suggestion: suggest(name, CLUSTER_OPTIONS),
        });
    }
    crate::cib::verify::check_cluster_option(name, value).map_err(|expected| CrmError::BadValue {
        name: name.into(),
        value: value.into(),
        expected,
    })
}

/// Applies one command to the CIB tree. Returns informational messages (e.g. constraints
/// removed along with a deleted resource). `force` accepts unknown property names.
///
/// # Errors
/// The id is taken, a referenced resource does not exist, a property name or value is not
/// valid; the tree is then unchanged. [`ConfigCommand::Show`] is not applied (it returns an
/// empty list).
pub fn apply(cib: &mut Element, cmd: &ConfigCommand, force: bool) -> Result<Vec<String>, CrmError> {
    match cmd {
        ConfigCommand::Primitive(p) => {
            let id = p.id().unwrap_or_default();
            check_new_id(cib, id)?;
            section_mut(cib, "resources").children.push(p.clone());
            Ok(vec![])
        }
        ConfigCommand::Container { element, children } => apply_container(cib, element, children),
        ConfigCommand::Constraint(c) => {
            check_new_id(cib, c.id().unwrap_or_default())?;
            for key in ["rsc", "with-rsc", "first", "then"] {
                if let Some(r) = c.attr(key) {
                    if !resource_exists(cib, r) {
                        return Err(CrmError::NoSuchResource(r.into()));
                    }
                }
            }
            for set in c.children_named("resource_set") {
                for r in set.children_named("resource_ref").filter_map(Element::id) {
                    if !resource_exists(cib, r) {
                        return Err(CrmError::NoSuchResource(r.into()));
                    }
                }
            }
            section_mut(cib, "constraints").children.push(c.clone());
            Ok(vec![])
        }
        ConfigCommand::Defaults { section, set_id, pairs } => {
            for (k, v) in pairs {
                match section {
                    DefaultsSection::Property => check_property(k, v, force)?,
                    DefaultsSection::RscDefaults => check_near_miss(k, RSC_META, "rsc_defaults")?,
                    DefaultsSection::OpDefaults => check_near_miss(k, OP_META, "op_defaults")?,
                }
            }
            if let Some(other) = cib.child("configuration").and_then(|c| c.find_id(set_id)) {
                if other.name != section.set_element() {
                    return Err(CrmError::Exists(set_id.clone()));
                }
            }
            let sec = section_mut(cib, section.section());
            let set = match sec.children.iter().position(|c| c.id() == Some(set_id)) {
                Some(p) => &mut sec.children[p],
                None => {
                    sec.children.push(Element::new(section.set_element()).with_attr("id", set_id));
                    sec.children.last_mut().expect("pushed")
                }
            };
            for (k, v) in pairs {
                set_nvpair(set, k, v);
            }
            Ok(vec![])
        }
        ConfigCommand::Node { id, uname, node_type, attributes, utilization } => {
            let nodes = section_mut(cib, "nodes");
            let pos = nodes
                .children
                .iter()
                .position(|n| n.attr("uname") == Some(uname) || n.id() == Some(id));
            let node = match pos {
                Some(p) => &mut nodes.children[p],
                None => {
                    nodes
                        .children
                        .push(Element::new("node").with_attr("id", id).with_attr("uname", uname));
                    nodes.children.last_mut().expect("pushed")
                }
            };
            if let Some(t) = node_type {
                node.set_attr("type", t);
            }
            let nid = node.id().unwrap_or(id).to_string();
            for (k, v) in attributes {
                set_node_set(node, "instance_attributes", &format!("nodes-{nid}"), k, v);
            }
            for (k, v) in utilization {
                set_node_set(node, "utilization", &format!("nodes-{nid}-utilization"), k, v);
            }
            Ok(vec![])
        }
        ConfigCommand::Delete(ids) => delete(cib, ids),
        ConfigCommand::Monitor { rsc, op } => {
            let is_primitive = cib
                .path(&["configuration", "resources"])
                .and_then(|r| r.find_id(rsc))
                .map(|e| e.name == "primitive");
            match is_primitive {
                None => return Err(CrmError::NoSuchResource(rsc.clone())),
                Some(false) => {
                    return Err(CrmError::BadChild {
                        rsc: rsc.clone(),
                        container: "monitor".into(),
                        reason: "only primitives have operations".into(),
                    })
                }
                Some(true) => {}
            }
            check_new_id(cib, op.id().unwrap_or_default())?;
            let prim = section_mut(cib, "resources").find_id_mut(rsc).expect("checked");
            prim.child_or_insert("operations").children.push(op.clone());
            Ok(vec![])
        }
        ConfigCommand::Show { .. } => Ok(vec![]),
    }
}

/// `rename OLD NEW`: gives a resource or constraint a new id and updates every constraint
/// that refers to it.
///
/// # Errors
/// [`CrmError::NoSuchObject`], [`CrmError::BadId`], [`CrmError::Exists`]; `cib` unchanged.
pub fn rename(cib: &mut Element, old: &str, new: &str) -> Result<(), CrmError> {
    if !valid_id(new) {
        return Err(CrmError::BadId(new.into()));
    }
    let conf = cib.child("configuration").ok_or_else(|| CrmError::NoSuchObject(old.into()))?;
    if conf.find_id(old).is_none() {
        return Err(CrmError::NoSuchObject(old.into()));
    }
    check_new_id(cib, new)?;
    let conf = cib.child_mut("configuration").expect("checked");
    conf.find_id_mut(old).expect("checked").set_attr("id", new);
    fn fix(e: &mut Element, old: &str, new: &str) {
        for key in ["rsc", "with-rsc", "first", "then"] {
            if e.attr(key) == Some(old) {
                e.set_attr(key, new);
            }
        }
        if e.name == "resource_ref" && e.id() == Some(old) {
            e.set_attr("id", new);
        }
        for c in e.children.iter_mut() {
            fix(c, old, new);
        }
    }
    if let Some(cons) = conf.child_mut("constraints") {
        fix(cons, old, new);
    }
    Ok(())
}

/// Applies a script of configure commands (one per line, `\\` continues a line, `#` starts
/// a comment; `commit`, `end`, `up` are ignored) and returns the informational messages.
///
/// # Errors
/// [`CrmError::AtLine`] for the first failing command; `cib` may then hold the commands
/// before it, so callers work on a copy.
pub fn apply_script(cib: &mut Element, text: &str, force: bool) -> Result<Vec<String>, CrmError> {
    let mut info = Vec::new();
    let mut pending = String::new();
    let mut start = 0;
    for (n, line) in text.lines().enumerate() {
        if pending.is_empty() {
            start = n + 1;
        }
        if super::lex::needs_continuation(line) {
            pending.push_str(line.trim_end().trim_end_matches('\\'));
            pending.push(' ');
            continue;
        }
        pending.push_str(line);
        let cmd_text = std::mem::take(&mut pending);
        let at = |e: CrmError| CrmError::AtLine { line: start, source: Box::new(e) };
        let words = super::tokenize(&cmd_text).map_err(at)?;
        match words.first().map(String::as_str) {
            None | Some("commit" | "end" | "up" | "configure") => continue,
            _ => {}
        }
        let cmd = parse_configure(&words).map_err(at)?;
        info.extend(apply(cib, &cmd, force).map_err(at)?);
    }
    Ok(info)
}

/// Replaces the whole configuration with the one `text` describes (`load replace`, `edit`).
///
/// # Errors
/// As [`apply_script`]; `cib` is unchanged on error.
pub fn replace_config(cib: &mut Element, text: &str, force: bool) -> Result<Vec<String>, CrmError> {
    let mut copy = cib.clone();
    if let Some(conf) = copy.child_mut("configuration") {
        for c in conf.children.iter_mut() {
            if SECTION_ORDER.contains(&c.name.as_str()) {
                c.children.clear();
            }
        }
    }
    let info = apply_script(&mut copy, text, force)?;
    *cib = copy;
    Ok(info)
}

fn set_node_set(node: &mut Element, kind: &str, set_id: &str, k: &str, v: &str) {
    let set = match node.children.iter().position(|c| c.name == kind) {
        Some(p) => &mut node.children[p],
        None => {
            node.children.push(Element::new(kind).with_attr("id", set_id));
            node.children.last_mut().expect("pushed")
        }
    };
    set_nvpair(set, k, v);
}

/// Sets `name=value` in an nvpair set, creating the nvpair with id `SET-NAME` if needed.
pub fn set_nvpair(set: &mut Element, name: &str, value: &str) {
    if let Some(p) =
        set.children.iter_mut().find(|c| c.name == "nvpair" && c.attr("name") == Some(name))
    {
        p.set_attr("value", value);
        return;
    }
    let set_id = set.id().unwrap_or_default().to_string();
    set.children.push(nvpair(&set_id, name, value));
}

fn apply_container(
    cib: &mut Element,
    element: &Element,
    children: &[String],
) -> Result<Vec<String>, CrmError> {
    let id = element.id().unwrap_or_default();
    check_new_id(cib, id)?;
    let resources = cib.path(&["configuration", "resources"]);
    for (i, c) in children.iter().enumerate() {
        if children[..i].contains(c) {
            return Err(CrmError::BadChild {
                rsc: c.clone(),
                container: id.into(),
                reason: "listed twice".into(),
            });
        }
        let top = resources.and_then(|r| r.children.iter().find(|e| e.id() == Some(c)));
        let Some(top) = top else {
            if resources.and_then(|r| r.find_id(c)).is_some() {
                return Err(CrmError::BadChild {
                    rsc: c.clone(),
                    container: id.into(),
                    reason: "it is already inside another resource".into(),
                });
            }
            return Err(CrmError::NoSuchResource(c.clone()));
        };
        let ok = match element.name.as_str() {
            "group" => top.name == "primitive",
            _ => top.name == "primitive" || top.name == "group",
        };
        if !ok {
            return Err(CrmError::BadChild {
                rsc: c.clone(),
                container: id.into(),
                reason: format!("a {} cannot go into a {}", top.name, element.name),
            });
        }
    }
    let res = section_mut(cib, "resources");
    let mut container = element.clone();
    for c in children {
        let pos = res.children.iter().position(|e| e.id() == Some(c)).expect("checked above");
        container.children.push(res.children.remove(pos));
    }
    res.children.push(container);
    Ok(vec![])
}

fn references(c: &Element, id: &str) -> bool {
    let mut hit = false;
    c.walk(&mut |e| {
        for key in ["rsc", "with-rsc", "first", "then"] {
            if e.attr(key) == Some(id) {
                hit = true;
            }
        }
        if e.name == "resource_ref" && e.id() == Some(id) {
            hit = true;
        }
    });
    hit
}

fn delete(cib: &mut Element, ids: &[String]) -> Result<Vec<String>, CrmError> {
    let Some(conf) = cib.child("configuration") else {
        return Err(CrmError::NoSuchObject(ids[0].clone()));
    };
    for id in ids {
        if conf.find_id(id).is_none() {
            return Err(CrmError::NoSuchObject(id.clone()));
        }
    }
    let mut info = Vec::new();
    let conf = cib.child_mut("configuration").expect("checked");
    for id in ids {
        let mut removed_rscs = Vec::new();
        if let Some(e) = conf.find_id(id) {
            e.walk(&mut |x| {
                if crate::cib::ops::RESOURCE_KINDS.contains(&x.name.as_str()) {
                    if let Some(i) = x.id() {
                        removed_rscs.push(i.to_string());
                    }
                }
            });
        }
        conf.remove_id(id);
        // A container left empty goes too.
        if let Some(res) = conf.child_mut("resources") {
            res.children.retain(|r| {
                let empty = matches!(r.name.as_str(), "group" | "clone" | "master")
                    && !r
                        .children
                        .iter()
                        .any(|c| crate::cib::ops::RESOURCE_KINDS.contains(&c.name.as_str()));
                if empty {
                    if let Some(i) = r.id() {
                        removed_rscs.push(i.to_string());
                    }
                }
                !empty
            });
        }
        if let Some(cons) = conf.child_mut("constraints") {
            cons.children.retain(|c| {
                let hanging = removed_rscs.iter().any(|r| references(c, r));
                if hanging {
                    info.push(format!("hanging {} {} deleted", c.name, c.id().unwrap_or("?")));
                }
                !hanging
            });
        }
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crmsh::tokenize;

    fn cmd(line: &str) -> Result<ConfigCommand, CrmError> {
        parse_configure(&tokenize(line).unwrap())
    }

    fn empty() -> Element {
        Element::parse(
            r#"<cib epoch="1" num_updates="0" admin_epoch="0"><configuration><crm_config/><nodes/><resources/><constraints/></configuration><status/></cib>"#,
        )
        .unwrap()
    }

    fn run(cib: &mut Element, line: &str) -> Result<Vec<String>, CrmError> {
        apply(cib, &cmd(line)?, false)
    }

    #[test]
    fn primitive_ids_and_ops() {
        let ConfigCommand::Primitive(p) = cmd(
            "primitive ClusterIP ocf:heartbeat:IPaddr2 params ip=10.0.0.9 cidr_netmask=32 meta target-role=Stopped op monitor interval=30s OCF_CHECK_LEVEL=10 op start timeout=60s",
        )
        .unwrap() else {
            panic!()
        };
        let x = p.to_compact_string();
        assert!(x.starts_with(r#"<primitive id="ClusterIP" class="ocf" provider="heartbeat" type="IPaddr2"><instance_attributes id="ClusterIP-instance_attributes"><nvpair name="ip" value="10.0.0.9" id="ClusterIP-instance_attributes-ip"/>"#), "{x}");
        assert!(x.contains(r#"<nvpair name="target-role" value="Stopped" id="ClusterIP-meta_attributes-target-role"/>"#));
        assert!(x.contains(r#"<op name="monitor" interval="30s" id="ClusterIP-monitor-30s"><instance_attributes id="ClusterIP-monitor-30s-instance_attributes"><nvpair name="OCF_CHECK_LEVEL" value="10""#));
        assert!(
            x.contains(r#"<op name="start" interval="0s" timeout="60s" id="ClusterIP-start-0s"/>"#)
        );
        let ConfigCommand::Primitive(p) = cmd("primitive f stonith:fence_ipmilan").unwrap() else {
            panic!()
        };
        assert_eq!(p.attr("provider"), None);
        assert_eq!(p.attr("class"), Some("stonith"));
    }

    #[test]
    fn primitive_errors_name_the_word() {
        let e = cmd("primitive x IPaddr2 parms ip=1").unwrap_err();
        assert_eq!(e.to_string(), "unknown keyword 'parms' (did you mean 'params'?)");
        let e = cmd("primitive x IPaddr2 op monitr interval=1").unwrap_err();
        assert_eq!(e.to_string(), "invalid action 'monitr' (did you mean 'monitor'?)");
        let e = cmd("primitive x IPaddr2 op monitor intervl=10s").unwrap_err();
        assert!(e.to_string().contains("'intervl'") && e.to_string().contains("'interval'"), "{e}");
        assert!(matches!(cmd("primitive x foo:bar").unwrap_err(), CrmError::BadClass(_)));
        assert!(matches!(cmd("primitive 9x Dummy").unwrap_err(), CrmError::BadId(_)));
        let e = cmd("primitive x Dummy meta target-rol=Stopped").unwrap_err();
        assert!(e.to_string().contains("did you mean 'target-role'"), "{e}");
    }

    #[test]
    fn containers_and_constraints() {
        let mut cib = empty();
        run(&mut cib, "primitive d ocf:linbit:drbd params drbd_resource=r0").unwrap();
        run(&mut cib, "primitive fs Filesystem params device=/dev/drbd0").unwrap();
        run(&mut cib, "ms ms_d d meta master-max=1 notify=true").unwrap();
        let ms = cib.find_id("ms_d").unwrap();
        assert_eq!(ms.name, "master");
        assert_eq!(ms.children[1].id(), Some("d"));
        assert!(matches!(run(&mut cib, "clone c d").unwrap_err(), CrmError::BadChild { .. }));
        run(&mut cib, "colocation fs_on_drbd inf: fs ms_d:Master").unwrap();
        assert_eq!(
            cib.find_id("fs_on_drbd").unwrap().to_compact_string(),
            r#"<rsc_colocation id="fs_on_drbd" score="INFINITY" rsc="fs" with-rsc="ms_d" with-rsc-role="Master"/>"#
        );
        run(&mut cib, "order o1 mandatory: ms_d:promote fs:start").unwrap();
        assert_eq!(
            cib.find_id("o1").unwrap().to_compact_string(),
            r#"<rsc_order id="o1" kind="Mandatory" first="ms_d" first-action="promote" then="fs" then-action="start"/>"#
        );
        run(&mut cib, "order o2 inf: ms_d fs").unwrap();
        assert_eq!(cib.find_id("o2").unwrap().attr("kind"), Some("Mandatory"));
        run(&mut cib, "location l1 fs 50: node1").unwrap();
        assert_eq!(
            cib.find_id("l1").unwrap().to_compact_string(),
            r#"<rsc_location id="l1" rsc="fs" score="50" node="node1"/>"#
        );
        run(&mut cib, "location l2 fs rule -inf: #uname eq node2 and pingd lt 1").unwrap();
        assert_eq!(
            cib.find_id("l2").unwrap().to_compact_string(),
            r##"<rsc_location id="l2" rsc="fs"><rule id="l2-rule" score="-INFINITY" boolean-op="and"><expression attribute="#uname" operation="eq" value="node2" id="l2-rule-expression"/><expression attribute="pingd" operation="lt" value="1" id="l2-rule-expression-0"/></rule></rsc_location>"##
        );
        assert_eq!(
            run(&mut cib, "colocation c2 inf: fs ghost").unwrap_err(),
            CrmError::NoSuchResource("ghost".into())
        );
        assert_eq!(
            run(&mut cib, "location l1 fs 1: n").unwrap_err(),
            CrmError::Exists("l1".into())
        );
        let before = cib.clone();
        let info = run(&mut cib, "delete fs").unwrap();
        assert_eq!(info.len(), 5, "{info:?}");
        assert!(cib.find_id("l2").is_none() && cib.find_id("ms_d").is_some());
        assert_ne!(before, cib);
    }

    #[test]
    fn script_round_trips_through_show() {
        let mut cib = empty();
        let script = "property stonith-enabled=false\n# a comment\nprimitive d Dummy \\\n  op monitor interval=10s\nprimitive e Dummy\ngroup g d e meta target-role=Stopped\nnode 1: node1 attributes standby=on\nlocation l g rule 10: #uname eq node1\ncommit\n";
        apply_script(&mut cib, script, false).unwrap();
        let shown = crate::crmsh::show_config(&cib, &crate::crmsh::ShowFilter::All);
        let mut again = cib.clone();
        replace_config(&mut again, &shown, false).unwrap();
        assert_eq!(crate::crmsh::show_config(&again, &crate::crmsh::ShowFilter::All), shown);
        let e = apply_script(
            &mut cib.clone(),
            "primitive x Dummy\nprimitive y Dummy parms a=1\n",
            false,
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "line 2: unknown keyword 'parms' (did you mean 'params'?)");
        let before = cib.clone();
        assert!(replace_config(&mut cib, "primitive z Dummy\nbogus\n", false).is_err());
        assert_eq!(cib, before);
    }

    #[test]
    fn rename_updates_references() {
        let mut cib = empty();
        run(&mut cib, "primitive a Dummy").unwrap();
        run(&mut cib, "primitive b Dummy").unwrap();
        run(&mut cib, "colocation c inf: a b").unwrap();
        rename(&mut cib, "a", "a2").unwrap();
        assert_eq!(cib.find_id("c").unwrap().attr("rsc"), Some("a2"));
        assert_eq!(rename(&mut cib, "a2", "b").unwrap_err(), CrmError::Exists("b".into()));
        assert_eq!(rename(&mut cib, "zz", "y").unwrap_err(), CrmError::NoSuchObject("zz".into()));
    }

    #[test]
    fn resource_sets() {
        let mut cib = empty();
        for r in ["a", "b", "c", "d"] {
            run(&mut cib, &format!("primitive {r} Dummy")).unwrap();
        }
        run(&mut cib, "colocation c3 inf: a b c").unwrap();
        assert_eq!(
            cib.find_id("c3").unwrap().to_compact_string(),
            r#"<rsc_colocation id="c3" score="INFINITY"><resource_set id="c3-0"><resource_ref id="a"/><resource_ref id="b"/><resource_ref id="c"/></resource_set></rsc_colocation>"#
        );
        run(&mut cib, "order o3 Mandatory: a:promote ( b c ) d").unwrap();
        assert_eq!(
            cib.find_id("o3").unwrap().to_compact_string(),
            r#"<rsc_order id="o3" kind="Mandatory"><resource_set id="o3-0" action="promote"><resource_ref id="a"/></resource_set><resource_set id="o3-1" sequential="false"><resource_ref id="b"/><resource_ref id="c"/></resource_set><resource_set id="o3-2"><resource_ref id="d"/></resource_set></rsc_order>"#
        );
        run(&mut cib, "order o4 Optional: [ a b ] c").unwrap();
        let shown = crate::crmsh::show_config(&cib, &crate::crmsh::ShowFilter::All);
        assert!(shown.contains("colocation c3 inf: a b c\n"), "{shown}");
        assert!(shown.contains("order o3 Mandatory: a:promote ( b c ) d\n"), "{shown}");
        assert!(shown.contains("order o4 Optional: [ a b ] c\n"), "{shown}");
        assert_eq!(
            run(&mut cib, "colocation c4 inf: a ( b ghost )").unwrap_err(),
            CrmError::NoSuchResource("ghost".into())
        );
        assert!(cmd("order o5 inf: ( a b").is_err());
        assert!(cmd("order o5 inf: a ( b:start c:stop )").is_err());
    }

    #[test]
    fn monitor_verb_adds_an_op() {
        let mut cib = empty();
        run(&mut cib, "primitive d Dummy").unwrap();
        run(&mut cib, "monitor d:Promoted 15s:30s").unwrap();
        assert_eq!(
            cib.find_id("d-monitor-15s").unwrap().to_compact_string(),
            r#"<op name="monitor" interval="15s" timeout="30s" role="Promoted" id="d-monitor-15s"/>"#
        );
        assert_eq!(
            run(&mut cib, "monitor d 15s").unwrap_err(),
            CrmError::Exists("d-monitor-15s".into())
        );
        assert_eq!(
            run(&mut cib, "monitor x 15s").unwrap_err(),
            CrmError::NoSuchResource("x".into())
        );
    }

    #[test]
    fn properties_and_defaults() {
        let mut cib = empty();
        run(&mut cib, "property stonith-enabled=false no-quorum-policy=ignore").unwrap();
        let set = cib.find_id("cib-bootstrap-options").unwrap();
        assert_eq!(set.children[0].id(), Some("cib-bootstrap-options-stonith-enabled"));
        run(&mut cib, "property stonith-enabled=true").unwrap();
        assert_eq!(
            cib.find_id("cib-bootstrap-options-stonith-enabled").unwrap().attr("value"),
            Some("true")
        );
        let e = run(&mut cib, "property stonith-enable=false").unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown attribute 'stonith-enable' in property (did you mean 'stonith-enabled'?)"
        );
        let e = run(&mut cib, "property no-quorum-policy=bogus").unwrap_err();
        assert!(matches!(e, CrmError::BadValue { .. }));
        // Value checks are crm_verify's (cib::verify::check_cluster_option).
        let e = run(&mut cib, "property fencing-action=boom").unwrap_err();
        assert_eq!(
            e.to_string(),
            "fencing-action: invalid value 'boom' (expected reboot, off, poweroff)"
        );
        assert!(run(&mut cib, "property stonith-timeout=soon").is_err());
        run(&mut cib, "property cluster-recheck-interval=PT5M").unwrap();
        run(&mut cib, "rsc_defaults resource-stickiness=100").unwrap();
        assert!(cib.find_id("rsc-options-resource-stickiness").is_some());
        run(&mut cib, "op_defaults timeout=60s").unwrap();
        assert!(cib.find_id("op-options-timeout").is_some());
        let conf = cib.child("configuration").unwrap();
        let names: Vec<&str> = conf.children.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            ["crm_config", "nodes", "resources", "constraints", "rsc_defaults", "op_defaults"]
        );
    }
}
