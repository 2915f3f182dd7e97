//! Values of `record`'s flags: durations, X window ids, regions.

use std::time::Duration;

/// A command-line value that does not parse; clap prints the message after the value and flag.
#[derive(Debug, thiserror::Error)]
pub enum ArgError {
    #[error("bad duration '{given}'")]
    Duration {
        given: String,
        source: std::num::ParseFloatError,
    },
    #[error("bad duration unit in '{0}' (use s, m, h)")]
    DurationUnit(String),
    #[error("bad window id '{given}'")]
    Window {
        given: String,
        source: std::num::ParseIntError,
    },
    #[error("use x,y,width,height")]
    Region,
}

pub fn parse_duration(s: &str) -> Result<Duration, ArgError> {
    let (num, unit) = s.trim().split_at(
        s.trim()
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(s.trim().len()),
    );
    let n: f64 = num.parse().map_err(|source| ArgError::Duration {
        given: s.to_owned(),
        source,
    })?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        "ms" => n / 1000.0,
        _ => return Err(ArgError::DurationUnit(s.to_owned())),
    };
    Ok(Duration::from_secs_f64(secs))
}

pub fn parse_window(s: &str) -> Result<u32, ArgError> {
    match s.strip_prefix("0x") {
        Some(h) => u32::from_str_radix(h, 16),
        None => s.parse(),
    }
    .map_err(|source| ArgError::Window {
        given: s.to_owned(),
        source,
    })
}

pub fn parse_region(s: &str) -> Result<(u32, u32, u32, u32), ArgError> {
    let v: Vec<u32> = s
        .split(',')
        .map(|p| p.trim().parse())
        .collect::<Result<_, _>>()
        .map_err(|_| ArgError::Region)?;
    match v[..] {
        [x, y, w, h] => Ok((x, y, w, h)),
        _ => Err(ArgError::Region),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_regions_parse_as_documented() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert!(parse_duration("5 parsecs").is_err());
        assert_eq!(parse_region("10,20,640,360").unwrap(), (10, 20, 640, 360));
        assert!(parse_region("10,20").is_err());
        assert_eq!(parse_window("0x1a00007").unwrap(), 0x1a00007);
        assert_eq!(parse_window("42").unwrap(), 42);
    }
}
