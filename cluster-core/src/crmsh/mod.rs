//! The crm shell language: `crm configure` verbs to CIB XML and back.
//!
//! * [`lex`] splits a command line into shell words.
//! * [`configure`] parses the configure verbs (`primitive`, `ms`, `clone`, `group`,
//!   `colocation`, `order`, `location`, `property`, `rsc_defaults`, `op_defaults`, `node`,
//!   `delete`) into a [`configure::ConfigCommand`] and applies it to a CIB tree with crmsh's id
//!   conventions (`RES-instance_attributes-NAME`, `RES-monitor-30s`, ...).
//! * [`show`] renders a CIB configuration in `crm configure show`'s text layout.
//! * [`admin`] holds the resource and node level operations (`resource start/stop/move/ban/
//!   clear/cleanup/failcount`, `node standby/online/maintenance/attribute`).
//! * [`ra`] lists installed agents and renders their meta-data (`crm ra`).
//!
//! Invariant: every operation either fully succeeds on the tree it is given or returns an
//! error and leaves the tree as it was (callers write the tree back only on success).

pub mod admin;
pub mod configure;
pub mod lex;
pub mod ra;
pub mod show;

pub use configure::{apply, parse_configure, ConfigCommand};
pub use lex::tokenize;
pub use show::{show_config, ShowFilter};

/// What is wrong with a crm command. The message names the offending word.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CrmError {
    /// A quote was opened and never closed.
    #[error("unterminated quote in: {line}")]
    UnterminatedQuote {
        /// The line.
        line: String,
    },
    /// A word that is not a keyword where a keyword was expected.
    #[error("unknown keyword '{word}'{}", hint(.suggestion))]
    UnknownKeyword {
        /// The word.
        word: String,
        /// The closest keyword, if any is close.
        suggestion: Option<String>,
    },
    /// A command that does not exist at this level.
    #[error("unknown command '{word}'{}", hint(.suggestion))]
    UnknownCommand {
        /// The word.
        word: String,
        /// The closest command, if any is close.
        suggestion: Option<String>,
    },
    /// Something required is missing or a word is of the wrong form.
    #[error("{verb}: expected {expected}{}", found_hint(.found))]
    Expected {
        /// The verb being parsed.
        verb: String,
        /// What was expected.
        expected: String,
        /// What was found instead, if anything.
        found: Option<String>,
    },
    /// An id that is not a valid XML id.
    #[error(
        "invalid id '{0}': ids start with a letter or '_' and hold letters, digits, '_', '-', '.'"
    )]
    BadId(String),
    /// The id is already used in the CIB.
    #[error("object '{0}' already exists")]
    Exists(String),
    /// A resource named by the command does not exist.
    #[error("resource '{0}' does not exist")]
    NoSuchResource(String),
    /// An object named by the command does not exist.
    #[error("object '{0}' does not exist")]
    NoSuchObject(String),
    /// A node named by the command does not exist.
    #[error("node '{0}' does not exist")]
    NoSuchNode(String),
    /// A resource cannot be put into a container (it already is in one, or is of the wrong kind).
    #[error("resource '{rsc}' cannot be used in {container}: {reason}")]
    BadChild {
        /// The resource.
        rsc: String,
        /// The container being built.
        container: String,
        /// Why not.
        reason: String,
    },
    /// A score that is neither an integer nor (-)inf(inity).
    #[error("invalid score '{0}' (an integer, inf, -inf or INFINITY)")]
    BadScore(String),
    /// A role name that does not exist.
    #[error("invalid role '{word}'{}", hint(.suggestion))]
    BadRole {
        /// The word.
        word: String,
        /// The closest role.
        suggestion: Option<String>,
    },
    /// An action name that does not exist.
    #[error("invalid action '{word}'{}", hint(.suggestion))]
    BadAction {
        /// The word.
        word: String,
        /// The closest action.
        suggestion: Option<String>,
    },
    /// A resource class that does not exist.
    #[error("unknown resource class '{0}' (ocf, lsb, service, systemd, stonith)")]
    BadClass(String),
    /// An attribute name that is close to, but not, a known one.
    #[error("unknown attribute '{word}' in {context}{}", hint(.suggestion))]
    UnknownAttribute {
        /// The word.
        word: String,
        /// Where it was used (`property`, `op`, ...).
        context: String,
        /// The closest known name.
        suggestion: Option<String>,
    },
    /// A value not allowed for an option.
    #[error("{name}: invalid value '{value}' (expected {expected})")]
    BadValue {
        /// The option.
        name: String,
        /// The value given.
        value: String,
        /// What is allowed.
        expected: String,
    },
    /// A parameter the agent's meta-data does not list.
    #[error("{agent}: parameter '{word}' does not exist{}", hint(.suggestion))]
    UnknownParameter {
        /// The parameter name given.
        word: String,
        /// The agent.
        agent: String,
        /// The closest parameter the agent has.
        suggestion: Option<String>,
    },
    /// A parameter the agent requires is not set.
    #[error("{agent}: required parameter '{name}' not defined")]
    MissingParameter {
        /// The parameter.
        name: String,
        /// The agent.
        agent: String,
    },
    /// An agent whose meta-data could not be obtained.
    #[error("{0}: got no meta-data, does this RA exist?")]
    NoMetaData(String),
    /// A resource class that is not available on this machine.
    #[error("class {0} does not exist")]
    NoSuchClass(String),
    /// An error in a script (`load`, `edit`), with its line number.
    #[error("line {line}: {source}")]
    AtLine {
        /// 1-based line where the failing command starts.
        line: usize,
        /// What is wrong there.
        source: Box<CrmError>,
    },
    /// Something the shell does not implement.
    #[error("{0} is not supported")]
    Unsupported(String),
    /// A CIB edit shared with Pacemaker's tools was refused (its message is Pacemaker's).
    #[error(transparent)]
    Cib(crate::cib::ops::OpError),
}

