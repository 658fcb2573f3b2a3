//! `crm_verify`'s checks: schema-level validation ([`super::validate`]), cluster option
//! values, the "no STONITH resources" rule, and (as warnings) agent parameters the agent's
//! meta-data marks `required="1"` but the configuration does not set.
//!
//! Messages carry Pacemaker's texts and the function name prefix crm_verify prints with `-V`
//! (e.g. `(unpack_resources) \terror: ...`); [`Finding::line`] renders one.

use super::model::{Cib, Resource};
use super::score::{is_bool, is_true};
use super::validate::validate;
use super::xml::Element;

/// Severity of a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Makes the configuration invalid (exit 78).
    Error,
    /// Reported with `-V`, does not fail the check.
    Warning,
}

/// One problem found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Severity.
    pub level: Level,
    /// The Pacemaker function the message is attributed to.
    pub origin: &'static str,
    /// The text.
    pub message: String,
}

impl Finding {
    fn err(origin: &'static str, message: String) -> Self {
        Finding { level: Level::Error, origin, message }
    }
    fn warn(origin: &'static str, message: String) -> Self {
        Finding { level: Level::Warning, origin, message }
    }
    /// The line crm_verify prints with `-V`: `(origin) \terror: message`.
    pub fn line(&self) -> String {
        let l = match self.level {
            Level::Error => "error",
            Level::Warning => "warning",
        };
        format!("({}) \t{l}: {}", self.origin, self.message)
    }
}

/// Parses a Pacemaker duration (`10`, `10s`, `500ms`, `5min`, `1h`, `PT1H30M`, `P1DT12H`) into
/// milliseconds; plain numbers are seconds.
pub fn parse_duration_ms(s: &str) -> Option<u64> {
    let t = s.trim();
    if let Some(p) = t.strip_prefix('P').or_else(|| t.strip_prefix('p')) {
        let (date, time) = match p.find(['T', 't']) {
            Some(i) => (&p[..i], &p[i + 1..]),
            None => (p, ""),
        };
        // Calendar units as fixed lengths: a year of 365 days, a month of 30.
        let date_ms = iso_part_ms(date, |u| match u {
            'Y' => Some(365 * 86_400_000),
            'M' => Some(30 * 86_400_000),
            'W' => Some(7 * 86_400_000),
            'D' => Some(86_400_000),
            _ => None,
        })?;
        let time_ms = iso_part_ms(time, |u| match u {
            'H' => Some(3_600_000),
            'M' => Some(60_000),
            'S' => Some(1000),
            _ => None,
        })?;
        return date_ms.checked_add(time_ms);
    }
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let n: u64 = n.parse().ok()?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "s" | "sec" => 1000,
        "ms" | "msec" => 1,
        "us" | "usec" => return Some(n / 1000),
        "m" | "min" => 60_000,
        "h" | "hr" => 3_600_000,
        _ => return None,
    };
    Some(n * mult)
}

/// Sums one part of an ISO 8601 duration (`1Y2M` or `3H4M5S`): each number times the
/// length of the unit letter after it; `None` on an unknown unit or a trailing number.
fn iso_part_ms(part: &str, unit_ms: impl Fn(char) -> Option<u64>) -> Option<u64> {
    let mut total = 0u64;
    let mut num = String::new();
    for c in part.chars() {
        if c.is_ascii_digit() {
            num.push(c);
        } else {
            let n: u64 = num.parse().ok()?;
            num.clear();
            total = total.checked_add(n.checked_mul(unit_ms(c.to_ascii_uppercase())?)?)?;
        }
    }
    num.is_empty().then_some(total)
}

/// How a cluster option's value is checked.
enum Kind {
    Bool,
    Duration,
    Int,
    Choice(&'static [&'static str]),
}

const OPTIONS: &[(&str, Kind)] = &[
    ("stonith-enabled", Kind::Bool),
    ("fencing-enabled", Kind::Bool),
    ("stonith-action", Kind::Choice(&["reboot", "off", "poweroff"])),
    ("stonith-timeout", Kind::Duration),
    ("stonith-max-attempts", Kind::Int),
    ("stonith-watchdog-timeout", Kind::Duration),
    ("no-quorum-policy", Kind::Choice(&["stop", "freeze", "ignore", "demote", "suicide"])),
    ("symmetric-cluster", Kind::Bool),
    ("maintenance-mode", Kind::Bool),
    ("stop-all-resources", Kind::Bool),
    ("start-failure-is-fatal", Kind::Bool),
    ("placement-strategy", Kind::Choice(&["default", "utilization", "balanced", "minimal"])),
    ("cluster-recheck-interval", Kind::Duration),
    ("dc-deadtime", Kind::Duration),
    ("election-timeout", Kind::Duration),
    ("shutdown-escalation", Kind::Duration),
    ("cluster-delay", Kind::Duration),
    ("batch-limit", Kind::Int),
    ("migration-limit", Kind::Int),
    (
        "node-health-strategy",
        Kind::Choice(&["none", "migrate-on-red", "only-green", "progressive", "custom"]),
    ),
    ("priority-fencing-delay", Kind::Duration),
    ("startup-fencing", Kind::Bool),
    ("concurrent-fencing", Kind::Bool),
    ("shutdown-lock", Kind::Bool),
    ("shutdown-lock-limit", Kind::Duration),
    ("enable-acl", Kind::Bool),
    ("stop-orphan-resources", Kind::Bool),
    ("stop-orphan-actions", Kind::Bool),
    ("pe-input-series-max", Kind::Int),
    ("pe-warn-series-max", Kind::Int),
    ("pe-error-series-max", Kind::Int),
];

