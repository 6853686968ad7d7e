//! A CronJob schedule parser with the semantics of the one Kubernetes uses
//! (robfig/cron v3 `ParseStandard`): five fields (minute hour day-of-month month
//! day-of-week) with `*`, `?`, ranges `a-b`, steps `*/n`, `a-b/n` and `a/n`, lists,
//! month names JAN-DEC and weekday names SUN-SAT (any case); the descriptors
//! `@yearly @annually @monthly @weekly @daily @midnight @hourly`; and an optional
//! `CRON_TZ=Zone ` or `TZ=Zone ` prefix. `@every` is not accepted for CronJobs.
//!
//! Pure: it never panics, whatever the input.

use std::fmt;

/// A parsed schedule: the time zone prefix, if any, and the set of values per field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    pub time_zone: Option<String>,
    /// Bit i set when value i matches; minute 0-59, hour 0-23, dom 1-31, month 1-12, dow 0-6.
    pub minutes: u64,
    pub hours: u64,
    pub days_of_month: u64,
    pub months: u64,
    pub days_of_week: u64,
    /// The expression after the time zone, as written.
    pub expr: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
/// Why a schedule does not parse.
pub struct CronError(pub String);

impl fmt::Display for CronError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CronError {}

struct Bounds {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [(&'static str, u32)],
}

const MONTH_NAMES: &[(&str, u32)] = &[
    ("jan", 1),
    ("feb", 2),
    ("mar", 3),
    ("apr", 4),
    ("may", 5),
    ("jun", 6),
    ("jul", 7),
    ("aug", 8),
    ("sep", 9),
    ("oct", 10),
    ("nov", 11),
    ("dec", 12),
];
const DOW_NAMES: &[(&str, u32)] = &[
    ("sun", 0),
    ("mon", 1),
    ("tue", 2),
    ("wed", 3),
    ("thu", 4),
    ("fri", 5),
    ("sat", 6),
];

const FIELDS: [Bounds; 5] = [
    Bounds {
        name: "minute",
        min: 0,
        max: 59,
        names: &[],
    },
    Bounds {
        name: "hour",
        min: 0,
        max: 23,
        names: &[],
    },
    Bounds {
        name: "day of month",
        min: 1,
        max: 31,
        names: &[],
    },
    Bounds {
        name: "month",
        min: 1,
        max: 12,
        names: MONTH_NAMES,
    },
    Bounds {
        name: "day of week",
        min: 0,
        max: 6,
        names: DOW_NAMES,
    },
];

fn err(msg: String) -> Result<Schedule, CronError> {
    Err(CronError(msg))
}

/// Parses a CronJob schedule.
pub fn parse(spec: &str) -> Result<Schedule, CronError> {
    if spec.is_empty() {
        return err("empty schedule".to_owned());
    }
    let mut rest = spec;
    let mut time_zone = None;
    if rest.starts_with("TZ=") || rest.starts_with("CRON_TZ=") {
        let Some(space) = rest.find(char::is_whitespace) else {
            return err(format!(
                "time zone prefix without a schedule after it: {spec:?}"
            ));
        };
        let eq = rest.find('=').unwrap_or(0);
        let tz = &rest[eq + 1..space];
        if !valid_zone_name(tz) {
            return err(format!("provided bad location {tz:?}"));
        }
        time_zone = Some(tz.to_owned());
        rest = rest[space..].trim();
    }
    if rest.starts_with('@') {
        return match rest {
            "@yearly" | "@annually" => Ok(fixed(time_zone, rest, 0, 0, 1, 1, None)),
            "@monthly" => Ok(fixed(time_zone, rest, 0, 0, 1, 0, None)),
            "@weekly" => Ok(fixed(time_zone, rest, 0, 0, 0, 0, Some(0))),
            "@daily" | "@midnight" => Ok(fixed(time_zone, rest, 0, 0, 0, 0, None)),
            "@hourly" => Ok(fixed(time_zone, rest, 0, u32::MAX, 0, 0, None)),
            s if s.starts_with("@every") => err(format!(
                "{s:?}: @every is not supported by CronJobs; write the interval as a cron expression (e.g. */5 * * * *)"
            )),
            s => err(format!("unrecognized descriptor: {s:?}")),
        };
    }
    let fields: Vec<&str> = rest.split_whitespace().collect();
    if fields.len() != 5 {
        return err(format!(
            "expected exactly 5 fields (minute hour day-of-month month day-of-week), found {}: {rest:?}",
            fields.len()
        ));
    }
    let mut bits = [0u64; 5];
    for (i, f) in fields.iter().enumerate() {
        bits[i] = field(f, &FIELDS[i])?;
    }
    Ok(Schedule {
        time_zone,
        minutes: bits[0],
        hours: bits[1],
        days_of_month: bits[2],
        months: bits[3],
        days_of_week: bits[4],
        expr: rest.to_owned(),
    })
}

/// Plausible IANA zone names (`UTC`, `Europe/Berlin`, `America/Argentina/Buenos_Aires`,
/// `Etc/GMT+3`); the zone database itself is not consulted.
fn valid_zone_name(tz: &str) -> bool {
    !tz.is_empty()
        && tz.len() <= 64
        && !tz.starts_with('/')
        && !tz.ends_with('/')
        && !tz.contains("..")
        && tz
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '+'))
}

