//! Durations in settings (`TRMM_PENDING_ACTION_TTL=24h`, `TRMM_BEAT_LEASE=30s`), for clap's `value_parser`.

use std::time::Duration;

/// Parses `500ms`, `30s`, `90m`, `24h`, `7d` or a bare number of seconds; zero is refused.
pub fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration; use e.g. 30s, 90m, 24h or 7d"))?;
    let duration = match unit.trim() {
        "ms" => Duration::from_millis(n),
        "" | "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        "d" => Duration::from_secs(n * 86_400),
        other => return Err(format!("unknown unit {other:?} in {text:?}; use ms, s, m, h or d")),
    };
    if duration.is_zero() {
        return Err("the duration must be positive".into());
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse("90m"), Ok(Duration::from_secs(5_400)));
        assert_eq!(parse("45"), Ok(Duration::from_secs(45)));
        assert_eq!(parse("2d"), Ok(Duration::from_secs(172_800)));
        assert_eq!(parse("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse("0s").is_err());
        assert!(parse("0ms").is_err());
        assert!(parse("1w").is_err());
        assert!(parse("h").is_err());
    }
}
