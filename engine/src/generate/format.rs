//! Text rendering in the exact formats of the original CEEMS database, written straight into
//! reused `String` buffers (the generator renders millions of rows; `chrono`'s `format` and
//! `serde_json` would dominate its profile).

use std::fmt::Write as _;

use chrono::{DateTime, Offset, TimeZone};
use chrono_tz::Tz;

/// UTC offset of `tz` at Unix second `s`, in seconds east of UTC.
pub(super) fn offset_seconds(tz: Tz, s: i64) -> i32 {
    let utc = DateTime::from_timestamp(s, 0)
        .unwrap_or_default()
        .naive_utc();
    tz.offset_from_utc_datetime(&utc).fix().local_minus_utc()
}

/// Proleptic Gregorian (year, month, day) of a day count since 1970-01-01 (H. Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = (if mp < 10 { mp + 3 } else { mp - 9 }) as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn push_2(buf: &mut String, v: u32) {
    buf.push(char::from(b'0' + (v / 10 % 10) as u8));
    buf.push(char::from(b'0' + (v % 10) as u8));
}

/// Appends wall-clock seconds `local` (Unix seconds shifted by the zone offset) as
/// `YYYY-MM-DDTHH:MM:SS`.
fn push_wall_clock(buf: &mut String, local: i64) {
    let (y, m, d) = civil_from_days(local.div_euclid(86_400));
    let sod = local.rem_euclid(86_400) as u32;
    if (0..10_000).contains(&y) {
        let y = y as u32;
        push_2(buf, y / 100);
        push_2(buf, y % 100);
    } else {
        let _ = write!(buf, "{y:04}");
    }
    buf.push('-');
    push_2(buf, m);
    buf.push('-');
    push_2(buf, d);
    buf.push('T');
    push_2(buf, sod / 3600);
    buf.push(':');
    push_2(buf, sod / 60 % 60);
    buf.push(':');
    push_2(buf, sod % 60);
}

/// Replaces `buf` with Unix second `s` rendered as `YYYY-MM-DDTHH:MM:SS±hhmm` in `tz`, the
/// offset being the one in force at that instant (so DST is per instant).
pub(super) fn set_time_with_offset(buf: &mut String, tz: Tz, s: i64) {
    buf.clear();
    let off = offset_seconds(tz, s);
    push_wall_clock(buf, s + i64::from(off));
    buf.push(if off < 0 { '-' } else { '+' });
    let off = off.unsigned_abs() / 60;
    push_2(buf, off / 60);
    push_2(buf, off % 60);
}

/// Replaces `buf` with Unix second `s` rendered as `YYYY-MM-DDTHH:MM:SS` wall-clock time in
/// `tz` (the original's `last_updated_at` format).
pub(super) fn set_time_naive(buf: &mut String, tz: Tz, s: i64) {
    buf.clear();
    push_wall_clock(buf, s + i64::from(offset_seconds(tz, s)));
}

/// Whether the wall-clock time of Unix second `s` in `tz` also names an earlier instant: `s`
/// falls in the second pass of the hour repeated when clocks go back. Offset-less time strings
/// such as `last_updated_at` are read as the first pass.
pub(super) fn wall_clock_reads_earlier(tz: Tz, s: i64) -> bool {
    let Some(utc) = DateTime::from_timestamp(s, 0) else {
        return false;
    };
    let local = utc.with_timezone(&tz).naive_local();
    tz.from_local_datetime(&local)
        .earliest()
        .is_some_and(|first| first.timestamp() < s)
}

/// Replaces `buf` with a duration as `[D-]HH:MM:SS` (the day prefix only from one day on).
pub(super) fn set_elapsed(buf: &mut String, seconds: i64) {
    buf.clear();
    let s = seconds.max(0);
    let days = s / 86_400;
    if days > 0 {
        let _ = write!(buf, "{days}-");
    }
    let rem = (s % 86_400) as u32;
    push_2(buf, rem / 3600);
    buf.push(':');
    push_2(buf, rem / 60 % 60);
    buf.push(':');
    push_2(buf, rem % 60);
}

/// Appends a metric value the way the original's `MetricMap` marshaller does: non-finite as
/// `0`, integral values (within the `i64` range) as a JSON integer, anything else with exactly
/// eight decimals.
pub(super) fn push_metric_number(buf: &mut String, v: f64) {
    if !v.is_finite() {
        buf.push('0');
    } else if v == v.trunc() && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&v) {
        let _ = write!(buf, "{}", v as i64);
    } else {
        let _ = write!(buf, "{v:.8}");
    }
}

/// Appends a number of a generic map (`allocation`, `tags`) as Go's `encoding/json` writes a
/// `float64`: integral values without a fraction, others in their shortest form.
pub(super) fn push_plain_number(buf: &mut String, v: f64) {
    if v == v.trunc() && v.abs() < 1e21 {
        let _ = write!(buf, "{}", v as i64);
    } else {
        let _ = write!(buf, "{v}");
    }
}

/// Writes one JSON object of metric values with sorted keys. Keys must be plain (no escaping).
pub(super) struct MetricMapWriter<'a> {
    buf: &'a mut String,
    first: bool,
}

