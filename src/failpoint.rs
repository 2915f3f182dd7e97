//! Fault injection for tests of races that real timing cannot produce on demand (a run stalled at
//! one exact step). Off unless the `failpoints` setting names a point, e.g.
//! `LOCALRECORD_FAILPOINTS=splice-before-publish=sleep(5000)`; a reached point is logged.

use std::time::Duration;

/// The sleep configured for `name`, if any.
fn sleep_for(spec: &str, name: &str) -> Option<Duration> {
    spec.split(',').find_map(|item| {
        let (n, action) = item.trim().split_once('=')?;
        let ms = action.strip_prefix("sleep(")?.strip_suffix(')')?.parse().ok()?;
        (n == name).then(|| Duration::from_millis(ms))
    })
}

/// Runs the fault `spec` (the `failpoints` setting) configures for `name` (today: a sleep).
pub async fn hit(spec: Option<&str>, name: &str) {
    let Some(spec) = spec else { return };
    if let Some(d) = sleep_for(spec, name) {
        tracing::warn!(failpoint = name, ms = d.as_millis() as u64, "failpoint reached");
        tokio::time::sleep(d).await;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_named_sleeps_only() {
        let spec = "a=sleep(10), splice-before-publish=sleep(5000),b=crash";
        assert_eq!(
            super::sleep_for(spec, "splice-before-publish").unwrap().as_millis(),
            5000
        );
        assert_eq!(super::sleep_for(spec, "a").unwrap().as_millis(), 10);
        assert!(super::sleep_for(spec, "b").is_none() && super::sleep_for(spec, "c").is_none());
    }
}
