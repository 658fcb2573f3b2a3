//! `crm ra`: the installed resource agents and their meta-data.
//!
//! OCF agents are the executables under `$OCF_ROOT/resource.d/PROVIDER/` (default root
//! `/usr/lib/ocf`), LSB scripts live in `/etc/init.d`, fence agents are `/usr/sbin/fence_*`.
//! Meta-data comes from running the agent itself (`meta-data` action, or `-o metadata` for
//! fence agents) with the OCF environment set, as crmsh does, bounded in time by
//! [`crate::cib::verify::run_meta_data`] like crm_verify's own look-ups.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cib::xml::Element;

use super::CrmError;

/// Where the agents are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentDirs {
    /// `OCF_ROOT` (holds `resource.d/`).
    pub ocf_root: PathBuf,
    /// LSB init scripts.
    pub init_d: PathBuf,
    /// Directory holding `fence_*` executables.
    pub fence_dir: PathBuf,
}

impl AgentDirs {
    /// The standard locations, `OCF_ROOT` taken from the environment when set.
    pub fn from_env() -> Self {
        AgentDirs {
            ocf_root: std::env::var_os("OCF_ROOT")
                .map(PathBuf::from)
                .unwrap_or_else(|| "/usr/lib/ocf".into()),
            init_d: "/etc/init.d".into(),
            fence_dir: "/usr/sbin".into(),
        }
    }

    fn ocf_dir(&self) -> PathBuf {
        self.ocf_root.join("resource.d")
    }

    /// OCF providers, sorted.
    pub fn providers(&self) -> Vec<String> {
        let mut v: Vec<String> = list_dir(&self.ocf_dir())
            .into_iter()
            .filter(|p| self.ocf_dir().join(p).is_dir())
            .collect();
        v.sort();
        v
    }

    /// The lines of `crm ra classes`: `lsb`, `ocf / heartbeat pacemaker`, `service`, `stonith`.
    pub fn classes(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.init_d.is_dir() {
            out.push("lsb".to_string());
        }
        out.push(format!("ocf / {}", self.providers().join(" ")));
        out.push("service".to_string());
        if Path::new("/run/systemd/system").is_dir() {
            out.push("systemd".to_string());
        }
        out.push("stonith".to_string());
        out
    }

    /// The agents of `class` (and `provider` for ocf; all providers when `None`), sorted.
    ///
    /// # Errors
    /// [`CrmError::NoSuchClass`] for a class not available here.
    pub fn list(&self, class: &str, provider: Option<&str>) -> Result<Vec<String>, CrmError> {
        let mut v = match class {
            "ocf" => {
                let provs = match provider {
                    Some(p) => vec![p.to_string()],
                    None => self.providers(),
                };
                let mut all = Vec::new();
                for p in provs {
                    all.extend(
                        list_dir(&self.ocf_dir().join(&p))
                            .into_iter()
                            .filter(|a| !a.starts_with('.')),
                    );
                }
                all
            }
            "lsb" | "service" => list_dir(&self.init_d)
                .into_iter()
                .filter(|s| !s.starts_with('.') && !s.starts_with("README"))
                .collect(),
            "stonith" => {
                list_dir(&self.fence_dir).into_iter().filter(|f| f.starts_with("fence_")).collect()
            }
            "systemd" if Path::new("/run/systemd/system").is_dir() => Vec::new(),
            other => return Err(CrmError::NoSuchClass(other.to_string())),
        };
        v.sort();
        v.dedup();
        Ok(v)
    }

    /// The providers that have OCF agent `ty`.
    pub fn providers_of(&self, ty: &str) -> Vec<String> {
        self.providers().into_iter().filter(|p| self.ocf_dir().join(p).join(ty).is_file()).collect()
    }