fn value_ok(kind: &Kind, v: &str) -> bool {
    match kind {
        Kind::Bool => is_bool(v),
        Kind::Duration => parse_duration_ms(v).is_some(),
        Kind::Int => v.trim().parse::<i64>().is_ok(),
        Kind::Choice(c) => c.contains(&v.trim()),
    }
}

/// Checks a cluster option's value as crm_verify does: `Err` holds what the option takes
/// (`true or false`, the allowed words, ...). Names this table does not know pass; the
/// `fencing-*` spellings are checked as their `stonith-*` twins.
pub fn check_cluster_option(name: &str, value: &str) -> Result<(), String> {
    let twin = name.strip_prefix("fencing-").map(|r| format!("stonith-{r}"));
    let kind =
        OPTIONS.iter().find(|(n, _)| *n == name || twin.as_deref() == Some(*n)).map(|(_, k)| k);
    match kind {
        Some(k) if !value_ok(k, value) => Err(match k {
            Kind::Bool => "true or false".into(),
            Kind::Duration => "a duration such as 60s".into(),
            Kind::Int => "an integer".into(),
            Kind::Choice(c) => c.join(", "),
        }),
        _ => Ok(()),
    }
}

/// Required parameters of an agent, from its meta-data XML (`<parameter required="1">`).
pub fn required_params(meta_data: &str) -> Vec<String> {
    Element::parse(meta_data).map(|root| required_params_of(&root)).unwrap_or_default()
}

/// Required parameters of an agent from its parsed meta-data (`<resource-agent>`).
pub fn required_params_of(root: &Element) -> Vec<String> {
    root.child("parameters")
        .into_iter()
        .flat_map(|p| p.children_named("parameter"))
        .filter(|p| p.attr("required").is_some_and(is_true))
        .filter_map(|p| p.attr("name").map(str::to_string))
        .collect()
}

/// Looks up an agent's meta-data XML by class, provider and type.
pub type MetaDataFn = dyn Fn(&str, Option<&str>, &str) -> Option<String>;

/// Runs every check on `root`. `meta_data(class, provider, type)` returns an agent's
/// meta-data XML when it can be obtained (see [`ocf_meta_data`]).
pub fn verify(root: &Element, meta_data: &MetaDataFn) -> Vec<Finding> {
    let schema = validate(root);
    if !schema.is_empty() {
        let mut out: Vec<Finding> =
            schema.iter().map(|e| Finding::err("validate", e.to_string())).collect();
        out.push(Finding::err("main", "CIB did not pass schema validation".into()));
        return out;
    }
    let mut out: Vec<Finding> = super::validate::validate_strict(root)
        .into_iter()
        .map(|e| Finding::warn("unpack_constraints", e.to_string()))
        .collect();
    let cib = Cib::from_element(root);
    for set in &cib.crm_config {
        for p in &set.nvpairs {
            let Some(v) = &p.value else { continue };
            if let Some((name, kind)) = OPTIONS.iter().find(|(n, _)| *n == p.name) {
                if !value_ok(kind, v) {
                    out.push(Finding::err(
                        "cluster_option_value",
                        format!("Using default value for cluster option '{name}' because '{v}' is invalid"),
                    ));
                }
            }
        }
    }
    if cib.property("startup-fencing").is_some_and(|v| is_bool(v) && !is_true(v)) {
        out.push(Finding::warn("unpack_config", "Blind faith: not fencing unseen nodes".into()));
    }
    let stonith_enabled = cib
        .property("stonith-enabled")
        .or_else(|| cib.property("fencing-enabled"))
        .filter(|v| is_bool(v))
        .map_or(true, is_true);
    let prims: Vec<_> = cib
        .all_resources()
        .into_iter()
        .filter_map(|r| match r {
            Resource::Primitive(p) => Some(p),
            _ => None,
        })
        .collect();
    if stonith_enabled && !prims.iter().any(|p| p.class.as_deref() == Some("stonith")) {
        for m in [
            "Resource start-up disabled since no STONITH resources have been defined",
            "Either configure some or disable STONITH with the stonith-enabled option",
            "NOTE: Clusters with shared data need STONITH to ensure data integrity",
        ] {
            out.push(Finding::err("unpack_resources", m.into()));
        }
    }
    for p in prims {
        let (Some(class), Some(ty)) = (p.class.as_deref(), p.agent_type.as_deref()) else {
            continue;
        };
        let Some(md) = meta_data(class, p.provider.as_deref(), ty) else { continue };
        for req in required_params(&md) {
            if p.param(&req).is_none() {
                let agent = match &p.provider {
                    Some(pr) => format!("{class}:{pr}:{ty}"),
                    None => format!("{class}:{ty}"),
                };
                out.push(Finding::warn(
                    "pcmk__validate_resource",
                    format!("Resource {}: required parameter '{req}' of {agent} is not set", p.id),
                ));
            }
        }
    }
    out
}

