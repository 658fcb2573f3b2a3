//! Agent meta-data (§1.7): parsing the XML an agent prints for `meta-data` (OCF, OCF 1.1,
//! fence agents) into [`AgentMetadata`], and a bounded per-agent cache.

use std::collections::BTreeMap;

use crate::cib::xml::{Element, XmlError};

/// One `<parameter>`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ParamInfo {
    /// `name`.
    pub name: String,
    /// `required="1"`.
    pub required: bool,
    /// `unique="1"` (OCF 1.0).
    pub unique: bool,
    /// `reloadable="1"` (OCF 1.1).
    pub reloadable: bool,
    /// `<content type>`.
    pub content_type: String,
    /// `<content default>`.
    pub default: Option<String>,
    /// English `<shortdesc>` (or the fence-agent `shortdesc` attribute).
    pub shortdesc: String,
}

/// One `<action>`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ActionInfo {
    /// `name`.
    pub name: String,
    /// `timeout` as written (`20s`).
    pub timeout: Option<String>,
    /// `interval` as written.
    pub interval: Option<String>,
    /// `depth` (`OCF_CHECK_LEVEL`).
    pub depth: Option<String>,
    /// `role` (Promoted/Unpromoted/Master/Slave).
    pub role: Option<String>,
}

/// Parsed meta-data of one agent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AgentMetadata {
    /// `<resource-agent name>`.
    pub name: String,
    /// `<version>` (OCF API version implemented), if present.
    pub ocf_version: Option<String>,
    /// English short description.
    pub shortdesc: String,
    /// English long description.
    pub longdesc: String,
    /// Parameters in document order.
    pub params: Vec<ParamInfo>,
    /// Actions in document order.
    pub actions: Vec<ActionInfo>,
}

/// Why meta-data could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetadataError {
    /// Not well-formed XML.
    #[error("meta-data of {agent} is not valid XML")]
    Xml {
        /// The agent.
        agent: String,
        /// The parser error.
        #[source]
        source: XmlError,
    },
    /// The root is not `<resource-agent>`.
    #[error("meta-data of {agent} has root <{root}>, expected <resource-agent>")]
    Root {
        /// The agent.
        agent: String,
        /// The root element found.
        root: String,
    },
}

fn desc(e: &Element, tag: &str) -> String {
    let mut all = e.children_named(tag);
    let first = e.children_named(tag).find(|d| d.attr("lang").map_or(true, |l| l == "en"));
    first.or_else(|| all.next()).and_then(|d| d.text.clone()).unwrap_or_default().trim().to_string()
}

fn flag(e: &Element, key: &str) -> bool {
    matches!(e.attr(key), Some("1" | "true" | "yes"))
}

impl AgentMetadata {
    /// Parses meta-data XML printed by agent `agent`.
    ///
    /// # Errors
    /// Malformed XML, or a root other than `<resource-agent>`.
    pub fn parse(agent: &str, xml: &str) -> Result<AgentMetadata, MetadataError> {
        let root = Element::parse(xml)
            .map_err(|source| MetadataError::Xml { agent: agent.to_string(), source })?;
        if root.name != "resource-agent" {
            return Err(MetadataError::Root { agent: agent.to_string(), root: root.name });
        }
        let mut md = AgentMetadata {
            name: root.attr("name").unwrap_or(agent).to_string(),
            ocf_version: root.child("version").and_then(|v| v.text.clone()),
            shortdesc: desc(&root, "shortdesc"),
            longdesc: desc(&root, "longdesc"),
            ..AgentMetadata::default()
        };
        if md.shortdesc.is_empty() {
            md.shortdesc = root.attr("shortdesc").unwrap_or_default().to_string();
        }
        for p in
            root.path(&["parameters"]).into_iter().flat_map(|ps| ps.children_named("parameter"))
        {
            let content = p.child("content");
            let mut shortdesc = desc(p, "shortdesc");
            if shortdesc.is_empty() {
                shortdesc = p.attr("shortdesc").unwrap_or_default().to_string();
            }
            md.params.push(ParamInfo {
                name: p.attr("name").unwrap_or_default().to_string(),
                required: flag(p, "required"),
                unique: flag(p, "unique"),
                reloadable: flag(p, "reloadable"),
                content_type: content.and_then(|c| c.attr("type")).unwrap_or("string").to_string(),
                default: content.and_then(|c| c.attr("default")).map(String::from),
                shortdesc,
            });
        }
        for a in root.path(&["actions"]).into_iter().flat_map(|as_| as_.children_named("action")) {
            let get = |k: &str| a.attr(k).map(String::from);
            md.actions.push(ActionInfo {
                name: a.attr("name").unwrap_or_default().to_string(),
                timeout: get("timeout"),
                interval: get("interval"),
                depth: get("depth"),
                role: get("role"),
            });
        }
        Ok(md)
    }

    /// The parameter named `name`.
    pub fn param(&self, name: &str) -> Option<&ParamInfo> {
        self.params.iter().find(|p| p.name == name)
    }

    /// True if the agent advertises action `name`.
    pub fn has_action(&self, name: &str) -> bool {
        self.actions.iter().any(|a| a.name == name)
    }
}

/// Meta-data per agent (`class:provider:type`), as Pacemaker caches it. Bounded: when full,
/// the entry with the smallest key is evicted.
#[derive(Debug)]
pub struct MetadataCache {
    entries: BTreeMap<String, AgentMetadata>,
    max_entries: usize,
}

impl MetadataCache {
    /// An empty cache holding at most `max_entries` agents.
    ///
    /// # Panics
    /// If `max_entries` is 0.
    pub fn new(max_entries: usize) -> MetadataCache {
        assert!(max_entries > 0, "a metadata cache needs room for one entry");
        MetadataCache { entries: BTreeMap::new(), max_entries }
    }

    /// The cached meta-data of `key`.
    pub fn get(&self, key: &str) -> Option<&AgentMetadata> {
        self.entries.get(key)
    }

    /// Stores meta-data under `key` (e.g. `ocf:heartbeat:IPaddr2`).
    pub fn insert(&mut self, key: &str, md: AgentMetadata) {
        if !self.entries.contains_key(key) && self.entries.len() >= self.max_entries {
            let first = self.entries.keys().next().cloned().expect("cache is not empty");
            self.entries.remove(&first);
        }
        self.entries.insert(key.to_string(), md);
    }

    /// Number of cached agents.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
