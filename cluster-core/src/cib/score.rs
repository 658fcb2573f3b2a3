//! Scores and booleans as Pacemaker reads them.
//!
//! A score is an integer saturating at ±[`INFINITY`]; the strings `INFINITY`, `+INFINITY`,
//! `-INFINITY` (any case) and crmsh's `inf`, `+inf`, `-inf` are accepted. Strict parsing
//! ([`parse_score`]) is what validation uses: anything else is an error naming the text.

/// Pacemaker's INFINITY.
pub const INFINITY: i64 = 1_000_000;

/// Parses a score strictly; `None` when `s` is not a score.
pub fn parse_score(s: &str) -> Option<i64> {
    let t = s.trim();
    let (sign, body) = match t.as_bytes().first() {
        Some(b'+') => (1, &t[1..]),
        Some(b'-') => (-1, &t[1..]),
        _ => (1, t),
    };
    if body.eq_ignore_ascii_case("infinity") || body.eq_ignore_ascii_case("inf") {
        return Some(sign * INFINITY);
    }
    if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let v: i64 = body.parse().unwrap_or(i64::MAX / 2);
    Some((sign * v.min(INFINITY)).clamp(-INFINITY, INFINITY))
}

/// Whether `s` is a score the CIB schema accepts: exactly `INFINITY`, `+INFINITY`, `-INFINITY`
/// or an integer. crmsh's `inf` forms are read by [`parse_score`] but must be converted before
/// they are written.
pub fn is_schema_score(s: &str) -> bool {
    let t = s.trim();
    if matches!(t, "INFINITY" | "+INFINITY" | "-INFINITY") {
        return true;
    }
    let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// Prints a score: `INFINITY`, `-INFINITY` or the number.
pub fn score_to_string(v: i64) -> String {
    if v >= INFINITY {
        "INFINITY".into()
    } else if v <= -INFINITY {
        "-INFINITY".into()
    } else {
        v.to_string()
    }
}

/// Pacemaker's true spellings: `true`, `on`, `yes`, `y`, `1` (any case).
pub fn is_true(s: &str) -> bool {
    matches!(s.trim().to_ascii_lowercase().as_str(), "true" | "on" | "yes" | "y" | "1")
}

/// Whether `s` is a valid boolean (true or false spellings).
pub fn is_bool(s: &str) -> bool {
    is_true(s)
        || matches!(s.trim().to_ascii_lowercase().as_str(), "false" | "off" | "no" | "n" | "0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn score_forms() {
        for (s, v) in [
            ("INFINITY", INFINITY),
            ("+INFINITY", INFINITY),
            ("-INFINITY", -INFINITY),
            ("inf", INFINITY),
            ("+inf", INFINITY),
            ("-inf", -INFINITY),
            ("-Infinity", -INFINITY),
            ("100", 100),
            ("-5", -5),
            ("+7", 7),
            ("99999999", INFINITY),
        ] {
            assert_eq!(parse_score(s), Some(v), "{s}");
        }
        for s in ["", "abc", "1.5", "--1", "infinite", "+"] {
            assert_eq!(parse_score(s), None, "{s}");
        }
        assert_eq!(score_to_string(-INFINITY), "-INFINITY");
        assert!(is_schema_score("+INFINITY") && is_schema_score("-12") && is_schema_score("007"));
        assert!(
            !is_schema_score("-inf") && !is_schema_score("infinity") && !is_schema_score("1.5")
        );
        assert_eq!(score_to_string(42), "42");
        assert!(is_true("Yes") && !is_true("off") && is_bool("off") && !is_bool("maybe"));
    }
}
