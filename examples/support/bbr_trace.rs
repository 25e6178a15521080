//! Parsing of the controller's `chatd::bbr_*` trace lines, shared by the diagnosis examples
//! (`s3_idle`, `s1_s4_breakdown`, `s11_breakdown`): the lines carry `key=value` fields and an `Instant`'s Debug
//! text, which the examples turn back into nanoseconds to line them up with the simulator's
//! own timeline.

/// The nanoseconds of an `Instant`'s Debug text (`tv_sec: S, tv_nsec: N`).
pub fn instant_ns(text: &str) -> u128 {
    let field = |name: &str| -> u128 {
        let rest = &text[text.find(name).expect("field") + name.len()..];
        let end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        rest[..end].parse().expect("digits")
    };
    field("tv_sec: ") * 1_000_000_000 + field("tv_nsec: ")
}

/// The text after ` key` (a field starts after a space, so `lo=` never matches `bwlo=`) up
/// to the next space.
pub fn value<'a>(line: &'a str, key: &str) -> &'a str {
    let pattern = format!(" {key}");
    let rest = &line[line.find(&pattern).expect("key") + pattern.len()..];
    &rest[..rest.find(' ').unwrap_or(rest.len())]
}

/// The `at=` instant of a `chatd::bbr_ack` line, in nanoseconds.
pub fn ack_at_ns(line: &str) -> u128 {
    instant_ns(&line[line.find("at=").expect("at")..line.find("} ").expect("}")])
}

/// An `Option<u64>` field as Debug prints it (`Some(N)` or `None`).
pub fn optional(line: &str, key: &str) -> Option<u64> {
    value(line, key)
        .strip_prefix("Some(")
        .and_then(|v| v.strip_suffix(')'))
        .map(|v| v.parse().expect("number"))
}

/// The controller the `CC` environment variable names: unset means BBR; `plain` and `v1` are
/// short for `bbr-plain` and `bbr-v1`; otherwise any name `parse_with_models` takes. An unknown
/// name ends the program rather than running BBR under another name.
pub fn kind_from_env() -> chatd::rudp::CongestionKind {
    use chatd::rudp::CongestionKind;
    match std::env::var("CC").as_deref() {
        Err(_) => CongestionKind::Bbr,
        Ok("plain") => CongestionKind::BbrPlain,
        Ok("v1") => CongestionKind::BbrV1,
        Ok(name) => CongestionKind::parse_with_models(name).unwrap_or_else(|e| {
            eprintln!("CC: {e}");
            std::process::exit(2)
        }),
    }
}
