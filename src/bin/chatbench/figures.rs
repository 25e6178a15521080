//! How the results table writes a figure: counts with thousands separators, nanoseconds as
//! milliseconds, CPU use in cores as a percentage. Which figures go in the table, and in what
//! order, is `results.rs`'s business.

/// `n` rounded to a whole number, digits grouped by three with commas: `1234567.4` gives
/// "1,234,567".
pub fn thousands(n: f64) -> String {
    let digits = format!("{:.0}", n);
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// Nanoseconds as milliseconds with three decimals (to the microsecond).
pub fn ms(ns: u64) -> String {
    format!("{:.3}", ns as f64 / 1e6)
}

/// A CPU share in cores (1.0 = one core busy throughout) as a whole percentage of one core,
/// or "n/a" when /proc gave no reading.
pub fn pct(cores: Option<f64>) -> String {
    cores.map_or("n/a".into(), |c| format!("{:.0} %", c * 100.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits_by_three_from_the_right() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1000.0), "1,000");
        assert_eq!(thousands(65536.0), "65,536");
        assert_eq!(thousands(1_234_567.0), "1,234,567");
    }

    #[test]
    fn thousands_rounds_before_grouping() {
        assert_eq!(thousands(999.6), "1,000");
        assert_eq!(thousands(2284.4), "2,284");
    }

    #[test]
    fn ms_shows_nanoseconds_as_milliseconds_to_the_microsecond() {
        assert_eq!(ms(0), "0.000");
        assert_eq!(ms(1_500_000), "1.500");
        assert_eq!(ms(2_617_246_000), "2617.246");
    }

    #[test]
    fn pct_shows_cores_as_percent_of_one_core() {
        assert_eq!(pct(Some(0.25)), "25 %");
        assert_eq!(pct(Some(3.26)), "326 %");
        assert_eq!(pct(None), "n/a");
    }
}
