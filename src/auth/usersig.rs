//! Tencent TLS signature v2 ("UserSig"): the token a recorder presents to prove `SdkAppId` + `UserId`.
//!
//! Contract (must accept tokens made by Tencent's official libraries in any language):
//! - HMAC content: `TLS.identifier:{id}\nTLS.sdkappid:{appid}\nTLS.time:{t}\nTLS.expire:{exp}\n`,
//!   plus `TLS.userbuf:{base64(userbuf)}\n` when a userbuf is present;
//! - `TLS.sig = base64(HMAC-SHA256(secret key as its text bytes, content))`;
//! - the token is the JSON object `{"TLS.ver":"2.0","TLS.identifier","TLS.sdkappid","TLS.expire",
//!   "TLS.time","TLS.sig"[,"TLS.userbuf"]}`, zlib-compressed, standard base64 with
//!   `+`->`*`, `/`->`-`, `=`->`_`;
//! - expired iff `now > time + expire`.
//!
//! The official libraries differ in key order, spacing, `\u` escapes, numbers written as strings and a
//! trailing newline, so the JSON is parsed as JSON, never matched as text. A missing `TLS.expire`
//! means 0 (the token is only valid in the second it was made).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use std::io::Read;

/// Inflated tokens are a few hundred bytes; anything much larger is an attack on memory.
const MAX_INFLATED: u64 = 16 * 1024;
/// Tokens longer than this cannot be honest either (a compressed token is ~200 characters).
const MAX_TOKEN_LEN: usize = 8 * 1024;

/// What a verified token proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub identifier: String,
    pub sdkappid: u64,
    pub time: i64,
    pub expire: i64,
    pub userbuf: Option<Vec<u8>>,
}

