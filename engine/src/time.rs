//! Time parsing and rendering in the formats of the original CEEMS database.

use chrono::{DateTime, FixedOffset, LocalResult, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;

/// A configured data time zone: an IANA zone, or the machine's local zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataTz {
    /// The machine's local zone (`Local` in the original's configuration).
    Local,
    /// An IANA zone.
    Iana(Tz),
}

impl DataTz {
    /// Parses `Local`, `UTC` or an IANA name.
    pub fn parse(s: &str) -> Result<DataTz, String> {
        if s.is_empty() || s == "Local" {
            return Ok(DataTz::Local);
        }
        s.parse::<Tz>().map(DataTz::Iana).map_err(|_| {
            format!(
                "unknown time zone {s:?} (expected an IANA name such as Europe/Paris, UTC or Local)"
            )
        })
    }

    /// Name as written in configuration.
    pub fn name(&self) -> String {
        match self {
            DataTz::Local => "Local".to_string(),
            DataTz::Iana(tz) => tz.name().to_string(),
        }
    }

    /// Unix milliseconds of a wall-clock time in this zone. An ambiguous time (the repeated
    /// hour when clocks go back) resolves to its first occurrence; a time that does not exist
    /// (skipped when clocks go forward) is read with the offset in force just before the gap.
    pub fn local_to_ms(&self, naive: NaiveDateTime) -> i64 {
        match self {
            DataTz::Local => resolve(chrono::Local.from_local_datetime(&naive), naive, |n| {
                chrono::Local.offset_from_utc_datetime(&n).fix()
            }),
            DataTz::Iana(tz) => resolve(tz.from_local_datetime(&naive), naive, |n| {
                tz.offset_from_utc_datetime(&n).fix()
            }),
        }
    }

    /// The UTC offset of this zone at `ms`.
    pub fn offset_at(&self, ms: i64) -> FixedOffset {
        let utc = DateTime::<Utc>::from_timestamp_millis(ms)
            .unwrap_or_default()
            .naive_utc();
        match self {
            DataTz::Local => chrono::Local.offset_from_utc_datetime(&utc).fix(),
            DataTz::Iana(tz) => tz.offset_from_utc_datetime(&utc).fix(),
        }
    }
}

fn resolve<T: TimeZone>(
    r: LocalResult<DateTime<T>>,
    naive: NaiveDateTime,
    offset_at_utc: impl Fn(NaiveDateTime) -> FixedOffset,
) -> i64 {
    match r {
        LocalResult::Single(t) => t.timestamp_millis(),
        LocalResult::Ambiguous(a, _) => a.timestamp_millis(),
        LocalResult::None => {
            // In a gap: use the offset valid one day earlier (before the transition).
            let before = offset_at_utc(naive - chrono::Duration::days(1));
            (naive - chrono::Duration::seconds(i64::from(before.local_minus_utc())))
                .and_utc()
                .timestamp_millis()
        }
    }
}

/// Parses `YYYY-MM-DDTHH:MM:SS` (no offset) as wall-clock time in `tz`, or
/// `YYYY-MM-DDTHH:MM:SS±hhmm` using its own offset. Returns Unix milliseconds.
pub fn parse_ceems_time(s: &str, tz: DataTz) -> Option<i64> {
    let s = s.trim();
    if s.len() > 19 {
        return DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%z")
            .ok()
            .map(|t| t.timestamp_millis());
    }
    let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").ok()?;
    Some(tz.local_to_ms(naive))
}

/// Renders Unix milliseconds as `YYYY-MM-DDTHH:MM:SS±hhmm` in `tz` (the original's format for
/// `created_at`, `started_at`, `ended_at`).
pub fn render_ceems_time(ms: i64, tz: DataTz) -> String {
    let off = tz.offset_at(ms);
    let t = DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .with_timezone(&off);
    t.format("%Y-%m-%dT%H:%M:%S%z").to_string()
}

/// Renders Unix milliseconds as `YYYY-MM-DDTHH:MM:SS` wall-clock time in `tz` (the original's
/// `last_updated_at` format).
pub fn render_ceems_naive(ms: i64, tz: DataTz) -> String {
    let off = tz.offset_at(ms);
    let t = DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .with_timezone(&off);
    t.format("%Y-%m-%dT%H:%M:%S").to_string()
}

/// Renders a duration in seconds as the original's `elapsed` (`[D-]HH:MM:SS`).
pub fn render_elapsed(seconds: i64) -> String {
    let s = seconds.max(0);
    let (d, rem) = (s / 86_400, s % 86_400);
    let (h, m, sec) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    if d > 0 {
        format!("{d}-{h:02}:{m:02}:{sec:02}")
    } else {
        format!("{h:02}:{m:02}:{sec:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_strings_use_their_own_offset() {
        let tz = DataTz::parse("UTC").unwrap();
        assert_eq!(
            parse_ceems_time("2022-02-21T14:37:02+0100", tz),
            Some(1_645_450_622_000)
        );
    }

    #[test]
    fn naive_strings_use_the_zone_and_dst() {
        let paris = DataTz::parse("Europe/Paris").unwrap();
        // 2024-03-31 01:30 CET (+01:00) and 03:30 CEST (+02:00) are one hour apart.
        let a = parse_ceems_time("2024-03-31T01:30:00", paris).unwrap();
        let b = parse_ceems_time("2024-03-31T03:30:00", paris).unwrap();
        assert_eq!(b - a, 3_600_000);
        assert_eq!(a, 1_711_845_000_000);
        assert_eq!(parse_ceems_time("Unknown", paris), None);
    }

    #[test]
    fn render_round_trips() {
        let paris = DataTz::parse("Europe/Paris").unwrap();
        assert_eq!(
            render_ceems_time(1_645_450_622_000, paris),
            "2022-02-21T14:37:02+0100"
        );
        assert_eq!(
            render_ceems_naive(1_645_450_622_000, paris),
            "2022-02-21T14:37:02"
        );
        assert_eq!(render_elapsed(2962), "00:49:22");
        assert_eq!(render_elapsed(90_061), "1-01:01:01");
    }
}