fn hint(s: &Option<String>) -> String {
    s.as_ref().map(|s| format!(" (did you mean '{s}'?)")).unwrap_or_default()
}

fn found_hint(s: &Option<String>) -> String {
    match s {
        Some(f) => format!(", found '{f}'"),
        None => ", found nothing".to_string(),
    }
}

/// Edit distance between two short words (Levenshtein, case-insensitive).
pub fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.to_lowercase().chars().collect();
    let b: Vec<char> = b.to_lowercase().chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The candidate closest to `word` when it is close enough to be a likely typo.
pub fn suggest(word: &str, candidates: &[&str]) -> Option<String> {
    let limit = if word.len() <= 4 { 1 } else { 2 };
    candidates
        .iter()
        .map(|c| (distance(word, c), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.to_string())
}

/// True for a valid XML id (what the CIB schema accepts as `id`).
pub fn valid_id(id: &str) -> bool {
    let mut chars = id.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Normalises a score word ([`crate::cib::score::parse_score`]): `inf`, `+inf`, `infinity`,
/// `INFINITY` give `INFINITY`, `-inf` gives `-INFINITY`, integers are written as numbers
/// (clamped to ±1000000, as Pacemaker reads them).
///
/// # Errors
/// [`CrmError::BadScore`] for anything else.
pub fn parse_score(word: &str) -> Result<String, CrmError> {
    let v = crate::cib::score::parse_score(word)
        .filter(|_| word.trim() == word)
        .ok_or_else(|| CrmError::BadScore(word.to_string()))?;
    Ok(if word.bytes().any(|b| b.is_ascii_digit()) {
        v.to_string()
    } else {
        crate::cib::score::score_to_string(v)
    })
}

/// Renders a CIB score as crmsh shows it (`INFINITY` → `inf`).
pub fn show_score(score: &str) -> String {
    match score {
        "INFINITY" | "+INFINITY" => "inf".into(),
        "-INFINITY" => "-inf".into(),
        s => s.to_string(),
    }
}

/// Role names accepted in constraints.
pub const ROLES: &[&str] = &["Started", "Stopped", "Promoted", "Unpromoted", "Master", "Slave"];

/// Normalises a role word (case-insensitive) to its CIB spelling.
///
/// # Errors
/// [`CrmError::BadRole`] naming the word and the closest role.
pub fn parse_role(word: &str) -> Result<String, CrmError> {
    ROLES
        .iter()
        .find(|r| r.eq_ignore_ascii_case(word))
        .map(|r| r.to_string())
        .ok_or_else(|| CrmError::BadRole { word: word.into(), suggestion: suggest(word, ROLES) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_roles_ids_suggestions() {
        assert_eq!(parse_score("inf").unwrap(), "INFINITY");
        assert_eq!(parse_score("-INFINITY").unwrap(), "-INFINITY");
        assert_eq!(parse_score("+50").unwrap(), "50");
        assert!(parse_score("lots").is_err());
        assert_eq!(parse_role("master").unwrap(), "Master");
        assert_eq!(
            parse_role("Mastr").unwrap_err().to_string(),
            "invalid role 'Mastr' (did you mean 'Master'?)"
        );
        assert!(valid_id("WebSite-with-IP") && !valid_id("1x") && !valid_id("a b"));
        assert_eq!(suggest("parms", &["params", "meta", "op"]).as_deref(), Some("params"));
        assert_eq!(suggest("zzzzzz", &["params", "meta", "op"]), None);
    }
}
