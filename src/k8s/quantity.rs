//! Kubernetes resource quantities (`100m`, `1.5`, `128Mi`, `1e3`, `0.5Ti`, ...) with
//! the API server's semantics, and the resource arithmetic the scheduler does on a
//! Pod (effective requests: containers summed, init containers maxed, overhead added).
//!
//! A [`Quantity`] is held as a whole number of nano-units (`1` = 10^9 nanos), so
//! comparisons and sums are exact for every value the API server accepts in
//! practice; fractions below a nano-unit round up, as Kubernetes rounds them.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use k8s_openapi::api::core::v1::{Container, PodSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;

const NANO: i128 = 1_000_000_000;

/// A parsed quantity, in nano-units.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Quantity {
    nanos: i128,
}

/// Why a string is not a quantity.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid quantity {0:?}")]
pub struct QuantityError(pub String);

impl Quantity {
    pub const ZERO: Quantity = Quantity { nanos: 0 };

    pub fn from_nanos(nanos: i128) -> Quantity {
        Quantity { nanos }
    }

    /// `n` whole units.
    pub fn from_units(n: i64) -> Quantity {
        Quantity {
            nanos: (n as i128).saturating_mul(NANO),
        }
    }

    /// Parses a quantity as the API server does: `<signed number><suffix>` where the
    /// suffix is binary SI (`Ki` .. `Ei`), decimal SI (`n u m "" k M G T P E`) or a
    /// decimal exponent (`e3`, `E-2`). Whitespace around the value is ignored.
    pub fn parse(s: &str) -> Result<Quantity, QuantityError> {
        let err = || QuantityError(s.to_owned());
        let t = s.trim();
        if t.is_empty() {
            return Err(err());
        }
        let (negative, rest) = match t.as_bytes()[0] {
            b'-' => (true, &t[1..]),
            b'+' => (false, &t[1..]),
            _ => (false, t),
        };
        // the number: digits with at most one '.'
        let num_end = rest
            .char_indices()
            .find(|(_, c)| !(c.is_ascii_digit() || *c == '.'))
            .map_or(rest.len(), |(i, _)| i);
        let (number, suffix) = rest.split_at(num_end);
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(err());
        }
        let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
        // mantissa = all digits; scale10 = -len(frac)
        let mut mantissa: i128 = 0;
        let mut scale10: i64 = 0;
        let mut overflow = false;
        for c in int_part.chars() {
            let d = c as i128 - '0' as i128;
            match mantissa.checked_mul(10).and_then(|m| m.checked_add(d)) {
                Some(m) if !overflow => mantissa = m,
                _ => {
                    // too many integer digits: keep magnitude, drop precision
                    overflow = true;
                    scale10 += 1;
                }
            }
        }
        for c in frac_part.chars() {
            if overflow {
                break;
            }
            let d = c as i128 - '0' as i128;
            match mantissa.checked_mul(10).and_then(|m| m.checked_add(d)) {
                Some(m) => {
                    mantissa = m;
                    scale10 -= 1;
                }
                None => break,
            }
        }
        // the suffix
        let (bin_exp, dec_exp): (u32, i64) = match suffix {
            "" => (0, 0),
            "Ki" => (10, 0),
            "Mi" => (20, 0),
            "Gi" => (30, 0),
            "Ti" => (40, 0),
            "Pi" => (50, 0),
            "Ei" => (60, 0),
            "n" => (0, -9),
            "u" => (0, -6),
            "m" => (0, -3),
            "k" => (0, 3),
            "M" => (0, 6),
            "G" => (0, 9),
            "T" => (0, 12),
            "P" => (0, 15),
            "E" => (0, 18),
            s if s.starts_with(['e', 'E']) => {
                let e = &s[1..];
                let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(err());
                }
                let v: i64 = e
                    .parse()
                    .unwrap_or(if e.starts_with('-') { -10_000 } else { 10_000 });
                (0, v.clamp(-10_000, 10_000))
            }
            _ => return Err(err()),
        };
        // nanos = mantissa * 2^bin_exp * 10^(scale10 + dec_exp + 9), rounded up
        let mut v = mantissa;
        v = v.saturating_mul(1i128 << bin_exp);
        let exp10 = scale10 + dec_exp + 9;
        if exp10 >= 0 {
            for _ in 0..exp10.min(60) {
                v = v.saturating_mul(10);
            }
        } else {
            let mut rounded_up = false;
            for _ in 0..(-exp10).min(60) {
                if v == 0 {
                    break;
                }
                if v % 10 != 0 {
                    rounded_up = true;
                }
                v /= 10;
            }
            if (-exp10) > 60 && v != 0 {
                rounded_up = true;
                v = 0;
            }
            if rounded_up {
                v += 1;
            }
        }
        Ok(Quantity {
            nanos: if negative { -v } else { v },
        })
    }

    /// A k8s-openapi quantity; `None` when it does not parse.
    pub fn from_k8s(q: &K8sQuantity) -> Option<Quantity> {
        Quantity::parse(&q.0).ok()
    }

    pub fn nanos(self) -> i128 {
        self.nanos
    }

    /// Milli-units, rounded up (cpu in millicores).
    pub fn millis(self) -> i128 {
        div_ceil(self.nanos, 1_000_000)
    }

    /// Whole units, rounded up (memory in bytes, pods, GPUs).
    pub fn value(self) -> i128 {
        div_ceil(self.nanos, NANO)
    }

    pub fn as_f64(self) -> f64 {
        self.nanos as f64 / NANO as f64
    }

    pub fn is_zero(self) -> bool {
        self.nanos == 0
    }

    pub fn is_positive(self) -> bool {
        self.nanos > 0
    }

    pub fn saturating_add(self, o: Quantity) -> Quantity {
        Quantity {
            nanos: self.nanos.saturating_add(o.nanos),
        }
    }

    pub fn saturating_sub(self, o: Quantity) -> Quantity {
        Quantity {
            nanos: self.nanos.saturating_sub(o.nanos),
        }
    }

    /// `self / of` as a fraction (`None` when `of` is zero).
    pub fn ratio(self, of: Quantity) -> Option<f64> {
        (of.nanos != 0).then(|| self.nanos as f64 / of.nanos as f64)
    }

    /// Human form for a resource name: cpu in cores or millicores, memory and
    /// storage in binary units, everything else as a plain (decimal) number.
    pub fn display_for(self, resource: &str) -> String {
        if is_cpu(resource) {
            self.cpu_string()
        } else if is_bytes(resource) {
            self.bytes_string()
        } else {
            self.to_string()
        }
    }

    /// `250m`, `2`, `1.5`.
    pub fn cpu_string(self) -> String {
        let m = self.millis();
        if m % 1000 == 0 {
            format!("{}", m / 1000)
        } else if m.abs() < 1000 {
            format!("{m}m")
        } else {
            trim_float(m as f64 / 1000.0)
        }
    }

    /// `512Mi`, `1.5Gi`, `300` (bytes).
    pub fn bytes_string(self) -> String {
        let b = self.value();
        let units = [
            ("Ei", 60),
            ("Pi", 50),
            ("Ti", 40),
            ("Gi", 30),
            ("Mi", 20),
            ("Ki", 10),
        ];
        for (u, shift) in units {
            let unit = 1i128 << shift;
            if b.abs() >= unit {
                if b % unit == 0 {
                    return format!("{}{u}", b / unit);
                }
                return format!("{}{u}", trim_float(b as f64 / unit as f64));
            }
        }
        format!("{b}")
    }
}

