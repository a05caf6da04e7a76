//! Parser for CEEMS metric-map JSON text (`{"walltime":497,"alloc_cputime":7952}`).
//!
//! The fast path walks the bytes of a flat object of numbers without allocating; anything
//! unusual (escaped keys, odd spacing is fine) falls back to `serde_json`. Values spelled
//! `NaN`/`Inf`/`Infinity` (quoted or not, any sign or case) and JSON `null` count as 0, as in
//! the original's functions; other strings, nested values and non-objects are errors.

/// Why a metric map could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricParseError(pub String);

impl std::fmt::Display for MetricParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Calls `emit(key, value)` for every entry of the map in `text`. Empty text, `null` and `{}`
/// emit nothing. Non-finite values are emitted as 0.
pub fn parse_metric_map(
    text: &str,
    emit: &mut dyn FnMut(&str, f64),
) -> Result<(), MetricParseError> {
    let t = text.trim();
    if t.is_empty() || t == "null" || t == "{}" {
        return Ok(());
    }
    match fast_parse(t, emit) {
        Ok(()) => Ok(()),
        Err(Fallback::Slow) => slow_parse(t, emit),
        Err(Fallback::Invalid(e)) => Err(e),
    }
}

enum Fallback {
    /// Something the fast path does not handle (escapes): use serde_json.
    Slow,
    Invalid(MetricParseError),
}

fn invalid(msg: impl Into<String>) -> Fallback {
    Fallback::Invalid(MetricParseError(msg.into()))
}

/// Maps the original's non-finite spellings to 0.
fn special_value(s: &str) -> Option<f64> {
    let s = s.trim_start_matches(['+', '-']);
    if s.eq_ignore_ascii_case("nan")
        || s.eq_ignore_ascii_case("inf")
        || s.eq_ignore_ascii_case("infinity")
    {
        Some(0.0)
    } else {
        None
    }
}

fn finite_or_zero(v: f64) -> f64 {
    if v.is_finite() { v } else { 0.0 }
}

fn fast_parse(t: &str, emit: &mut dyn FnMut(&str, f64)) -> Result<(), Fallback> {
    let b = t.as_bytes();
    if b[0] != b'{' || b[b.len() - 1] != b'}' {
        return Err(invalid("metric map is not a JSON object"));
    }
    let mut i = 1;
    let end = b.len() - 1;
    let skip_ws = |i: &mut usize| {
        while *i < end && b[*i].is_ascii_whitespace() {
            *i += 1;
        }
    };
    loop {
        skip_ws(&mut i);
        if i >= end {
            return Ok(());
        }
        if b[i] != b'"' {
            return Err(invalid("expected a quoted key"));
        }
        let ks = i + 1;
        let mut j = ks;
        while j < end && b[j] != b'"' {
            if b[j] == b'\\' {
                return Err(Fallback::Slow);
            }
            j += 1;
        }
        if j >= end {
            return Err(invalid("unterminated key"));
        }
        let key = &t[ks..j];
        i = j + 1;
        skip_ws(&mut i);
        if i >= end || b[i] != b':' {
            return Err(invalid("expected ':' after key"));
        }
        i += 1;
        skip_ws(&mut i);
        if i >= end {
            return Err(invalid("missing value"));
        }
        let value = if b[i] == b'"' {
            let vs = i + 1;
            let mut j = vs;
            while j < end && b[j] != b'"' {
                if b[j] == b'\\' {
                    return Err(Fallback::Slow);
                }
                j += 1;
            }
            if j >= end {
                return Err(invalid("unterminated string value"));
            }
            let s = &t[vs..j];
            i = j + 1;
            match special_value(s) {
                Some(v) => v,
                None => return Err(invalid(format!("value of {key:?} is the string {s:?}"))),
            }
        } else if b[i] == b'{' || b[i] == b'[' {
            return Err(invalid(format!("value of {key:?} is not a number")));
        } else {
            let vs = i;
            while i < end && b[i] != b',' && !b[i].is_ascii_whitespace() {
                i += 1;
            }
            let s = &t[vs..i];
            if s == "null" {
                0.0
            } else if let Some(v) = special_value(s) {
                v
            } else {
                match s.parse::<f64>() {
                    Ok(v) => finite_or_zero(v),
                    Err(_) => {
                        return Err(invalid(format!("value of {key:?} is not a number: {s:?}")));
                    }
                }
            }
        };
        emit(key, value);
        skip_ws(&mut i);
        if i >= end {
            return Ok(());
        }
        if b[i] != b',' {
            return Err(invalid("expected ',' between entries"));
        }
        i += 1;
    }
}

fn slow_parse(t: &str, emit: &mut dyn FnMut(&str, f64)) -> Result<(), MetricParseError> {
    let v: serde_json::Value =
        serde_json::from_str(t).map_err(|e| MetricParseError(format!("invalid JSON: {e}")))?;
    let obj = match v {
        serde_json::Value::Object(o) => o,
        serde_json::Value::Null => return Ok(()),
        _ => return Err(MetricParseError("metric map is not a JSON object".into())),
    };
    for (k, v) in &obj {
        let x = match v {
            serde_json::Value::Number(n) => n.as_f64().map(finite_or_zero).unwrap_or(0.0),
            serde_json::Value::Null => 0.0,
            serde_json::Value::String(s) => special_value(s)
                .ok_or_else(|| MetricParseError(format!("value of {k:?} is the string {s:?}")))?,
            _ => return Err(MetricParseError(format!("value of {k:?} is not a number"))),
        };
        emit(k, x);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(t: &str) -> Result<Vec<(String, f64)>, MetricParseError> {
        let mut out = Vec::new();
        parse_metric_map(t, &mut |k, v| out.push((k.to_string(), v)))?;
        Ok(out)
    }

    #[test]
    fn plain_maps() {
        assert_eq!(
            parse(r#"{"alloc_cputime":7952,"walltime":497}"#).unwrap(),
            vec![("alloc_cputime".into(), 7952.0), ("walltime".into(), 497.0)]
        );
        assert_eq!(
            parse(r#"{ "a" : 1.5 , "b":-2e3 }"#).unwrap(),
            vec![("a".into(), 1.5), ("b".into(), -2000.0)]
        );
        assert!(parse("{}").unwrap().is_empty());
        assert!(parse("null").unwrap().is_empty());
        assert!(parse("").unwrap().is_empty());
    }

    #[test]
    fn non_finite_spellings_are_zero() {
        let got =
            parse(r#"{"a":NaN,"b":"Inf","c":"-Infinity","d":null,"e":"nan","f":+Inf}"#).unwrap();
        assert_eq!(got.len(), 6);
        assert!(got.iter().all(|(_, v)| *v == 0.0));
    }

    #[test]
    fn escaped_keys_use_the_slow_path() {
        assert_eq!(parse(r#"{"a\"b":1}"#).unwrap(), vec![("a\"b".into(), 1.0)]);
    }

    #[test]
    fn bad_maps_are_errors() {
        assert!(parse(r#"{"a":"x"}"#).is_err());
        assert!(parse(r#"{"a":{"b":1}}"#).is_err());
        assert!(parse(r#"[1,2]"#).is_err());
        assert!(parse(r#"{"a":1"#).is_err());
        assert!(parse(r#"{"a":12abc}"#).is_err());
    }
}