impl Claims {
    pub fn expires_at(&self) -> i64 {
        self.time.saturating_add(self.expire)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UserSigError {
    #[error("UserSig is not valid base64url")]
    Encoding,
    #[error("UserSig does not inflate (not a zlib block, or too large)")]
    Compression,
    #[error("UserSig is not a TLS v2 JSON document: {0}")]
    Format(&'static str),
    #[error("UserSig was issued for identifier {found:?}, not {expected:?}")]
    IdentifierMismatch { expected: String, found: String },
    #[error("UserSig was issued for SdkAppId {found}, not {expected}")]
    AppMismatch { expected: u64, found: u64 },
    #[error("UserSig signature does not match")]
    BadSignature,
    #[error("UserSig expired at {expired_at} (now {now})")]
    Expired { expired_at: i64, now: i64 },
}

fn content(identifier: &str, sdkappid: u64, time: i64, expire: i64, userbuf_b64: Option<&str>) -> String {
    let mut s = format!("TLS.identifier:{identifier}\nTLS.sdkappid:{sdkappid}\nTLS.time:{time}\nTLS.expire:{expire}\n");
    if let Some(b) = userbuf_b64 {
        s.push_str("TLS.userbuf:");
        s.push_str(b);
        s.push('\n');
    }
    s
}

fn mac(key: &str, content: &str) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes any key length");
    mac.update(content.as_bytes());
    mac
}

/// Makes a token the way the official libraries do (node's layout: compact JSON).
pub fn generate(sdkappid: u64, key: &str, identifier: &str, expire: i64, now: i64, userbuf: Option<&[u8]>) -> String {
    let userbuf_b64 = userbuf.map(|b| STANDARD.encode(b));
    let sig = STANDARD.encode(
        mac(key, &content(identifier, sdkappid, now, expire, userbuf_b64.as_deref()))
            .finalize()
            .into_bytes(),
    );
    let mut doc = serde_json::json!({
        "TLS.ver": "2.0",
        "TLS.identifier": identifier,
        "TLS.sdkappid": sdkappid,
        "TLS.expire": expire,
        "TLS.time": now,
        "TLS.sig": sig,
    });
    if let Some(b) = userbuf_b64 {
        doc["TLS.userbuf"] = Value::String(b);
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut z, doc.to_string().as_bytes()).expect("writing to a Vec");
    to_url(&STANDARD.encode(z.finish().expect("writing to a Vec")))
}

fn to_url(b64: &str) -> String {
    b64.chars()
        .map(|c| match c {
            '+' => '*',
            '/' => '-',
            '=' => '_',
            c => c,
        })
        .collect()
}

fn from_url(token: &str) -> String {
    token
        .trim()
        .chars()
        .map(|c| match c {
            '*' => '+',
            '-' => '/',
            '_' => '=',
            c => c,
        })
        .collect()
}

/// Decodes a token without checking its signature: the caller needs the claimed app to find its key.
pub fn decode(token: &str) -> Result<(Claims, Vec<u8>, Option<String>), UserSigError> {
    if token.is_empty() || token.len() > MAX_TOKEN_LEN {
        return Err(UserSigError::Encoding);
    }
    let compressed = STANDARD.decode(from_url(token)).map_err(|_| UserSigError::Encoding)?;
    let mut json = Vec::new();
    flate2::read::ZlibDecoder::new(&compressed[..])
        .take(MAX_INFLATED + 1)
        .read_to_end(&mut json)
        .map_err(|_| UserSigError::Compression)?;
    if json.len() as u64 > MAX_INFLATED {
        return Err(UserSigError::Compression);
    }
    let doc: Value = serde_json::from_slice(&json).map_err(|_| UserSigError::Format("not JSON"))?;
    let obj = doc.as_object().ok_or(UserSigError::Format("not a JSON object"))?;
    if let Some(v) = obj.get("TLS.ver") {
        if text(v).as_deref() != Some("2.0") {
            return Err(UserSigError::Format("TLS.ver is not 2.0"));
        }
    }
    let identifier = obj
        .get("TLS.identifier")
        .and_then(text)
        .ok_or(UserSigError::Format("TLS.identifier missing"))?;
    let sdkappid = obj
        .get("TLS.sdkappid")
        .and_then(int)
        .and_then(|n| u64::try_from(n).ok())
        .ok_or(UserSigError::Format("TLS.sdkappid missing or not a number"))?;
    let time = obj
        .get("TLS.time")
        .and_then(int)
        .ok_or(UserSigError::Format("TLS.time missing"))?;
    let expire = match obj.get("TLS.expire") {
        None => 0,
        Some(v) => int(v).ok_or(UserSigError::Format("TLS.expire is not a number"))?,
    };
    let sig = obj
        .get("TLS.sig")
        .and_then(Value::as_str)
        .ok_or(UserSigError::Format("TLS.sig missing"))?;
    let sig = STANDARD
        .decode(sig.trim())
        .map_err(|_| UserSigError::Format("TLS.sig is not base64"))?;
    let userbuf_b64 = obj.get("TLS.userbuf").and_then(Value::as_str).map(str::to_owned);
    let userbuf = match &userbuf_b64 {
        None => None,
        Some(b) => Some(
            STANDARD
                .decode(b)
                .map_err(|_| UserSigError::Format("TLS.userbuf is not base64"))?,
        ),
    };
    Ok((
        Claims {
            identifier,
            sdkappid,
            time,
            expire,
            userbuf,
        },
        sig,
        userbuf_b64,
    ))
}

/// Verifies a token for `sdkappid` + `identifier` with the app's secret key at time `now`.
pub fn verify(token: &str, sdkappid: u64, identifier: &str, key: &str, now: i64) -> Result<Claims, UserSigError> {
    let (claims, sig, userbuf_b64) = decode(token)?;
    if claims.sdkappid != sdkappid {
        return Err(UserSigError::AppMismatch {
            expected: sdkappid,
            found: claims.sdkappid,
        });
    }
    if claims.identifier != identifier {
        return Err(UserSigError::IdentifierMismatch {
            expected: identifier.to_owned(),
            found: claims.identifier,
        });
    }
    let c = content(
        &claims.identifier,
        claims.sdkappid,
        claims.time,
        claims.expire,
        userbuf_b64.as_deref(),
    );
    // verify_slice compares in constant time.
    mac(key, &c)
        .verify_slice(&sig)
        .map_err(|_| UserSigError::BadSignature)?;
    if now > claims.expires_at() {
        return Err(UserSigError::Expired {
            expired_at: claims.expires_at(),
            now,
        });
    }
    Ok(claims)
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e";

    #[test]
    fn round_trip_with_and_without_userbuf() {
        let t = generate(1400000001, KEY, "alice", 86400, 1_700_000_000, None);
        let c = verify(&t, 1400000001, "alice", KEY, 1_700_000_100).unwrap();
        assert_eq!((c.identifier.as_str(), c.expire), ("alice", 86400));
        let t = generate(1400000001, KEY, "bob", 60, 1_700_000_000, Some(b"room 42"));
        let c = verify(&t, 1400000001, "bob", KEY, 1_700_000_060).unwrap();
        assert_eq!(c.userbuf.as_deref(), Some(&b"room 42"[..]));
    }

    #[test]
    fn expiry_is_inclusive_of_the_last_second() {
        let t = generate(1400000001, KEY, "alice", 10, 1000, None);
        assert!(verify(&t, 1400000001, "alice", KEY, 1010).is_ok());
        assert_eq!(
            verify(&t, 1400000001, "alice", KEY, 1011),
            Err(UserSigError::Expired {
                expired_at: 1010,
                now: 1011
            })
        );
    }

    #[test]
    fn rejects_other_key_app_identifier_and_garbage() {
        let t = generate(1400000001, KEY, "alice", 100, 1000, None);
        assert_eq!(
            verify(&t, 1400000001, "alice", "other", 1000),
            Err(UserSigError::BadSignature)
        );
        assert!(matches!(
            verify(&t, 1400000002, "alice", KEY, 1000),
            Err(UserSigError::AppMismatch { .. })
        ));
        assert!(matches!(
            verify(&t, 1400000001, "mallory", KEY, 1000),
            Err(UserSigError::IdentifierMismatch { .. })
        ));
        assert_eq!(verify("%%%", 1, "a", KEY, 0), Err(UserSigError::Encoding));
        assert_eq!(verify("", 1, "a", KEY, 0), Err(UserSigError::Encoding));
        // valid base64 of bytes that are not zlib
        assert_eq!(
            verify("aGVsbG8gd29ybGQ_", 1, "a", KEY, 0),
            Err(UserSigError::Compression)
        );
    }

    #[test]
    fn a_zip_bomb_is_refused() {
        let big = format!("{{\"TLS.identifier\":\"{}\"}}", "a".repeat(1 << 20));
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        std::io::Write::write_all(&mut z, big.as_bytes()).unwrap();
        let token = to_url(&STANDARD.encode(z.finish().unwrap()));
        assert!(token.len() < MAX_TOKEN_LEN);
        assert_eq!(verify(&token, 1, "a", KEY, 0), Err(UserSigError::Compression));
    }
}