/// Runs `/usr/lib/ocf/resource.d/PROVIDER/TYPE meta-data` for an installed OCF agent (at
/// most 5 s); `None` for other classes or when the agent is absent or fails.
pub fn ocf_meta_data(class: &str, provider: Option<&str>, ty: &str) -> Option<String> {
    let root = std::env::var("OCF_ROOT").unwrap_or_else(|_| "/usr/lib/ocf".into());
    let provider = provider?;
    if class != "ocf" || [provider, ty].iter().any(|s| s.contains('/') || s.starts_with('.')) {
        return None;
    }
    let path = std::path::Path::new(&root).join("resource.d").join(provider).join(ty);
    if !path.is_file() {
        return None;
    }
    let mut cmd = std::process::Command::new(&path);
    cmd.arg("meta-data").env("OCF_ROOT", &root);
    let (status, text) = run_meta_data(cmd)?;
    status.success().then_some(text)
}

/// Runs an agent's meta-data command (stdin and stderr closed) for at most 5 s and returns
/// its exit status and standard output; `None` when it cannot start or runs too long (it is
/// then killed).
pub fn run_meta_data(mut cmd: std::process::Command) -> Option<(std::process::ExitStatus, String)> {
    let mut child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    let mut stdout = child.stdout.take()?;
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut s);
        s
    });
    for _ in 0..500 {
        if let Ok(Some(status)) = child.try_wait() {
            return Some((status, reader.join().ok()?));
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cib(props: &str, resources: &str) -> Element {
        Element::parse(&format!(
            r#"<cib epoch="1" num_updates="0" admin_epoch="0"><configuration><crm_config>
            <cluster_property_set id="o">{props}</cluster_property_set></crm_config><nodes/>
            <resources>{resources}</resources><constraints/></configuration><status/></cib>"#
        ))
        .unwrap()
    }

    #[test]
    fn stonith_rule_and_options() {
        let none = |_: &str, _: Option<&str>, _: &str| None;
        let f = verify(&cib("", ""), &none);
        assert_eq!(f.len(), 3);
        assert_eq!(
            f[0].line(),
            "(unpack_resources) \terror: Resource start-up disabled since no STONITH resources have been defined"
        );
        let off = r#"<nvpair id="a" name="stonith-enabled" value="false"/>"#;
        assert!(verify(&cib(off, ""), &none).is_empty());
        let bogus = format!(r#"{off}<nvpair id="b" name="no-quorum-policy" value="bogus"/>"#);
        assert_eq!(
            verify(&cib(&bogus, ""), &none)[0].message,
            "Using default value for cluster option 'no-quorum-policy' because 'bogus' is invalid"
        );
        let st = r#"<primitive id="f" class="stonith" type="fence_dummy"/>"#;
        assert!(verify(&cib("", st), &none).is_empty());
    }

    #[test]
    fn required_parameters_from_meta_data() {
        let md = r#"<resource-agent name="X"><parameters><parameter name="ip" required="1"/>
            <parameter name="nic"/></parameters></resource-agent>"#;
        let off = r#"<nvpair id="a" name="stonith-enabled" value="false"/>"#;
        let p = r#"<primitive id="vip" class="ocf" provider="heartbeat" type="IPaddr2"/>"#;
        let f = verify(&cib(off, p), &|_, _, _| Some(md.to_string()));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].level, Level::Warning);
        assert!(f[0].message.contains("'ip'"));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("10"), Some(10_000));
        assert_eq!(parse_duration_ms("500ms"), Some(500));
        assert_eq!(parse_duration_ms("15min"), Some(900_000));
        assert_eq!(parse_duration_ms("PT1H"), Some(3_600_000));
        assert_eq!(parse_duration_ms("P1DT30M"), Some(86_400_000 + 1_800_000));
        assert_eq!(parse_duration_ms("P2D"), Some(2 * 86_400_000));
        assert_eq!(parse_duration_ms("soon"), None);
    }
}
