//! Score arithmetic: integers saturating at ±INFINITY (1,000,000), where −INFINITY wins.

/// The value Pacemaker calls INFINITY.
pub const INFINITY: i64 = 1_000_000;

/// Add two scores: −INF wins over +INF, then +INF, else a clamped sum.
pub fn add(a: i64, b: i64) -> i64 {
    if a <= -INFINITY || b <= -INFINITY {
        -INFINITY
    } else if a >= INFINITY || b >= INFINITY {
        INFINITY
    } else {
        (a + b).clamp(-INFINITY, INFINITY)
    }
}

/// Parse a score string (`INFINITY`, `+INFINITY`, `-INFINITY`, `inf`, numbers); bad text is 0.
pub fn parse(s: &str) -> i64 {
    let t = s.trim();
    let l = t.to_ascii_lowercase();
    match l.as_str() {
        "infinity" | "+infinity" | "inf" | "+inf" => INFINITY,
        "-infinity" | "-inf" => -INFINITY,
        _ => t.parse::<i64>().map(|v| v.clamp(-INFINITY, INFINITY)).unwrap_or(0),
    }
}

/// Render a score the way Pacemaker prints it.
pub fn fmt(v: i64) -> String {
    if v >= INFINITY {
        "INFINITY".into()
    } else if v <= -INFINITY {
        "-INFINITY".into()
    } else {
        v.to_string()
    }
}

/// Multiply a score by `factor`, rounding half away from zero; non-zero inputs never become 0.
pub fn scale(score: i64, factor: f64) -> i64 {
    if score <= -INFINITY {
        return if factor > 0.0 {
            -INFINITY
        } else if factor < 0.0 {
            INFINITY
        } else {
            0
        };
    }
    if score >= INFINITY {
        return if factor > 0.0 {
            INFINITY
        } else if factor < 0.0 {
            -INFINITY
        } else {
            0
        };
    }
    let r = (score as f64 * factor).round() as i64;
    if r == 0 && score != 0 && factor != 0.0 {
        if (score > 0) == (factor > 0.0) {
            1
        } else {
            -1
        }
    } else {
        r.clamp(-INFINITY, INFINITY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neg_inf_wins() {
        assert_eq!(add(INFINITY, -INFINITY), -INFINITY);
        assert_eq!(add(-INFINITY, INFINITY), -INFINITY);
        assert_eq!(add(INFINITY, 5), INFINITY);
        assert_eq!(add(999_999, 5), INFINITY);
        assert_eq!(add(-999_999, -5), -INFINITY);
        assert_eq!(add(3, 4), 7);
    }

    #[test]
    fn parse_and_print() {
        assert_eq!(parse("INFINITY"), INFINITY);
        assert_eq!(parse("+inf"), INFINITY);
        assert_eq!(parse("-INFINITY"), -INFINITY);
        assert_eq!(parse("5000000"), INFINITY);
        assert_eq!(parse("junk"), 0);
        assert_eq!(fmt(INFINITY), "INFINITY");
        assert_eq!(fmt(-INFINITY), "-INFINITY");
        assert_eq!(fmt(-12), "-12");
    }

    #[test]
    fn scaling() {
        assert_eq!(scale(100, 0.5), 50);
        assert_eq!(scale(1, 0.001), 1);
        assert_eq!(scale(-1, 0.001), -1);
        assert_eq!(scale(-INFINITY, 1.0), -INFINITY);
        assert_eq!(scale(3, 0.5), 2);
    }
}