    /// Runs the agent and returns its meta-data XML. `agent` is `class:provider:type`,
    /// `class:type` or a bare type (ocf:heartbeat).
    ///
    /// # Errors
    /// [`CrmError::NoMetaData`] when the agent is missing or prints nothing usable.
    pub fn meta_data(&self, agent: &str) -> Result<(String, Element), CrmError> {
        let none = || CrmError::NoMetaData(agent.to_string());
        let (class, provider, ty) = super::configure::parse_agent(agent).map_err(|_| none())?;
        let full = match &provider {
            Some(p) => format!("{class}:{p}:{ty}"),
            None => format!("{class}:{ty}"),
        };
        let cmd = match class.as_str() {
            "ocf" => {
                let p = provider.clone().unwrap_or_else(|| "heartbeat".into());
                let exe = self.ocf_dir().join(&p).join(&ty);
                if !exe.is_file() {
                    return Err(none());
                }
                let mut cmd = Command::new(&exe);
                cmd.arg("meta-data")
                    .env("OCF_ROOT", &self.ocf_root)
                    .env("OCF_RESOURCE_INSTANCE", &ty)
                    .env("OCF_RESOURCE_TYPE", &ty)
                    .env("OCF_RESOURCE_PROVIDER", &p);
                cmd
            }
            "stonith" => {
                let exe = self.fence_dir.join(&ty);
                if !ty.starts_with("fence_") || !exe.is_file() {
                    return Err(none());
                }
                let mut cmd = Command::new(&exe);
                cmd.args(["-o", "metadata"]);
                cmd
            }
            _ => return Err(none()),
        };
        let (_, text) = crate::cib::verify::run_meta_data(cmd).ok_or_else(none)?;
        let xml = Element::parse(&text).map_err(|_| none())?;
        if xml.name != "resource-agent" {
            return Err(none());
        }
        Ok((full, xml))
    }
}

/// Checks a primitive's parameters against its agent's meta-data, as crmsh's strict check
/// mode does: every name must be a parameter of the agent and every required parameter must
/// be set.
///
/// # Errors
/// [`CrmError::UnknownParameter`] (with the closest real name) or
/// [`CrmError::MissingParameter`].
pub fn check_params(
    agent: &str,
    md: &Element,
    params: &[(String, String)],
) -> Result<(), CrmError> {
    let known: Vec<&str> = md
        .child("parameters")
        .map(|p| p.children_named("parameter").filter_map(|x| x.attr("name")).collect())
        .unwrap_or_default();
    for (name, _) in params {
        if !known.contains(&name.as_str()) {
            return Err(CrmError::UnknownParameter {
                word: name.clone(),
                agent: agent.to_string(),
                suggestion: super::suggest(name, &known),
            });
        }
    }
    for name in crate::cib::verify::required_params_of(md) {
        if !params.iter().any(|(n, _)| *n == name) {
            return Err(CrmError::MissingParameter { name, agent: agent.to_string() });
        }
    }
    Ok(())
}

fn list_dir(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok()).filter_map(|e| e.file_name().into_string().ok()).collect()
        })
        .unwrap_or_default()
}

/// Lays names out in columns as crmsh does on an 80-column terminal: each column is as wide
/// as the longest name plus 4; full rows end with the last name, the last partial row keeps
/// its padding.
pub fn multicolumn(names: &[String]) -> String {
    let width = names.iter().map(String::len).max().unwrap_or(0) + 4;
    let cols = (80 / width).max(1);
    let mut out = String::new();
    for row in names.chunks(cols) {
        for (i, n) in row.iter().enumerate() {
            if row.len() == cols && i == cols - 1 {
                out.push_str(n);
            } else {
                out.push_str(&format!("{n:<width$}"));
            }
        }
        out.push('\n');
    }
    out
}

fn desc(e: &Element, name: &str) -> String {
    e.child(name).and_then(|d| d.text.clone()).map(|t| t.trim().to_string()).unwrap_or_default()
}

