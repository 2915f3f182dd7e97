//! The signed query API's input checks (src/http/query.rs) without a database: the query string
//! (`sdkappid`, `expire_time`, `random`, `sign`), the signature check on it, then the JSON body and
//! its fields. Input: the query string, a newline, the body. Never a panic; every refusal is a
//! 400 with error_code 1001; what passes is within bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use localrecord::auth::query_sign;
use localrecord::http::query::{codes, page_request, params, parse_body, QueryError};

const TIC_KEY: &str = "DzXpbluRsmo1JkoFxzKMNg5ifrA4GRlU";
const NOW: i64 = 1548247717;
const MAX_PAGE: i64 = 100;

fn refused(e: QueryError) {
    assert_eq!((e.0.as_u16(), e.1), (400, codes::INVALID_PARAMETER), "{}", e.2);
}

fuzz_target!(|data: &[u8]| {
    let (q, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b""[..]),
    };
    let q = String::from_utf8_lossy(q);
    let expire_time = match params(&q) {
        Ok(p) => {
            let _ = query_sign::verify(TIC_KEY, p.expire_time, &p.sign, NOW, 600);
            p.expire_time
        }
        Err(e) => {
            refused(e);
            1548247837
        }
    };
    match parse_body(body) {
        Ok(v) => match page_request(&v, expire_time, MAX_PAGE) {
            Ok(p) => {
                assert!(p.index >= 0 && (1..=MAX_PAGE).contains(&p.size));
                for s in [p.user_id, p.task_id].into_iter().flatten() {
                    assert!(!s.is_empty() && s != "0" && s.len() <= 128);
                }
            }
            Err(e) => refused(e),
        },
        Err(e) => refused(e),
    }
});