/// A descriptor's schedule: `hour == u32::MAX` means every hour, 0 in dom/month means every.
fn fixed(
    time_zone: Option<String>,
    expr: &str,
    minute: u32,
    hour: u32,
    dom: u32,
    month: u32,
    dow: Option<u32>,
) -> Schedule {
    let all = |b: &Bounds| range_bits(b.min, b.max, 1);
    Schedule {
        time_zone,
        minutes: 1 << minute,
        hours: if hour == u32::MAX {
            all(&FIELDS[1])
        } else {
            1 << hour
        },
        days_of_month: if dom == 0 { all(&FIELDS[2]) } else { 1 << dom },
        months: if month == 0 {
            all(&FIELDS[3])
        } else {
            1 << month
        },
        days_of_week: dow.map_or_else(|| all(&FIELDS[4]), |d| 1 << d),
        expr: expr.to_owned(),
    }
}

fn range_bits(start: u32, end: u32, step: u32) -> u64 {
    let mut b = 0u64;
    let mut i = start;
    while i <= end && i < 64 {
        b |= 1 << i;
        match i.checked_add(step.max(1)) {
            Some(n) => i = n,
            None => break,
        }
    }
    b
}

fn field(f: &str, b: &Bounds) -> Result<u64, CronError> {
    let mut bits = 0u64;
    // Like robfig/cron, empty list entries (`1,,2`) are skipped.
    for part in f.split(',').filter(|p| !p.is_empty()) {
        bits |= range(part, b)?;
    }
    if bits == 0 {
        // robfig accepts a field of only commas, and the schedule then never runs.
        return Err(CronError(format!(
            "{} field {f:?} selects no value: the schedule would never run",
            b.name
        )));
    }
    Ok(bits)
}

fn number(s: &str, b: &Bounds, whole: &str) -> Result<u32, CronError> {
    let lower = s.to_ascii_lowercase();
    if let Some((_, v)) = b.names.iter().find(|(n, _)| *n == lower) {
        return Ok(*v);
    }
    let t = s.strip_prefix('+').unwrap_or(s);
    if t.is_empty() || !t.chars().all(|c| c.is_ascii_digit()) {
        if s.starts_with('-') && s[1..].chars().all(|c| c.is_ascii_digit()) && s.len() > 1 {
            return Err(CronError(format!(
                "negative number ({s}) not allowed in {} field: {whole:?}",
                b.name
            )));
        }
        return Err(CronError(format!(
            "failed to parse {s:?} as a number in {} field: {whole:?}",
            b.name
        )));
    }
    t.parse::<u32>().map_err(|_| {
        CronError(format!(
            "number {s:?} out of range in {} field: {whole:?}",
            b.name
        ))
    })
}

