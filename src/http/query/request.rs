//! The query request's parts, read before any database lookup: the signed query string and the
//! JSON body.

use super::{bad, QueryError};
use serde_json::Value;
use std::collections::HashMap;

/// The signed query string's parameters.
#[derive(Debug)]
pub struct Params {
    pub sdkappid: i64,
    pub expire_time: i64,
    pub sign: String,
    /// Only remembered with `query.replay_cache`.
    pub random: Option<i64>,
}

/// Parses the query string. Pure, so the fuzz target (fuzz/) reaches it without a database.
pub fn params(q: &str) -> Result<Params, QueryError> {
    let params: HashMap<String, String> = form_urlencoded::parse(q.as_bytes()).into_owned().collect();
    let num = |k: &str| -> Result<i64, QueryError> {
        params
            .get(k)
            .ok_or_else(|| bad(format!("query parameter {k} is required")))?
            .trim()
            .parse()
            .map_err(|_| bad(format!("query parameter {k} must be an integer")))
    };
    let sdkappid = num("sdkappid")?;
    let expire_time = num("expire_time")?;
    let random = params
        .get("random")
        .map(|r| r.trim().parse::<i64>())
        .transpose()
        .map_err(|_| bad("query parameter random must be an integer"))?;
    let sign = params
        .get("sign")
        .ok_or_else(|| bad("query parameter sign is required"))?
        .clone();
    Ok(Params {
        sdkappid,
        expire_time,
        sign,
        random,
    })
}

/// The body must be a JSON object.
pub fn parse_body(body: &[u8]) -> Result<Value, QueryError> {
    let body: Value = serde_json::from_slice(body).map_err(|e| bad(format!("body is not JSON: {e}")))?;
    if !body.is_object() {
        return Err(bad("body must be a JSON object"));
    }
    Ok(body)
}

/// The page a (signed) body asks for.
#[derive(Debug)]
pub struct PageRequest<'a> {
    pub class_id: i64,
    pub index: i64,
    pub size: i64,
    pub user_id: Option<&'a str>,
    pub task_id: Option<&'a str>,
}

/// Validates the body's fields against the URL's `expire_time` and the page size limit.
pub fn page_request(body: &Value, expire_time: i64, max_page_size: i64) -> Result<PageRequest<'_>, QueryError> {
    if let Some(t) = int_field(body, "expire_time")? {
        if t != expire_time {
            return Err(bad("expire_time in the body differs from the one in the URL"));
        }
    }
    let class_id = int_field(body, "class_id")?.ok_or_else(|| bad("class_id is required"))?;
    let index = int_field(body, "Index")?.unwrap_or(0);
    let size = int_field(body, "size")?.ok_or_else(|| bad("size is required"))?;
    if index < 0 {
        return Err(bad("Index must be 0 or more"));
    }
    if !(1..=max_page_size).contains(&size) {
        return Err(bad(format!("size must be between 1 and {max_page_size}")));
    }
    Ok(PageRequest {
        class_id,
        index,
        size,
        user_id: str_field(body, "user_id")?,
        task_id: str_field(body, "task_id")?,
    })
}

/// An integer field: a JSON number, or absent/null (`None`). Anything else is refused.
fn int_field(body: &Value, key: &str) -> Result<Option<i64>, QueryError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| bad(format!("{key} must be an integer"))),
        Some(_) => Err(bad(format!("{key} must be an integer"))),
    }
}

/// A string filter: absent, null, "" and "0" (the seed's default) mean no filter.
fn str_field<'a>(body: &'a Value, key: &str) -> Result<Option<&'a str>, QueryError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() || s == "0" => Ok(None),
        Some(Value::String(s)) if s.len() <= 128 => Ok(Some(s)),
        Some(Value::Number(n)) if n.as_i64() == Some(0) => Ok(None),
        Some(_) => Err(bad(format!("{key} must be a string of at most 128 characters"))),
    }
}
