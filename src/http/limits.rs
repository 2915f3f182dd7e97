//! Per-address limit on failed authentications: an address that fails `per_minute` times in a
//! minute is refused (429 with `Retry-After`) until its minute is over, before its credentials are
//! even looked at, so guessing UserSigs or flooding unknown SdkAppIds costs the database nothing.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);
/// Addresses remembered at once; beyond, expired windows are dropped first, then everything
/// (an attacker with that many addresses gains a fresh window, nothing more).
const MAX_ADDRESSES: usize = 100_000;

#[derive(Debug, Default)]
pub struct FailureLimiter {
    per_minute: u32,
    seen: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl FailureLimiter {
    pub fn new(per_minute: u32) -> FailureLimiter {
        FailureLimiter {
            per_minute,
            seen: Mutex::default(),
        }
    }

    /// None when `ip` may try; otherwise how long it must wait.
    pub fn check(&self, ip: IpAddr) -> Option<Duration> {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let (start, n) = seen.get(&ip)?;
        let left = WINDOW.checked_sub(start.elapsed())?;
        (*n >= self.per_minute).then_some(left.max(Duration::from_secs(1)))
    }

    /// Counts one failure of `ip`.
    pub fn failed(&self, ip: IpAddr) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() >= MAX_ADDRESSES {
            seen.retain(|_, (start, _)| start.elapsed() < WINDOW);
            if seen.len() >= MAX_ADDRESSES {
                seen.clear();
            }
        }
        let e = seen.entry(ip).or_insert((Instant::now(), 0));
        if e.0.elapsed() >= WINDOW {
            *e = (Instant::now(), 0);
        }
        e.1 += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_held_back_after_its_failures_and_others_are_not() {
        let l = FailureLimiter::new(3);
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        for _ in 0..3 {
            assert_eq!(l.check(a), None);
            l.failed(a);
        }
        let wait = l.check(a).expect("held back");
        assert!(wait <= WINDOW && wait >= Duration::from_secs(1));
        assert_eq!(l.check(b), None, "another address is not affected");
    }
}
