//! Who may talk to the control API. It listens on loopback only, but a loopback port is within
//! reach of every web page the teacher opens, of DNS-rebinding pages (evil.example resolving to
//! 127.0.0.1, which the browser then treats as evil.example's own server) and of other local
//! users. Three checks close the browser's ways in:
//!
//! - `Host` must name the loopback at our port: a rebinding page's requests say
//!   `Host: evil.example:37604`.
//! - A POST must be `Content-Type: application/json`: browsers send text/plain, form and
//!   body-less POSTs to any origin without asking first ("simple requests"); a JSON POST from
//!   another origin needs a CORS preflight, which only allowed origins pass.
//! - An `Origin` header (browsers send one on every cross-origin request) must be on the allow
//!   list, which is empty unless configured. A preflight from another origin gets no CORS
//!   headers, so the browser never sends the request; one that arrives anyway is refused before
//!   it runs.
//!
//! Requests without `Origin` come from programs, not web pages (desktop apps, curl, the seed's
//! C++ sample) and pass the origin check.

use crate::api::{Envelope, ErrorBody, ErrorResponse};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// What the API accepts besides its own commands.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// The port it listens on (the only one `Host` may name).
    pub port: u16,
    /// Web origins allowed to call it, normalised by [`parse_origin`].
    pub origins: Vec<String>,
}

/// A value given as a web origin that is not one (a path, a wildcard, `null`, no scheme).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not an origin like https://class.example.com")]
pub struct BadOrigin(pub String);

/// `scheme://host[:port]`, lowercased, without a trailing slash. `*` and `null` are refused:
/// every allowed page is named.
pub fn parse_origin(s: &str) -> Result<String, BadOrigin> {
    let o = s.trim().trim_end_matches('/').to_ascii_lowercase();
    let (scheme, rest) = o.split_once("://").ok_or_else(|| BadOrigin(s.to_owned()))?;
    let ok_scheme = matches!(scheme, "http" | "https");
    let ok_rest = !rest.is_empty() && !rest.contains(['/', '?', '#', '@', '*', ' ']);
    if !ok_scheme || !ok_rest {
        return Err(BadOrigin(s.to_owned()));
    }
    Ok(o)
}

/// The seed's error envelope with an HTTP status (refusals before a command runs are not 200:
/// nothing of the seed's protocol happened).
pub fn refusal(status: StatusCode, message: impl Into<String>) -> Response {
    Refused(status, message.into()).into_response()
}

/// A request refused before any command ran: its status and message.
#[derive(Debug)]
pub struct Refused(StatusCode, String);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let body = error_envelope(crate::api::codes::INVALID_PARAMETER, self.1);
        (self.0, axum::Json(body)).into_response()
    }
}

/// `{"Response": {"Error": {"Code": ..., "Message": ...}}}`, the seed's refusal.
pub fn error_envelope(code: i64, message: String) -> Envelope<ErrorResponse> {
    Envelope {
        response: ErrorResponse {
            error: ErrorBody { code, message },
            request_id: String::new(),
        },
    }
}

/// Host and Origin. Ok(the allowed origin, if the request had one) or the refusal to send.
pub fn admit(access: &Access, headers: &HeaderMap) -> Result<Option<HeaderValue>, Refused> {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let port = access.port;
    let names = ["127.0.0.1", "localhost", "[::1]"];
    let host_ok = names
        .iter()
        .any(|n| host == format!("{n}:{port}") || (port == 80 && host == *n));
    if !host_ok {
        return Err(Refused(
            StatusCode::MISDIRECTED_REQUEST,
            format!("Host '{host}' refused: call 127.0.0.1:{port} or localhost:{port}"),
        ));
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(None);
    };
    let allowed = origin
        .to_str()
        .ok()
        .and_then(|o| parse_origin(o).ok())
        .is_some_and(|o| access.origins.contains(&o));
    if !allowed {
        let shown = String::from_utf8_lossy(origin.as_bytes()).into_owned();
        return Err(Refused(
            StatusCode::FORBIDDEN,
            format!("Origin '{shown}' is not allowed (localrecord-recorder --allow-origin)"),
        ));
    }
    Ok(Some(origin.clone()))
}

/// `application/json`, optionally with parameters such as `; charset=utf-8`.
pub fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
}

/// The answer to a preflight that passed [`admit`]: POST with a Content-Type header, from the
/// loopback too (Chrome's Private Network Access asks for that).
pub fn preflight(origin: Option<&HeaderValue>) -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    let h = r.headers_mut();
    h.insert(header::ALLOW, HeaderValue::from_static("POST, OPTIONS"));
    if origin.is_some() {
        h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("POST"));
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("content-type"),
        );
        h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
        h.insert("access-control-allow-private-network", HeaderValue::from_static("true"));
    }
    r
}

/// Every answer varies by Origin; an allowed origin may read it.
pub fn decorate(r: &mut Response, origin: Option<HeaderValue>) {
    let h = r.headers_mut();
    h.insert(header::VARY, HeaderValue::from_static("origin"));
    if let Some(o) = origin {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_named_exactly() {
        assert_eq!(
            parse_origin("https://Class.Example.com/").unwrap(),
            "https://class.example.com"
        );
        assert_eq!(parse_origin("http://localhost:3000").unwrap(), "http://localhost:3000");
        for bad in [
            "*",
            "null",
            "class.example.com",
            "https://a.example/x",
            "file://",
            "https://*.example",
        ] {
            assert!(parse_origin(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hosts_other_than_the_loopback_at_our_port_are_refused() {
        let access = Access {
            port: 37604,
            origins: vec![],
        };
        let with_host = |h: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::HOST, HeaderValue::from_str(h).unwrap());
            admit(&access, &m).is_ok()
        };
        assert!(with_host("127.0.0.1:37604"));
        assert!(with_host("LOCALHOST:37604"));
        assert!(with_host("[::1]:37604"));
        assert!(!with_host("evil.example:37604"));
        assert!(!with_host("127.0.0.1:80"));
        assert!(!with_host("127.0.0.1"));
        assert!(admit(&access, &HeaderMap::new()).is_err(), "no Host at all");
    }

    #[test]
    fn json_with_or_without_charset_only() {
        let ct = |v: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::CONTENT_TYPE, HeaderValue::from_str(v).unwrap());
            is_json(&m)
        };
        assert!(ct("application/json"));
        assert!(ct("Application/JSON; charset=utf-8"));
        assert!(!ct("text/plain"));
        assert!(!ct("application/x-www-form-urlencoded"));
        assert!(!ct("application/jsonp"));
        assert!(!is_json(&HeaderMap::new()));
    }
}
