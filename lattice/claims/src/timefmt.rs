//! Times in claims are Unix seconds; on the command line they are RFC 3339
//! times and short durations (`30s`, `15m`, `12h`, `30d`).

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::TimeError;

/// Now, in Unix seconds (0 if the clock is before 1970).
pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Parses a positive duration `<number><unit>`, unit `s`, `m`, `h` or `d`,
/// into seconds.
pub fn parse_duration(input: &str) -> Result<u64, TimeError> {
    let bad = || TimeError::Duration(input.to_owned());
    let split = input.len().checked_sub(1).ok_or_else(bad)?;
    let (number, unit) = (input.get(..split), input.get(split..));
    let (Some(number), Some(unit)) = (number, unit) else {
        return Err(bad());
    };
    let scale: u64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n: u64 = number.parse().map_err(|_| bad())?;
    match n.checked_mul(scale) {
        Some(secs) if secs > 0 => Ok(secs),
        _ => Err(bad()),
    }
}

/// Parses an RFC 3339 time (e.g. `2030-01-31T12:00:00Z`) into Unix seconds
/// (fractions of a second are dropped). Times before 1970 are refused.
pub fn parse_rfc3339(input: &str) -> Result<u64, TimeError> {
    let time = OffsetDateTime::parse(input.trim(), &Rfc3339).map_err(|e| TimeError::Time {
        input: input.to_owned(),
        reason: e.to_string(),
    })?;
    u64::try_from(time.unix_timestamp()).map_err(|_| TimeError::Time {
        input: input.to_owned(),
        reason: "it is before 1970".into(),
    })
}

/// Formats Unix seconds as RFC 3339 in UTC; a time past the year 9999
/// (which RFC 3339 cannot express) is written as its number of seconds.
pub fn format_rfc3339(unix: u64) -> String {
    i64::try_from(unix)
        .ok()
        .and_then(|secs| OffsetDateTime::from_unix_timestamp(secs).ok())
        .and_then(|time| time.format(&Rfc3339).ok())
        .unwrap_or_else(|| unix.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(30));
        assert_eq!(parse_duration("15m"), Ok(900));
        assert_eq!(parse_duration("12h"), Ok(43_200));
        assert_eq!(parse_duration("30d"), Ok(2_592_000));
        for bad in [
            "",
            "s",
            "5x",
            "5",
            "-5s",
            "+5s",
            "1.5h",
            " 5s",
            "5 s",
            "0s",
            "5S",
            "5é",
            "99999999999999999999d",
            "999999999999999999d",
        ] {
            let err = parse_duration(bad)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains("invalid duration"), "{bad}: {err}");
        }
    }

    #[test]
    fn times() {
        assert_eq!(parse_rfc3339("1970-01-01T00:01:00Z"), Ok(60));
        assert_eq!(
            parse_rfc3339("2030-01-01T02:00:00+02:00"),
            Ok(1_893_456_000)
        );
        assert_eq!(format_rfc3339(1_893_456_000), "2030-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(u64::MAX), u64::MAX.to_string());
        assert!(parse_rfc3339("1969-12-31T23:59:59Z").is_err());
        assert!(parse_rfc3339("tomorrow").is_err());
    }
}
