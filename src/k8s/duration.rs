//! Durations as kubedx writes them, and the seconds between two times.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// The instant of an API timestamp field.
pub fn time(t: Option<&Time>) -> Option<Timestamp> {
    t.map(|t| t.0)
}

/// Seconds from `from` to `to` (negative when `to` is earlier).
pub fn seconds(from: Timestamp, to: Timestamp) -> i64 {
    to.as_second() - from.as_second()
}

/// Seconds from `since` to `now` (negative when `since` is after `now`).
pub fn age(now: Timestamp, since: Timestamp) -> i64 {
    seconds(since, now)
}

/// A short duration, the larger unit first, a zero second unit left out:
/// `45s`, `12m`, `3h`, `3h10m`, `2d`, `2d3h` (negative counts as zero).
pub fn compact(secs: i64) -> String {
    let secs = secs.max(0);
    if secs < 60 {
        format!("{secs}s")
    } else if secs < 3600 {
        format!("{}m", secs / 60)
    } else if secs < 86400 {
        match (secs % 3600) / 60 {
            0 => format!("{}h", secs / 3600),
            minutes => format!("{}h{minutes}m", secs / 3600),
        }
    } else {
        match (secs % 86400) / 3600 {
            0 => format!("{}d", secs / 86400),
            hours => format!("{}d{hours}h", secs / 86400),
        }
    }
}

/// A duration with both units past an hour and seconds up to two minutes, where
/// the exact span matters (restarts, back-offs): `90s`, `12m`, `3h0m`, `2d4h`
/// (negative counts as zero).
pub fn two_units(secs: i64) -> String {
    let secs = secs.max(0);
    if secs < 120 {
        format!("{secs}s")
    } else if secs < 3600 {
        format!("{}m", secs / 60)
    } else if secs < 86400 {
        format!("{}h{}m", secs / 3600, (secs % 3600) / 60)
    } else {
        format!("{}d{}h", secs / 86400, (secs % 86400) / 3600)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_durations() {
        assert_eq!(compact(-5), "0s");
        assert_eq!(compact(45), "45s");
        assert_eq!(compact(90), "1m");
        assert_eq!(compact(600), "10m");
        assert_eq!(compact(3 * 3600), "3h");
        assert_eq!(compact(3 * 3600 + 600), "3h10m");
        assert_eq!(compact(2 * 86400), "2d");
        assert_eq!(compact(2 * 86400 + 3 * 3600), "2d3h");
    }

    #[test]
    fn two_unit_durations() {
        assert_eq!(two_units(45), "45s");
        assert_eq!(two_units(90), "90s");
        assert_eq!(two_units(600), "10m");
        assert_eq!(two_units(3 * 3600), "3h0m");
        assert_eq!(two_units(3 * 3600 + 600), "3h10m");
        assert_eq!(two_units(2 * 86400 + 4 * 3600), "2d4h");
    }

    #[test]
    fn ages_count_back_from_now() {
        let now: Timestamp = "2026-03-12T14:31:05Z".parse().unwrap();
        let then: Timestamp = "2026-03-12T14:30:05Z".parse().unwrap();
        assert_eq!(age(now, then), 60);
        assert_eq!(seconds(now, then), -60);
    }
}
