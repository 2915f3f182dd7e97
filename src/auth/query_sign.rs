//! The query API's signature (TIC seed): `sign = md5(TicKey + expire_time)` in lowercase hex, where
//! `expire_time` is an absolute Unix time that must lie ahead of now, but not too far ahead.

use md5::{Digest, Md5};
use subtle::ConstantTimeEq;

pub fn sign(tic_key: &str, expire_time: i64) -> String {
    hex::encode(Md5::digest(format!("{tic_key}{expire_time}").as_bytes()))
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    #[error("sign does not match md5(TicKey + expire_time)")]
    Mismatch,
    #[error("expire_time {0} has passed")]
    Expired(i64),
    #[error("expire_time {0} is more than {1} s ahead")]
    TooFar(i64, i64),
}

/// Checks `given` for `expire_time` at `now`, allowing at most `window` seconds ahead.
pub fn verify(tic_key: &str, expire_time: i64, given: &str, now: i64, window: i64) -> Result<(), SignError> {
    let want = sign(tic_key, expire_time);
    if !bool::from(want.as_bytes().ct_eq(given.trim().to_ascii_lowercase().as_bytes())) {
        return Err(SignError::Mismatch);
    }
    if expire_time < now {
        return Err(SignError::Expired(expire_time));
    }
    if expire_time - now > window {
        return Err(SignError::TooFar(expire_time, window));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seeds_example_verifies() {
        assert_eq!(
            sign("DzXpbluRsmo1JkoFxzKMNg5ifrA4GRlU", 1548247837),
            "28374bd8cff400ac4906414780fbe387"
        );
        assert_eq!(
            verify(
                "DzXpbluRsmo1JkoFxzKMNg5ifrA4GRlU",
                1548247837,
                "28374bd8cff400ac4906414780fbe387",
                1548247717,
                120
            ),
            Ok(())
        );
        // Upper case hex is the same signature.
        assert!(verify(
            "DzXpbluRsmo1JkoFxzKMNg5ifrA4GRlU",
            1548247837,
            "28374BD8CFF400AC4906414780FBE387",
            1548247717,
            120
        )
        .is_ok());
    }

    #[test]
    fn rejections() {
        let k = "DzXpbluRsmo1JkoFxzKMNg5ifrA4GRlU";
        let s = sign(k, 1000);
        assert_eq!(verify(k, 1001, &s, 900, 600), Err(SignError::Mismatch));
        assert_eq!(verify("other-key-000000", 1000, &s, 900, 600), Err(SignError::Mismatch));
        assert_eq!(verify(k, 1000, &s, 1001, 600), Err(SignError::Expired(1000)));
        assert_eq!(verify(k, 1000, &s, 100, 600), Err(SignError::TooFar(1000, 600)));
    }
}