fn range(expr: &str, b: &Bounds) -> Result<u64, CronError> {
    let range_and_step: Vec<&str> = expr.split('/').collect();
    let low_high: Vec<&str> = range_and_step[0].split('-').collect();
    let single = low_high.len() == 1;
    let (start, mut end);
    if low_high[0] == "*" || low_high[0] == "?" {
        // robfig/cron ignores anything after `*-` (`*-5` is `*`): accepted, as Kubernetes does.
        start = b.min;
        end = b.max;
    } else {
        start = number(low_high[0], b, expr)?;
        end = match low_high.len() {
            1 => start,
            2 => number(low_high[1], b, expr)?,
            _ => {
                return Err(CronError(format!(
                    "too many hyphens in {} field: {expr:?}",
                    b.name
                )));
            }
        };
    }
    let step = match range_and_step.len() {
        1 => 1,
        2 => {
            let s = number(range_and_step[1], &FIELDS[0], expr)
                .map_err(|_| CronError(format!("bad step in {} field: {expr:?}", b.name)))?;
            if single {
                end = b.max;
            }
            s
        }
        _ => {
            return Err(CronError(format!(
                "too many slashes in {} field: {expr:?}",
                b.name
            )));
        }
    };
    if start < b.min {
        return Err(CronError(format!(
            "beginning of range ({start}) below minimum ({}) in {} field: {expr:?}",
            b.min, b.name
        )));
    }
    if end > b.max {
        return Err(CronError(format!(
            "end of range ({end}) above maximum ({}) in {} field: {expr:?}",
            b.max, b.name
        )));
    }
    if start > end {
        return Err(CronError(format!(
            "beginning of range ({start}) beyond end of range ({end}) in {} field: {expr:?}",
            b.name
        )));
    }
    if step == 0 {
        return Err(CronError(format!(
            "step of range should be a positive number in {} field: {expr:?}",
            b.name
        )));
    }
    Ok(range_bits(start, end, step))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Schedule {
        parse(s).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
    }

    fn bad(s: &str) -> String {
        match parse(s) {
            Ok(x) => panic!("{s:?} should not parse, got {x:?}"),
            Err(e) => e.0,
        }
    }

    #[test]
    fn standard_expressions() {
        let s = ok("*/15 * * * *");
        assert_eq!(s.minutes, (1 << 0) | (1 << 15) | (1 << 30) | (1 << 45));
        let s = ok("0 9-17 * * MON-FRI");
        assert_eq!(s.hours.count_ones(), 9);
        assert_eq!(s.days_of_week, 0b0111110);
        let s = ok("30 2 1,15 jan,Jul *");
        assert_eq!(s.days_of_month, (1 << 1) | (1 << 15));
        assert_eq!(s.months, (1 << 1) | (1 << 7));
        let s = ok("5/20 0 ? * sun");
        assert_eq!(s.minutes, (1 << 5) | (1 << 25) | (1 << 45));
        assert_eq!(s.days_of_week, 1);
        ok("0 0 * JAN-DEC/3 *");
        ok("59 23 31 12 6");
        ok("0 0 1-31/2 * *");
        ok("+5 +1 * * *");
        ok("  0   0  *  *  *  ");
        ok("0\t0 * * *");
    }

    #[test]
    fn descriptors_and_time_zones() {
        for d in [
            "@yearly",
            "@annually",
            "@monthly",
            "@weekly",
            "@daily",
            "@midnight",
            "@hourly",
        ] {
            ok(d);
        }
        assert_eq!(ok("@hourly").hours.count_ones(), 24);
        assert_eq!(ok("@weekly").days_of_week, 1);
        let s = ok("CRON_TZ=Europe/Berlin 0 6 * * *");
        assert_eq!(s.time_zone.as_deref(), Some("Europe/Berlin"));
        assert_eq!(s.expr, "0 6 * * *");
        let s = ok("TZ=UTC @daily");
        assert_eq!(s.time_zone.as_deref(), Some("UTC"));
        ok("TZ=America/Argentina/Buenos_Aires 0 0 * * *");
        ok("TZ=Etc/GMT+3 0 0 * * *");
    }

    #[test]
    fn invalid_schedules_are_errors() {
        assert!(bad("@every 5m").contains("@every"));
        assert!(bad("@every").contains("@every"));
        bad("");
        bad(" ");
        bad("@DAILY");
        bad("@reboot");
        bad("@");
        bad("* * * *");
        bad("* * * * * *");
        bad("0 0 0 * * *");
        bad("60 * * * *");
        bad("* 24 * * *");
        bad("* * 0 * *");
        bad("* * 32 * *");
        bad("* * * 0 *");
        bad("* * * 13 *");
        assert!(bad("0 0 * * 7").contains("above maximum"));
        bad("*/0 * * * *");
        bad("5-1 * * * *");
        bad("1-2-3 * * * *");
        bad("*/5/2 * * * *");
        bad("a * * * *");
        bad("-1 * * * *");
        ok("1,,2 * * * *");
        bad(", * * * *");
        bad("1- * * * *");
        bad("-5 * * * *");
        ok("*-5 * * * *");
        bad("0 0 * JANUARY *");
        bad("0 0 * * MONDAY");
        bad("0 0 * * JAN");
        bad("0 0 MON * *");
        bad("99999999999999999999 * * * *");
        bad("L * * * *");
        bad("0 0 L * *");
        bad("0 0 * * 5#3");
        bad("H * * * *");
        bad("TZ=UTC");
        bad("TZ= 0 0 * * *");
        bad("CRON_TZ=../etc 0 0 * * *");
        bad("TZ=UTC @every 1h");
        bad("*/ * * * *");
        bad("/5 * * * *");
        bad("5/ * * * *");
        bad("0 0 * * * ?");
        bad("½ * * * *");
        bad("０ * * * *");
    }

    #[test]
    fn never_panics() {
        let alphabet = [
            "",
            " ",
            "*",
            "?",
            "-",
            "/",
            ",",
            "0",
            "1",
            "7",
            "59",
            "60",
            "@",
            "TZ=",
            "CRON_TZ=",
            "jan",
            "SUN",
            "é",
            "\t",
            "\u{0}",
            "99999999999",
            "+",
            "=",
            "@every",
            "@daily",
        ];
        let mut seed: u64 = 0x9E3779B97F4A7C15;
        for _ in 0..20_000 {
            let mut s = String::new();
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let n = (seed % 12) as usize;
            let mut x = seed;
            for _ in 0..n {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                s.push_str(alphabet[(x >> 33) as usize % alphabet.len()]);
            }
            let _ = parse(&s);
        }
    }
}