/// Renders meta-data the way `crm ra info` does: short description and agent name, long
/// description, parameters (`*` = required, `[]` = default), then the advised operation
/// defaults.
pub fn render_info(full_name: &str, md: &Element) -> String {
    let mut out = String::new();
    let mut short = desc(md, "shortdesc");
    if short.is_empty() {
        // Fence agents put it in an attribute.
        short = md.attr("shortdesc").unwrap_or_default().to_string();
    }
    out.push_str(&format!("{short} ({full_name})\n\n"));
    let long = desc(md, "longdesc");
    if !long.is_empty() {
        out.push_str(&long);
        out.push_str("\n\n");
    }
    out.push_str("Parameters (*: required, []: default):\n\n");
    if let Some(params) = md.child("parameters") {
        for p in params.children_named("parameter") {
            let name = p.attr("name").unwrap_or_default();
            let req = if p.attr("required") == Some("1") { "*" } else { "" };
            let content = p.child("content");
            let ty = content.and_then(|c| c.attr("type")).unwrap_or("string");
            let short = desc(p, "shortdesc");
            let long = desc(p, "longdesc");
            let short = if short == long { String::new() } else { short };
            match content.and_then(|c| c.attr("default")) {
                Some(d) => out.push_str(&format!("{name}{req} ({ty}, [{d}]): {short}\n")),
                None => out.push_str(&format!("{name}{req} ({ty}): {short}\n")),
            }
            for line in long.lines() {
                out.push_str(&format!("    {line}\n"));
            }
            out.push('\n');
        }
    }
    out.push_str("Operations' defaults (advisory minimum):\n\n");
    let actions: Vec<&Element> = md
        .child("actions")
        .map(|a| {
            a.children_named("action")
                .filter(|x| {
                    !matches!(
                        x.attr("name"),
                        Some("meta-data" | "validate-all" | "metadata" | "usage")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let width =
        actions.iter().map(|a| a.attr("name").unwrap_or_default().len()).max().unwrap_or(0) + 2;
    for a in actions {
        let mut name = a.attr("name").unwrap_or_default().to_string();
        if let Some(r) = a.attr("role") {
            name = format!("{name}_{r}");
        }
        let rest: Vec<String> = a
            .attrs
            .iter()
            .filter(|(k, _)| k != "name" && k != "role")
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        out.push_str(&format!("    {name:<width$}{}\n", rest.join(" ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_like_crmsh() {
        let names: Vec<String> = [
            "ClusterMon",
            "Dummy",
            "HealthCPU",
            "HealthIOWait",
            "HealthSMART",
            "Stateful",
            "SysInfo",
            "attribute",
            "controld",
            "ifspeed",
            "o2cb",
            "ping",
            "remote",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let expected = "ClusterMon      Dummy           HealthCPU       HealthIOWait    HealthSMART\nStateful        SysInfo         attribute       controld        ifspeed\no2cb            ping            remote          \n";
        assert_eq!(multicolumn(&names), expected);
    }

    #[test]
    fn info_layout() {
        let md = Element::parse(
            r#"<resource-agent name="D"><longdesc>Long text.</longdesc><shortdesc>Short</shortdesc><parameters><parameter name="state" required="1"><longdesc>Where.</longdesc><shortdesc>State file</shortdesc><content type="string" default="/x"/></parameter><parameter name="fake"><longdesc>Same</longdesc><shortdesc>Same</shortdesc><content type="string"/></parameter></parameters><actions><action name="start" timeout="20s"/><action name="monitor" timeout="20s" interval="10s" depth="0"/><action name="meta-data" timeout="5s"/></actions></resource-agent>"#,
        )
        .unwrap();
        let expected = "Short (ocf:heartbeat:D)\n\nLong text.\n\nParameters (*: required, []: default):\n\nstate* (string, [/x]): State file\n    Where.\n\nfake (string): \n    Same\n\nOperations' defaults (advisory minimum):\n\n    start    timeout=20s\n    monitor  timeout=20s interval=10s depth=0\n";
        assert_eq!(render_info("ocf:heartbeat:D", &md), expected);
    }
}
