//! UserSig decoding and verification on arbitrary text: never a panic, memory bounded by the
//! decoder's own caps (the token length and the inflated size); and every identifier and userbuf
//! survives generate -> verify.
#![no_main]

use libfuzzer_sys::fuzz_target;
use localrecord::auth::usersig::{decode, generate, verify, UserSigError};

const KEY: &str = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e";
const APP: u64 = 1400000001;
const NOW: i64 = 1_700_000_000;

fuzz_target!(|data: &[u8]| {
    let token = String::from_utf8_lossy(data);
    match decode(&token) {
        Ok((claims, _sig, _userbuf)) => {
            let _ = claims.expires_at();
            // Verifying for the claimed app and identifier reaches the HMAC and expiry checks.
            match verify(&token, claims.sdkappid, &claims.identifier, KEY, NOW) {
                Ok(c) => assert_eq!(c, claims),
                Err(UserSigError::BadSignature | UserSigError::Expired { .. }) => {}
                Err(e) => panic!("decode accepted the token but verify says {e}"),
            }
        }
        // verify decodes first: the same input fails the same way.
        Err(e) => assert_eq!(verify(&token, APP, "alice", KEY, NOW), Err(e)),
    }

    // Round trip: any identifier (and any userbuf bytes) of reasonable length.
    if data.len() <= 512 {
        if let Ok(id) = std::str::from_utf8(data) {
            let t = generate(APP, KEY, id, 60, NOW, Some(data));
            let c = verify(&t, APP, id, KEY, NOW + 60).expect("a generated token verifies");
            assert_eq!(c.identifier, id);
            assert_eq!(c.userbuf.as_deref(), Some(data));
        }
    }
});