impl<'a> MetricMapWriter<'a> {
    /// Clears `buf` and opens the object.
    pub(super) fn new(buf: &'a mut String) -> Self {
        buf.clear();
        buf.push('{');
        MetricMapWriter { buf, first: true }
    }

    /// Appends `"key":value`; keys must be given in sorted order.
    pub(super) fn entry(mut self, key: &str, v: f64) -> Self {
        if !self.first {
            self.buf.push(',');
        }
        self.first = false;
        self.buf.push('"');
        self.buf.push_str(key);
        self.buf.push_str("\":");
        push_metric_number(self.buf, v);
        self
    }

    /// Closes the object.
    pub(super) fn finish(self) {
        self.buf.push('}');
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn push_hex(buf: &mut String, v: u64, digits: u32) {
    for i in (0..digits).rev() {
        buf.push(char::from(HEX[((v >> (4 * i)) & 0xf) as usize]));
    }
}

/// Replaces `buf` with a random-looking UUIDv4 (`xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx`) made of
/// the bits of `hi` and `lo`.
pub(super) fn set_uuid_v4(buf: &mut String, hi: u64, lo: u64) {
    buf.clear();
    let hi = (hi & !0xf000) | 0x4000;
    let lo = (lo & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
    push_hex(buf, hi >> 32, 8);
    buf.push('-');
    push_hex(buf, hi >> 16, 4);
    buf.push('-');
    push_hex(buf, hi, 4);
    buf.push('-');
    push_hex(buf, lo >> 48, 4);
    buf.push('-');
    push_hex(buf, lo, 12);
}

/// A 32-digit lowercase hex id, the form of Keystone user and project ids.
pub(super) fn hex_id(hi: u64, lo: u64) -> String {
    let mut s = String::with_capacity(32);
    push_hex(&mut s, hi, 16);
    push_hex(&mut s, lo, 16);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_numbers_follow_the_go_marshaller() {
        let cases = [
            (2962.0, "2962"),
            (-5.0, "-5"),
            (14.79, "14.79000000"),
            (0.5, "0.50000000"),
            (1e-9, "0.00000000"),
            (f64::NAN, "0"),
            (f64::INFINITY, "0"),
            (29_720_842_520.0, "29720842520"),
            (1e19, "10000000000000000000.00000000"),
        ];
        for (v, want) in cases {
            let mut s = String::new();
            push_metric_number(&mut s, v);
            assert_eq!(s, want, "{v}");
        }
    }

    #[test]
    fn times_render_with_the_offset_of_the_instant() {
        let tz: Tz = "Europe/Paris".parse().unwrap();
        let mut s = String::new();
        set_time_with_offset(&mut s, tz, 1_645_450_622);
        assert_eq!(s, "2022-02-21T14:37:02+0100");
        set_time_with_offset(&mut s, tz, 1_656_000_000);
        assert_eq!(s, "2022-06-23T18:00:00+0200");
        set_time_naive(&mut s, tz, 1_719_924_579);
        assert_eq!(s, "2024-07-02T14:49:39");
        let ny: Tz = "America/New_York".parse().unwrap();
        set_time_with_offset(&mut s, ny, 0);
        assert_eq!(s, "1969-12-31T19:00:00-0500");
        let kolkata: Tz = "Asia/Kolkata".parse().unwrap();
        set_time_with_offset(&mut s, kolkata, 0);
        assert_eq!(s, "1970-01-01T05:30:00+0530");
    }

    #[test]
    fn the_second_pass_of_a_repeated_hour_is_detected() {
        let tz: Tz = "Europe/Paris".parse().unwrap();
        // 2025-10-26: clocks go back from 03:00 CEST to 02:00 CET (01:00 UTC).
        let first_pass = 1_761_437_700; // 00:15 UTC = 02:15 CEST
        let second_pass = first_pass + 3600; // 01:15 UTC = 02:15 CET
        assert!(!wall_clock_reads_earlier(tz, first_pass));
        assert!(wall_clock_reads_earlier(tz, second_pass));
        assert!(!wall_clock_reads_earlier(tz, 1_761_444_000)); // 02:00 UTC = 03:00 CET
        let utc: Tz = "UTC".parse().unwrap();
        assert!(!wall_clock_reads_earlier(utc, second_pass));
    }

    #[test]
    fn elapsed_has_a_day_prefix_only_from_one_day() {
        let mut s = String::new();
        set_elapsed(&mut s, 2962);
        assert_eq!(s, "00:49:22");
        set_elapsed(&mut s, 86_399);
        assert_eq!(s, "23:59:59");
        set_elapsed(&mut s, 86_400);
        assert_eq!(s, "1-00:00:00");
        set_elapsed(&mut s, 90_061 + 9 * 86_400);
        assert_eq!(s, "10-01:01:01");
    }

    #[test]
    fn uuids_are_version_4() {
        let mut s = String::new();
        set_uuid_v4(&mut s, u64::MAX, 0);
        assert_eq!(s, "ffffffff-ffff-4fff-8000-000000000000");
        set_uuid_v4(&mut s, 0, u64::MAX);
        assert_eq!(s, "00000000-0000-4000-bfff-ffffffffffff");
        assert_eq!(hex_id(1, 2).len(), 32);
    }
}
