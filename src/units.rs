//! Byte counts on the command line: a number with an optional K, M, G or T suffix (powers of
//! 1024, either case), as curl's `--limit-rate` and rsync's `--bwlimit` read them.

/// Parses `text` as a byte count: `64M` is 67 108 864, `1500` is 1500, `1.5K` is 1536.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (number, scale) = match text.char_indices().last() {
        Some((at, unit)) if unit.is_ascii_alphabetic() => {
            let scale: u64 = match unit.to_ascii_uppercase() {
                'K' => 1 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'T' => 1 << 40,
                _ => return Err(format!("{text:?}: unknown unit {unit:?} (K, M, G or T)")),
            };
            (&text[..at], scale)
        }
        _ => (text, 1),
    };
    let value: f64 = number
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite() && *v >= 0.0)
        .ok_or_else(|| format!("{text:?} is not a byte count (e.g. 1500, 64K, 1.5M)"))?;
    let bytes = value * scale as f64;
    if bytes >= u64::MAX as f64 {
        return Err(format!("{text:?} is too large"));
    }
    Ok(bytes as u64)
}

/// Parses a `--max-rate` style limit in bytes per second: None for 0, which means no limit.
pub fn parse_rate(text: &str) -> Result<Option<u64>, String> {
    parse_bytes(text).map(|rate| Some(rate).filter(|&r| r > 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_suffixes() {
        assert_eq!(parse_bytes("1500"), Ok(1500));
        assert_eq!(parse_bytes("64K"), Ok(65_536));
        assert_eq!(parse_bytes("64k"), Ok(65_536));
        assert_eq!(parse_bytes("1.5M"), Ok(1_572_864));
        assert_eq!(parse_bytes("2G"), Ok(2 << 30));
        assert_eq!(parse_bytes(" 1T "), Ok(1 << 40));
        assert_eq!(parse_bytes("0"), Ok(0));
    }

    #[test]
    fn a_zero_rate_is_no_limit() {
        assert_eq!(parse_rate("0"), Ok(None));
        assert_eq!(parse_rate("10M"), Ok(Some(10 << 20)));
        assert!(parse_rate("fast").is_err());
    }

    #[test]
    fn garbage_is_refused_with_a_reason() {
        for bad in ["", "M", "-1K", "12Q", "1e400", "abc", "NaN", "inf"] {
            assert!(parse_bytes(bad).is_err(), "{bad:?} accepted");
        }
        assert!(parse_bytes("12Q").unwrap_err().contains("unknown unit"));
        assert!(parse_bytes("99999999T").unwrap_err().contains("too large"));
    }
}
