//! The CEEMS response envelope and Go-compatible JSON text.
//!
//! Bodies are `{"status":…,"data":…,"errorType":…,"error":…,"warnings":[…]}` in exactly that key
//! order, compact, with one trailing newline. Like Go's `encoding/json`, `<`, `>`, `&`, U+2028
//! and U+2029 inside strings are escaped.

/// Error classes of the envelope and their HTTP statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    BadData,
    Unauthorized,
    Forbidden,
    NotFound,
    Timeout,
    Internal,
    Unavailable,
}

impl ErrorType {
    /// The `errorType` string.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::BadData => "bad_data",
            ErrorType::Unauthorized => "unauthorized",
            ErrorType::Forbidden => "forbidden",
            ErrorType::NotFound => "not_found",
            ErrorType::Timeout => "timeout",
            ErrorType::Internal => "internal",
            ErrorType::Unavailable => "unavailable",
        }
    }

    /// The HTTP status (the original's mapping).
    pub fn status(self) -> u16 {
        match self {
            ErrorType::BadData => 400,
            ErrorType::Unauthorized => 401,
            ErrorType::Forbidden => 403,
            ErrorType::NotFound => 404,
            ErrorType::Timeout => 503,
            ErrorType::Internal => 500,
            ErrorType::Unavailable => 503,
        }
    }
}

/// Appends `s` as a JSON string literal with Go's escaping.
pub fn push_json_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let esc: Option<&[u8]> = match c {
            '"' => Some(b"\\\""),
            '\\' => Some(b"\\\\"),
            '\n' => Some(b"\\n"),
            '\r' => Some(b"\\r"),
            '\t' => Some(b"\\t"),
            '<' => Some(b"\\u003c"),
            '>' => Some(b"\\u003e"),
            '&' => Some(b"\\u0026"),
            '\u{2028}' => Some(b"\\u2028"),
            '\u{2029}' => Some(b"\\u2029"),
            c if (c as u32) < 0x20 => None,
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        match esc {
            Some(e) => out.extend_from_slice(e),
            None => out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes()),
        }
        start = i + c.len_utf8();
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// `{"status":"error","data":null,"errorType":…,"error":…}` + newline.
pub fn error_body(error_type: ErrorType, message: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(96 + message.len());
    out.extend_from_slice(b"{\"status\":\"error\",\"data\":null,\"errorType\":");
    push_json_string(&mut out, error_type.as_str());
    out.extend_from_slice(b",\"error\":");
    push_json_string(&mut out, message);
    out.extend_from_slice(b"}\n");
    out
}

/// What a success envelope starts with, up to its `data`.
pub const SUCCESS_OPEN: &[u8] = b"{\"status\":\"success\",\"data\":";

/// What a success envelope without warnings ends with, after its `data`.
pub const SUCCESS_CLOSE: &[u8] = b"}\n";

/// `{"status":"success","data":<data>[,"warnings":[…]]}` + newline, `data` already encoded.
pub fn success_body(data: &[u8], warnings: &[String]) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + data.len());
    out.extend_from_slice(SUCCESS_OPEN);
    out.extend_from_slice(data);
    if !warnings.is_empty() {
        out.extend_from_slice(b",\"warnings\":[");
        for (i, w) in warnings.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            push_json_string(&mut out, w);
        }
        out.push(b']');
    }
    out.extend_from_slice(SUCCESS_CLOSE);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_escaping() {
        let mut v = Vec::new();
        push_json_string(&mut v, "a<b>&\"\\\n\u{1}\u{2028}é");
        assert_eq!(
            String::from_utf8(v).unwrap(),
            r#""a\u003cb\u003e\u0026\"\\\n\u0001\u2028é""#
        );
    }

    #[test]
    fn envelopes() {
        assert_eq!(
            String::from_utf8(error_body(
                ErrorType::Forbidden,
                "current user does not have admin privileges"
            ))
            .unwrap(),
            "{\"status\":\"error\",\"data\":null,\"errorType\":\"forbidden\",\"error\":\"current user does not have admin privileges\"}\n"
        );
        assert_eq!(
            String::from_utf8(success_body(b"null", &[])).unwrap(),
            "{\"status\":\"success\",\"data\":null}\n"
        );
        assert_eq!(
            String::from_utf8(success_body(b"[]", &["w".into()])).unwrap(),
            "{\"status\":\"success\",\"data\":[],\"warnings\":[\"w\"]}\n"
        );
    }
}