impl fmt::Display for Quantity {
    /// Decimal form: whole numbers plainly, fractions with up to three decimals
    /// (`1`, `0.5`, `1e-3` as `0.001`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.nanos % NANO == 0 {
            write!(f, "{}", self.nanos / NANO)
        } else if self.nanos.abs() < NANO && self.nanos % 1_000_000 == 0 {
            write!(f, "{}m", self.nanos / 1_000_000)
        } else {
            f.write_str(&trim_float(self.as_f64()))
        }
    }
}

impl FromStr for Quantity {
    type Err = QuantityError;
    fn from_str(s: &str) -> Result<Quantity, QuantityError> {
        Quantity::parse(s)
    }
}

impl std::ops::Add for Quantity {
    type Output = Quantity;
    fn add(self, o: Quantity) -> Quantity {
        self.saturating_add(o)
    }
}

impl std::ops::AddAssign for Quantity {
    fn add_assign(&mut self, o: Quantity) {
        *self = self.saturating_add(o);
    }
}

impl std::ops::Sub for Quantity {
    type Output = Quantity;
    fn sub(self, o: Quantity) -> Quantity {
        self.saturating_sub(o)
    }
}

fn div_ceil(a: i128, b: i128) -> i128 {
    let q = a / b;
    if a % b > 0 { q + 1 } else { q }
}

