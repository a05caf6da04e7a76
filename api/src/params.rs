//! Query-string parsing with the original's (Go `url.ParseQuery`) rules, and the typed
//! parameters every endpoint shares: fields, time windows, time zones.

use std::collections::BTreeSet;
use std::time::Duration;

use ceems_lake_engine::query::api::Window;

use crate::error::ApiError;

/// Decoded query pairs in order; repeated keys are kept.
#[derive(Debug, Default, Clone)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

fn unhex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// `+` is a space, `%XX` a byte; a bad escape or invalid UTF-8 rejects the pair.
fn unescape(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = unhex(*b.get(i + 1)?)?;
                let lo = unhex(*b.get(i + 2)?)?;
                out.push(hi << 4 | lo);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

impl Params {
    /// Parses a raw query string. Pairs containing `;` or bad escapes are dropped, as Go does.
    pub fn parse(raw: Option<&str>) -> Params {
        let mut pairs = Vec::new();
        for part in raw.unwrap_or("").split('&') {
            if part.is_empty() || part.contains(';') {
                continue;
            }
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            if let (Some(k), Some(v)) = (unescape(k), unescape(v)) {
                pairs.push((k, v));
            }
        }
        Params { pairs }
    }

    /// Every value of `key`, in order.
    pub fn all(&self, key: &str) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Values of `key` when it appears at all (an empty value is a value: `?project=` matches
    /// nothing).
    pub fn list(&self, key: &str) -> Option<Vec<String>> {
        self.has(key).then(|| self.all(key))
    }

    /// The first value of `key`.
    pub fn first(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Whether `key` appears (flags are true by presence: `?running=false` is true).
    pub fn has(&self, key: &str) -> bool {
        self.pairs.iter().any(|(k, _)| k == key)
    }

    /// The pairs sorted by key (stable), as Go re-encodes them: the usage cache key.
    pub fn sorted_pairs(&self) -> Vec<(String, String)> {
        let mut p = self.pairs.clone();
        p.sort_by(|a, b| a.0.cmp(&b.0));
        p
    }
}

/// `field` values: trimmed, unknown names dropped; all unknown → 400.
pub fn fields(
    p: &Params,
    allowed: &[&'static str],
) -> Result<Option<BTreeSet<&'static str>>, ApiError> {
    if !p.has("field") {
        return Ok(None);
    }
    let mut out = BTreeSet::new();
    for v in p.all("field") {
        let v = v.trim();
        let v = if v == "total_egress_stats" {
            "total_outgress_stats"
        } else {
            v
        };
        if let Some(f) = allowed.iter().find(|a| **a == v) {
            out.insert(*f);
        }
    }
    if out.is_empty() {
        return Err(ApiError::bad_data("invalid query fields"));
    }
    Ok(Some(out))
}

fn malformed(key: &str) -> ApiError {
    ApiError::bad_data(format!("query parameter '{key}': malformed timestamp"))
}

/// A `from`/`to` value in seconds; a value of 10^11 or more is read as milliseconds (dashboards
/// send seconds, the original's document says milliseconds).
fn parse_time(p: &Params, key: &str) -> Result<Option<i64>, ApiError> {
    match p.first(key) {
        None | Some("") => Ok(None),
        Some(v) => {
            let n: i64 = v.parse().map_err(|_| malformed(key))?;
            Ok(Some(if n.unsigned_abs() >= 100_000_000_000 {
                n.div_euclid(1000)
            } else {
                n
            }))
        }
    }
}

/// The request window in seconds: `to` defaults to now, `from` to `to` − 24 h.
pub fn window_seconds(p: &Params, now_s: i64) -> Result<(i64, i64), ApiError> {
    let from = parse_time(p, "from")?;
    let to = parse_time(p, "to")?.unwrap_or(now_s);
    Ok((from.unwrap_or(to - 86_400), to))
}

/// A window in seconds as the engine's milliseconds. A bound whose milliseconds do not fit in 64
/// bits is a malformed timestamp (a default `from` is blamed on `to`, which it derives from).
pub fn window_ms(p: &Params, from: i64, to: i64) -> Result<Window, ApiError> {
    let given = |key: &str| p.first(key).is_some_and(|v| !v.is_empty());
    let from_key = if given("from") { "from" } else { "to" };
    Ok(Window {
        from_ms: from.checked_mul(1000).ok_or_else(|| malformed(from_key))?,
        to_ms: to.checked_mul(1000).ok_or_else(|| malformed("to"))?,
    })
}

/// Rejects windows longer than `max` (negative windows never do).
pub fn check_max_period(from: i64, to: i64, max: Option<Duration>) -> Result<(), ApiError> {
    if let Some(max) = max
        && !max.is_zero()
        && i128::from(to) - i128::from(from) > i128::from(max.as_secs())
    {
        return Err(ApiError::bad_data("maximum query window exceeded"));
    }
    Ok(())
}

/// Usage caching rounds `from` down and `to` up to multiples of 900 s (within the range of
/// `i64`).
pub fn round_window(from: i64, to: i64) -> (i64, i64) {
    let down = |v: i64| v.div_euclid(900).saturating_mul(900);
    let up = |v: i64| {
        let d = v.div_euclid(900) + i64::from(v.rem_euclid(900) != 0);
        d.saturating_mul(900)
    };
    (down(from), up(to))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_query_parsing() {
        let p = Params::parse(Some(
            "uuid=1&uuid=2&running&a=b;c&tz=Europe%2FAthens&x=a+b&bad=%zz&project=",
        ));
        assert_eq!(p.all("uuid"), vec!["1", "2"]);
        assert!(p.has("running"));
        assert!(!p.has("a"));
        assert_eq!(p.first("tz"), Some("Europe/Athens"));
        assert_eq!(p.first("x"), Some("a b"));
        assert!(!p.has("bad"));
        assert_eq!(p.list("project"), Some(vec![String::new()]));
        assert_eq!(p.list("cluster_id"), None);
    }

    #[test]
    fn field_selection() {
        let allowed = ["uuid", "state"];
        let p = Params::parse(Some("field=uuid&field=foo&field=%20state%20"));
        assert_eq!(fields(&p, &allowed).unwrap().unwrap().len(), 2);
        let p = Params::parse(Some("field=uuiid"));
        assert_eq!(
            fields(&p, &allowed).unwrap_err().message,
            "invalid query fields"
        );
        assert!(fields(&Params::parse(None), &allowed).unwrap().is_none());
    }

    #[test]
    fn windows() {
        let p = Params::parse(Some("to=1000000"));
        assert_eq!(
            window_seconds(&p, 5).unwrap(),
            (1_000_000 - 86_400, 1_000_000)
        );
        let p = Params::parse(Some("from=1676934000000&to=1677538800"));
        assert_eq!(
            window_seconds(&p, 5).unwrap(),
            (1_676_934_000, 1_677_538_800)
        );
        let p = Params::parse(Some("from=12.5"));
        assert_eq!(
            window_seconds(&p, 5).unwrap_err().message,
            "query parameter 'from': malformed timestamp"
        );
        // An encoded sign is accepted; a bare `+` decodes to a space, as in Go.
        let p = Params::parse(Some("from=&to=%2B100"));
        assert_eq!(window_seconds(&p, 5).unwrap(), (100 - 86_400, 100));
        let p = Params::parse(Some("to=+100"));
        assert!(window_seconds(&p, 5).is_err());
        // The extremes of i64: read as milliseconds; milliseconds that do not fit are malformed.
        let p = Params::parse(Some("from=-9223372036854775808&to=9223372036854775807"));
        let (from, to) = window_seconds(&p, 5).unwrap();
        assert_eq!((from, to), (-9_223_372_036_854_776, 9_223_372_036_854_775));
        assert_eq!(
            window_ms(&p, from, to).unwrap_err().message,
            "query parameter 'from': malformed timestamp"
        );
        let p = Params::parse(Some("to=-9223372036854775807"));
        let (from, to) = window_seconds(&p, 5).unwrap();
        assert_eq!(
            window_ms(&p, from, to).unwrap_err().message,
            "query parameter 'to': malformed timestamp"
        );
        let p = Params::parse(Some("to=9223372036854775807"));
        let (from, to) = window_seconds(&p, 5).unwrap();
        assert_eq!(
            window_ms(&p, from, to).unwrap(),
            Window {
                from_ms: (9_223_372_036_854_775 - 86_400) * 1000,
                to_ms: 9_223_372_036_854_775_000
            }
        );
        assert_eq!(
            round_window(1_700_000_123, 1_700_003_456),
            (1_700_000_100, 1_700_003_700)
        );
        assert_eq!(
            round_window(1_700_000_100, 1_700_000_100),
            (1_700_000_100, 1_700_000_100)
        );
        assert_eq!(round_window(-1, -899), (-900, 0));
        assert_eq!(round_window(-900, 1), (-900, 900));
        assert!(check_max_period(0, 10, Some(Duration::from_secs(5))).is_err());
        assert!(check_max_period(10, 0, Some(Duration::from_secs(5))).is_ok());
        assert!(check_max_period(0, 10, None).is_ok());
    }
}
