//! Request middleware, outermost first: basic auth and extra headers (every request), path
//! cleaning, metrics and timeout, then per route group: method check, identity and admin rules,
//! CORS.

use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::{ApiError, ErrorDetail};
use crate::state::{AppState, Identity, RequestDeadline};

/// A plain-text response with Go's sniffed content type.
pub fn text(status: StatusCode, body: &'static str) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// The original's 404 for unknown paths.
pub async fn not_found() -> Response {
    let mut r = text(StatusCode::NOT_FOUND, "404 page not found\n");
    r.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

fn basic_credentials(req: &Request) -> Option<(String, String)> {
    use base64::Engine as _;
    let v = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let s = String::from_utf8(raw).ok()?;
    let (u, p) = s.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

/// Basic authentication (when the web config has users) and the configured extra headers; runs
/// for every request, known path or not.
pub async fn basic_auth(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let web = &st.web;
    let mut resp = if web.basic_auth_users.is_empty() {
        next.run(req).await
    } else {
        let ok = match basic_credentials(&req) {
            Some((user, pass)) => {
                let key = (user, pass);
                let cached = web
                    .basic_auth_ok
                    .lock()
                    .map(|c| c.contains(&key))
                    .unwrap_or(false);
                if cached {
                    true
                } else if let Some(hash) = web.basic_auth_users.get(&key.0) {
                    let (pass, hash) = (key.1.clone(), hash.clone());
                    let good = tokio::task::spawn_blocking(move || {
                        bcrypt::verify(pass, &hash).unwrap_or(false)
                    })
                    .await
                    .unwrap_or(false);
                    if good && let Ok(mut c) = web.basic_auth_ok.lock() {
                        if c.len() > 10_000 {
                            c.clear();
                        }
                        c.insert(key);
                    }
                    good
                } else {
                    false
                }
            }
            None => false,
        };
        if ok {
            next.run(req).await
        } else {
            let mut r = text(StatusCode::UNAUTHORIZED, "Unauthorized\n");
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
            r
        }
    };
    for (k, v) in &web.extra_headers {
        resp.headers_mut().insert(k.clone(), v.clone());
    }
    resp
}

/// Go's `path.Clean`, keeping a trailing slash as gorilla/mux does.
pub fn clean_path(p: &str) -> String {
    if p.is_empty() {
        return "/".into();
    }
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    let mut out = String::with_capacity(p.len());
    for s in &parts {
        out.push('/');
        out.push_str(s);
    }
    if out.is_empty() {
        out.push('/');
    }
    if p.ends_with('/') && out != "/" {
        out.push('/');
    }
    out
}

/// Redirects unclean paths (`//`, `/./`, `/../`) to their clean form with a 301.
pub async fn redirect_unclean(req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let clean = clean_path(path);
    if clean != path {
        let target = match req.uri().query() {
            Some(q) => format!("{clean}?{q}"),
            None => clean,
        };
        let mut r = StatusCode::MOVED_PERMANENTLY.into_response();
        if let Ok(v) = HeaderValue::from_str(&target) {
            r.headers_mut().insert(header::LOCATION, v);
        }
        return r;
    }
    next.run(req).await
}

/// Counts and times every request by route pattern and status, logs what went wrong behind
/// 5xx answers, and enforces the request timeout (a streamed body checks the
/// [`RequestDeadline`] itself).
pub async fn observe(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    let start = Instant::now();
    req.extensions_mut().insert(RequestDeadline(
        tokio::time::Instant::from_std(start) + st.web.request_timeout,
    ));
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let resp = match tokio::time::timeout(st.web.request_timeout, next.run(req)).await {
        Ok(r) => r,
        Err(_) => ApiError::timeout(format!(
            "request timed out after {:?}",
            st.web.request_timeout
        ))
        .into_response(),
    };
    let status = resp.status().as_u16();
    let elapsed = start.elapsed();
    st.metrics.observe(&route, status, elapsed);
    if let Some(ErrorDetail(detail)) = resp.extensions().get::<ErrorDetail>() {
        tracing::warn!(%method, %path, status, error = %detail, "request failed");
    }
    tracing::debug!(%method, %path, status, ms = elapsed.as_secs_f64() * 1e3, "request");
    resp
}

/// API routes answer GET and OPTIONS only: anything else (HEAD included) is 405 with an empty
/// body and the methods that are allowed.
pub async fn get_only(req: Request, next: Next) -> Response {
    if req.method() == Method::GET || req.method() == Method::OPTIONS {
        next.run(req).await
    } else {
        let mut r = (StatusCode::METHOD_NOT_ALLOWED, Body::empty()).into_response();
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, OPTIONS"));
        r
    }
}

/// Who is asking: the first non-empty identity header. 401 without one, 403 for non-admins on
/// `…admin` paths, then 400 without `User-Agent`. Exempt: OPTIONS, `/`, health, swagger,
/// debug and demo paths.
pub async fn identity(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    if req.method() == Method::OPTIONS {
        return next.run(req).await;
    }
    let path = req.uri().path().to_string();
    if is_exempt(&st.web.api_base, &path) {
        return next.run(req).await;
    }
    let headers = req.headers_mut();
    headers.remove("x-ceems-admin-user");
    headers.remove("x-ceems-logged-user");
    // The header's bytes as the original takes them: UTF-8 (other bytes decoded lossily),
    // trimmed.
    let user = st
        .web
        .user_headers
        .iter()
        .filter_map(|h| headers.get(h))
        .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_string())
        .find(|v| !v.is_empty());
    let Some(user) = user else {
        return middleware_error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "no user identified",
        );
    };
    let is_admin = st.is_admin(&user);
    if !is_admin && path.ends_with("admin") {
        return middleware_error(
            StatusCode::FORBIDDEN,
            "forbidden",
            "current user does not have admin privileges",
        );
    }
    let has_agent = headers
        .get(header::USER_AGENT)
        .is_some_and(|v| !String::from_utf8_lossy(v.as_bytes()).trim().is_empty());
    if !has_agent {
        return ApiError::bad_data("missing User-Agent header").into_response();
    }
    if let Ok(v) = HeaderValue::from_bytes(user.as_bytes()) {
        headers.insert("x-ceems-logged-user", v.clone());
        if is_admin {
            headers.insert("x-ceems-admin-user", v);
        }
    }
    req.extensions_mut().insert(Identity { user, is_admin });
    next.run(req).await
}

/// 401/403 from the identity check: the envelope as text, without JSON content type or CORS,
/// as the original writes them.
fn middleware_error(status: StatusCode, error_type: &str, message: &str) -> Response {
    let body = format!(
        "{{\"status\":\"error\",\"data\":null,\"errorType\":\"{error_type}\",\"error\":\"{message}\"}}\n"
    );
    let mut r = (status, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// The original's exemption regex `^(?:(<P>)?)/(swagger|debug|health|demo)(.*)` plus `/`, where
/// `P` is the API base (`<route prefix>/api/v1`).
fn is_exempt(api_base: &str, path: &str) -> bool {
    if path == "/" {
        return true;
    }
    let rest = path
        .strip_prefix(api_base)
        .filter(|r| r.starts_with('/'))
        .unwrap_or(path);
    ["/swagger", "/debug", "/health", "/demo"]
        .iter()
        .any(|e| rest.starts_with(e) || path.starts_with(e))
}

/// CORS as the original: only with an `Origin` header; the origin is echoed when it matches;
/// OPTIONS is answered 200 with an empty body.
pub async fn cors(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let origin = req.headers().get(header::ORIGIN).cloned();
    let mut resp = if req.method() == Method::OPTIONS {
        let mut r = StatusCode::OK.into_response();
        r.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
        r
    } else {
        next.run(req).await
    };
    if let Some(origin) = origin {
        let h = resp.headers_mut();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            st.web.cors_allow_headers.clone(),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET"),
        );
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("Date"),
        );
        h.insert(header::VARY, HeaderValue::from_static("Origin"));
        if origin
            .to_str()
            .is_ok_and(|o| st.web.cors_origin.is_match(o))
        {
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        }
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_cleaned_like_go() {
        assert_eq!(clean_path("/api/v1/units"), "/api/v1/units");
        assert_eq!(clean_path("/api//v1/units"), "/api/v1/units");
        assert_eq!(clean_path("/api/./v1/units"), "/api/v1/units");
        assert_eq!(clean_path("/api/x/../v1/units"), "/api/v1/units");
        assert_eq!(clean_path("/api/v1/units/"), "/api/v1/units/");
        assert_eq!(clean_path("/../.."), "/");
        assert_eq!(clean_path("/"), "/");
    }

    #[test]
    fn exempt_paths_follow_the_original_regex() {
        assert!(is_exempt("/api/v1", "/"));
        assert!(is_exempt("/api/v1", "/health"));
        assert!(is_exempt("/api/v1", "/swagger/index.html"));
        assert!(is_exempt("/api/v1", "/api/v1/demo/units"));
        assert!(!is_exempt("/api/v1", "/api/v1/units"));
        assert!(!is_exempt("/api/v1", "/api/v1/usage/current"));
        assert!(is_exempt("/ceems/api/v1", "/ceems/api/v1/demo/usage"));
        assert!(!is_exempt("/ceems/api/v1", "/ceems/api/v1/units/admin"));
    }
}