fn trim_float(x: f64) -> String {
    let s = format!("{x:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_owned()
}

/// Whether a resource name is cpu-like (shown in cores / millicores).
pub fn is_cpu(resource: &str) -> bool {
    resource == "cpu" || resource.ends_with(".cpu")
}

/// Whether a resource name counts bytes (memory, storage, hugepages).
pub fn is_bytes(resource: &str) -> bool {
    let r = resource.rsplit('.').next().unwrap_or(resource);
    r == "memory"
        || r == "storage"
        || r == "ephemeral-storage"
        || resource.starts_with("hugepages-")
        || resource.starts_with("requests.hugepages-")
}

/// A resource list (`requests`, `allocatable`, quota `hard`...), parsed. Values
/// that do not parse are left out.
pub type Resources = BTreeMap<String, Quantity>;

/// Parses a k8s resource map.
pub fn resources(m: Option<&BTreeMap<String, K8sQuantity>>) -> Resources {
    m.into_iter()
        .flatten()
        .filter_map(|(k, v)| Quantity::from_k8s(v).map(|q| (k.clone(), q)))
        .collect()
}

fn add_into(acc: &mut Resources, r: &Resources) {
    for (k, v) in r {
        *acc.entry(k.clone()).or_default() += *v;
    }
}

fn max_into(acc: &mut Resources, r: &Resources) {
    for (k, v) in r {
        let e = acc.entry(k.clone()).or_default();
        if *v > *e {
            *e = *v;
        }
    }
}

/// The requests of one container as the API server defaults them: an explicit
/// request, else the limit of the same resource (requests default to limits).
pub fn container_requests(c: &Container) -> Resources {
    let res = c.resources.as_ref();
    let mut out = resources(res.and_then(|r| r.limits.as_ref()));
    out.extend(resources(res.and_then(|r| r.requests.as_ref())));
    out
}

/// Whether an init container is a sidecar (restartPolicy Always): it keeps running
/// next to the app containers, so its requests add up with theirs.
pub fn is_sidecar(c: &Container) -> bool {
    c.restart_policy.as_deref() == Some("Always")
}

/// The requests the scheduler accounts for a Pod: the sum of the app containers
/// and sidecars, or the largest init container (plus the sidecars started before
/// it) when that is larger, plus the Pod overhead. Pod-level `resources.requests`
/// replace the container sums for the resources they name.
pub fn pod_requests(spec: &PodSpec) -> Resources {
    let mut sum = Resources::new();
    for c in &spec.containers {
        add_into(&mut sum, &container_requests(c));
    }
    let mut sidecars = Resources::new();
    let mut init_max = Resources::new();
    for c in spec.init_containers.iter().flatten() {
        let r = container_requests(c);
        if is_sidecar(c) {
            add_into(&mut sidecars, &r);
        } else {
            let mut with_sidecars = sidecars.clone();
            add_into(&mut with_sidecars, &r);
            max_into(&mut init_max, &with_sidecars);
        }
    }
    add_into(&mut sum, &sidecars);
    max_into(&mut sum, &init_max);
    if let Some(pod_level) = spec.resources.as_ref() {
        let explicit = resources(pod_level.limits.as_ref())
            .into_iter()
            .chain(resources(pod_level.requests.as_ref()))
            .filter(|(k, _)| k == "cpu" || k == "memory");
        for (k, v) in explicit.collect::<Resources>() {
            sum.insert(k, v);
        }
    }
    add_into(&mut sum, &resources(spec.overhead.as_ref()));
    sum.retain(|_, v| v.is_positive());
    sum
}

/// `cpu=500m, memory=1Gi`, in resource-name order.
pub fn describe(r: &Resources) -> String {
    let parts: Vec<String> = r
        .iter()
        .map(|(k, v)| format!("{k}={}", v.display_for(k)))
        .collect();
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Quantity {
        Quantity::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn parses_every_suffix() {
        assert_eq!(q("100m").millis(), 100);
        assert_eq!(q("1.5").millis(), 1500);
        assert_eq!(q("1").millis(), 1000);
        assert_eq!(q("128Mi").value(), 128 * 1024 * 1024);
        assert_eq!(q("1Gi").value(), 1 << 30);
        assert_eq!(q("0.5Ti").value(), 1 << 39);
        assert_eq!(q("1e3").value(), 1000);
        assert_eq!(q("1E3").value(), 1000);
        assert_eq!(q("1e-3").millis(), 1);
        assert_eq!(q("500k").value(), 500_000);
        assert_eq!(q("2G").value(), 2_000_000_000);
        assert_eq!(q("1M").value(), 1_000_000);
        assert_eq!(q("3T").value(), 3_000_000_000_000);
        assert_eq!(q("1P").value(), 10i128.pow(15));
        assert_eq!(q("2E").value(), 2 * 10i128.pow(18));
        assert_eq!(q("1Ei").value(), 1i128 << 60);
        assert_eq!(q("1Pi").value(), 1i128 << 50);
        assert_eq!(q("64Ki").value(), 65536);
        assert_eq!(q("250u").nanos(), 250_000);
        assert_eq!(q("5n").nanos(), 5);
        assert_eq!(q(".5").millis(), 500);
        assert_eq!(q("5.").value(), 5);
        assert_eq!(q("+2").value(), 2);
        assert_eq!(q("-1").value(), -1);
        assert_eq!(q(" 4 ").value(), 4);
        assert_eq!(q("0").nanos(), 0);
        assert_eq!(q("110").value(), 110);
        assert_eq!(q("1.25Gi").value(), 5 * (1 << 28));
        assert_eq!(q("12e+2").value(), 1200);
    }

    #[test]
    fn equal_values_compare_equal() {
        assert_eq!(q("1"), q("1000m"));
        assert_eq!(q("1Ki"), q("1024"));
        assert_eq!(q("1k"), q("1e3"));
        assert_eq!(q("0.5"), q("500m"));
        assert!(q("1Gi") > q("1G"));
        assert!(q("1500m") < q("2"));
        assert_eq!(q("1.5Gi") + q("512Mi"), q("2Gi"));
    }

    #[test]
    fn sub_nano_fractions_round_up() {
        assert_eq!(q("0.1n").nanos(), 1);
        assert_eq!(q("1.0000000001").nanos(), 1_000_000_001);
        assert_eq!(q("1e-20").nanos(), 1);
    }

    #[test]
    fn rejects_what_the_api_server_rejects() {
        for bad in [
            "", " ", "m", "Gi", "1.2.3", "1GB", "1gi", "1 Gi", "abc", "--1", "1e", "1e+", "1ee3",
            "1Ki2", ".", "1x", "0x10", "1e3.5",
        ] {
            assert!(Quantity::parse(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn huge_values_saturate_instead_of_panicking() {
        assert!(q("99999999999999999999999999999999999999999999999").is_positive());
        assert!(q("1e9999").is_positive());
        assert!(q("9Ei").value() > 0);
        let _ = q("123456789012345678901234567890.123456789012345678901234567890");
    }

    #[test]
    fn mangled_input_never_panics() {
        let seeds = ["100m", "1.5Gi", "1e3", "-0.5Ti", "500k", "2G", "110"];
        let noise = [
            '.', 'e', 'E', '+', '-', 'i', 'K', 'm', '9', 'é', ' ', '\u{0}', 'µ',
        ];
        for s in seeds {
            let chars: Vec<char> = s.chars().collect();
            for i in 0..=chars.len() {
                for n in noise {
                    let mut v = chars.clone();
                    v.insert(i, n);
                    let _ = Quantity::parse(&v.iter().collect::<String>());
                    let mut w = chars.clone();
                    if i < w.len() {
                        w[i] = n;
                        let _ = Quantity::parse(&w.iter().collect::<String>());
                        w.remove(i);
                        let _ = Quantity::parse(&w.iter().collect::<String>());
                    }
                }
            }
        }
    }

    #[test]
    fn displays_per_resource() {
        assert_eq!(q("250m").display_for("cpu"), "250m");
        assert_eq!(q("2").display_for("cpu"), "2");
        assert_eq!(q("1500m").display_for("requests.cpu"), "1.5");
        assert_eq!(q("1Gi").display_for("memory"), "1Gi");
        assert_eq!(q("1536Mi").display_for("limits.memory"), "1.5Gi");
        assert_eq!(q("3950348Ki").display_for("memory"), "3.77Gi");
        assert_eq!(q("100").display_for("ephemeral-storage"), "100");
        assert_eq!(q("4").display_for("nvidia.com/gpu"), "4");
        assert_eq!(q("10").display_for("count/deployments.apps"), "10");
        assert_eq!(q("500m").to_string(), "500m");
    }

    fn container(name: &str, req: &[(&str, &str)], lim: &[(&str, &str)]) -> Container {
        let m = |xs: &[(&str, &str)]| {
            (!xs.is_empty()).then(|| {
                xs.iter()
                    .map(|(k, v)| (k.to_string(), K8sQuantity(v.to_string())))
                    .collect()
            })
        };
        Container {
            name: name.into(),
            resources: Some(k8s_openapi::api::core::v1::ResourceRequirements {
                requests: m(req),
                limits: m(lim),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn pod_requests_sum_containers_max_init_add_overhead() {
        let mut spec = PodSpec {
            containers: vec![
                container("app", &[("cpu", "500m"), ("memory", "256Mi")], &[]),
                // limits only: the request defaults to the limit
                container("proxy", &[], &[("cpu", "250m"), ("memory", "128Mi")]),
            ],
            init_containers: Some(vec![container(
                "migrate",
                &[("cpu", "2"), ("memory", "64Mi")],
                &[],
            )]),
            overhead: Some([("cpu".to_string(), K8sQuantity("100m".into()))].into()),
            ..Default::default()
        };
        let r = pod_requests(&spec);
        assert_eq!(r["cpu"], q("2100m"));
        assert_eq!(r["memory"], q("384Mi"));
        // a sidecar init container adds up with the app containers
        let mut sidecar = container("log", &[("cpu", "1"), ("memory", "1Gi")], &[]);
        sidecar.restart_policy = Some("Always".into());
        spec.init_containers.as_mut().unwrap().insert(0, sidecar);
        spec.overhead = None;
        let r = pod_requests(&spec);
        // max(0.75 + 1, 1 + 2) = 3 cpu; max(384Mi + 1Gi, 1Gi + 64Mi)
        assert_eq!(r["cpu"], q("3"));
        assert_eq!(r["memory"], q("1408Mi"));
        assert_eq!(describe(&r), "cpu=3, memory=1.38Gi");
    }
}
