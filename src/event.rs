//! Kubernetes Events, normalized from both APIs (core/v1 and events.k8s.io/v1).
//!
//! Real clusters write events in several shapes: the kubelet fills
//! `firstTimestamp`/`lastTimestamp`/`count`, the scheduler and newer components
//! leave those null and use `eventTime` and `series`. [`EventRecord`] reads them
//! all the same way (docs/reference.md, "Snapshots").

use jiff::Timestamp;
use serde_json::Value;

use crate::model::{Kind, ObjRef};

/// One event, whichever API it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct EventRecord {
    /// The event object's own namespace and name.
    pub namespace: String,
    pub name: String,
    /// The object the event is about (`involvedObject` / `regarding`).
    pub regarding_kind: String,
    pub regarding_namespace: Option<String>,
    pub regarding_name: String,
    pub regarding_uid: Option<String>,
    /// `Normal` or `Warning`.
    pub type_: String,
    pub reason: String,
    pub message: String,
    /// `series.count`, else `count`, else 1.
    pub count: i32,
    /// `series.lastObservedTime`, else `lastTimestamp`, else `eventTime`, else `firstTimestamp`.
    pub time: Option<Timestamp>,
    /// `firstTimestamp`, else `eventTime`, else `time`.
    pub first_time: Option<Timestamp>,
    /// `reportingComponent` / `source.component` (e.g. `kubelet`, `default-scheduler`).
    pub source: String,
    /// `source.host` / `reportingInstance`.
    pub host: Option<String>,
}

impl EventRecord {
    /// Reads an event of either API from its JSON form. `None` when it is not an event.
    pub fn from_value(v: &Value) -> Option<EventRecord> {
        let api = v.get("apiVersion").and_then(Value::as_str).unwrap_or("v1");
        let meta = v.get("metadata")?;
        let namespace = str_at(meta, "namespace").unwrap_or_default();
        let name = str_at(meta, "name").unwrap_or_default();
        let new_api = api.starts_with("events.k8s.io/");
        let regarding = if new_api {
            v.get("regarding")
        } else {
            v.get("involvedObject")
        }?;
        let (reason, message) = if new_api {
            (str_at(v, "reason"), str_at(v, "note"))
        } else {
            (str_at(v, "reason"), str_at(v, "message"))
        };
        let series = v.get("series");
        let series_count = series.and_then(|s| s.get("count")).and_then(Value::as_i64);
        let series_last = series.and_then(|s| time_at(s, "lastObservedTime"));
        let (count, last_ts, first_ts) = if new_api {
            (
                v.get("deprecatedCount").and_then(Value::as_i64),
                time_at(v, "deprecatedLastTimestamp"),
                time_at(v, "deprecatedFirstTimestamp"),
            )
        } else {
            (
                v.get("count").and_then(Value::as_i64),
                time_at(v, "lastTimestamp"),
                time_at(v, "firstTimestamp"),
            )
        };
        let event_time = time_at(v, "eventTime");
        let time = series_last.or(last_ts).or(event_time).or(first_ts);
        let first_time = first_ts.or(event_time).or(time);
        let source = if new_api {
            str_at(v, "reportingController").or_else(|| {
                v.get("deprecatedSource")
                    .and_then(|s| str_at(s, "component"))
            })
        } else {
            str_at(v, "reportingComponent")
                .filter(|s| !s.is_empty())
                .or_else(|| v.get("source").and_then(|s| str_at(s, "component")))
        }
        .unwrap_or_default();
        let host = if new_api {
            v.get("deprecatedSource")
                .and_then(|s| str_at(s, "host"))
                .or_else(|| str_at(v, "reportingInstance"))
        } else {
            v.get("source")
                .and_then(|s| str_at(s, "host"))
                .or_else(|| str_at(v, "reportingInstance").filter(|s| !s.is_empty()))
        };
        Some(EventRecord {
            namespace,
            name,
            regarding_kind: str_at(regarding, "kind").unwrap_or_default(),
            regarding_namespace: str_at(regarding, "namespace").filter(|s| !s.is_empty()),
            regarding_name: str_at(regarding, "name").unwrap_or_default(),
            regarding_uid: str_at(regarding, "uid").filter(|s| !s.is_empty()),
            type_: str_at(v, "type").unwrap_or_else(|| "Normal".to_owned()),
            reason: reason.unwrap_or_default(),
            message: message.unwrap_or_default(),
            count: series_count
                .or(count)
                .unwrap_or(1)
                .clamp(1, i32::MAX as i64) as i32,
            time,
            first_time,
            source,
            host,
        })
    }

    pub fn is_warning(&self) -> bool {
        self.type_ == "Warning"
    }

    /// The object the event is about, when it is of a kind the engine knows.
    pub fn regarding(&self) -> Option<ObjRef> {
        let kind = Kind::from_api_kind(&self.regarding_kind)?;
        let ns = self
            .regarding_namespace
            .as_deref()
            .or(if kind.namespaced() {
                Some(self.namespace.as_str())
            } else {
                None
            });
        Some(ObjRef::new(kind, ns, &self.regarding_name))
    }

    /// The key under which the event is stored: its own namespace and name.
    pub fn key(&self) -> (String, String) {
        (self.namespace.clone(), self.name.clone())
    }

    /// `Reason: message` (with the count when repeated), as evidence lines show it.
    pub fn describe(&self) -> String {
        let mut s = format!("{} {}: {}", self.type_, self.reason, self.message.trim());
        if self.count > 1 {
            s.push_str(&format!(" (x{})", self.count));
        }
        if !self.source.is_empty() {
            s.push_str(&format!(" [{}]", self.source));
        }
        s
    }
}

fn str_at(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn time_at(v: &Value, key: &str) -> Option<Timestamp> {
    v.get(key)
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<Timestamp>().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn core_v1_kubelet_event() {
        let v = json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": "web-1.17a", "namespace": "shop"},
            "involvedObject": {"kind": "Pod", "name": "web-1", "namespace": "shop", "uid": "u1", "fieldPath": "spec.containers{app}"},
            "reason": "BackOff", "message": "Back-off restarting failed container app in pod web-1_shop(u1)",
            "type": "Warning", "count": 7,
            "firstTimestamp": "2026-11-21T09:00:00Z", "lastTimestamp": "2026-11-21T09:30:00Z",
            "source": {"component": "kubelet", "host": "worker-1"}
        });
        let e = EventRecord::from_value(&v).unwrap();
        assert_eq!(e.count, 7);
        assert_eq!(e.source, "kubelet");
        assert_eq!(e.host.as_deref(), Some("worker-1"));
        assert_eq!(e.time.unwrap().to_string(), "2026-11-21T09:30:00Z");
        assert_eq!(
            e.regarding(),
            Some(ObjRef::namespaced(Kind::Pod, "shop", "web-1"))
        );
        assert!(e.is_warning());
    }

    #[test]
    fn scheduler_event_with_event_time_and_series() {
        // The scheduler writes eventTime and series, and leaves first/lastTimestamp null.
        let v = json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": "db-0.18b", "namespace": "shop"},
            "involvedObject": {"kind": "Pod", "name": "db-0", "namespace": "shop"},
            "reason": "FailedScheduling",
            "message": "0/4 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 3 Insufficient memory. preemption: 0/4 nodes are available: 1 Preemption is not helpful for scheduling, 3 No preemption victims found for incoming pod.",
            "type": "Warning", "count": null, "firstTimestamp": null, "lastTimestamp": null,
            "eventTime": "2026-11-21T09:00:00.123456Z",
            "series": {"count": 12, "lastObservedTime": "2026-11-21T09:40:00.000000Z"},
            "reportingComponent": "default-scheduler", "reportingInstance": "default-scheduler-cp",
            "source": {}
        });
        let e = EventRecord::from_value(&v).unwrap();
        assert_eq!(e.count, 12);
        assert_eq!(e.source, "default-scheduler");
        assert_eq!(e.time.unwrap().to_string(), "2026-11-21T09:40:00Z");
        assert_eq!(
            e.first_time.unwrap().to_string(),
            "2026-11-21T09:00:00.123456Z"
        );
    }

    #[test]
    fn events_k8s_io_v1_event() {
        let v = json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "x.1", "namespace": "shop"},
            "regarding": {"kind": "Deployment", "name": "web", "namespace": "shop"},
            "reason": "ScalingReplicaSet", "note": "Scaled up replica set web-5d4 from 0 to 3",
            "type": "Normal", "eventTime": "2026-11-21T08:00:00.000000Z",
            "reportingController": "deployment-controller", "reportingInstance": "kcm-1",
            "deprecatedCount": 2, "deprecatedLastTimestamp": "2026-11-21T08:05:00Z"
        });
        let e = EventRecord::from_value(&v).unwrap();
        assert_eq!(e.message, "Scaled up replica set web-5d4 from 0 to 3");
        assert_eq!(e.count, 2);
        assert_eq!(e.time.unwrap().to_string(), "2026-11-21T08:05:00Z");
        assert_eq!(e.source, "deployment-controller");
        assert_eq!(
            e.regarding(),
            Some(ObjRef::namespaced(Kind::Deployment, "shop", "web"))
        );
    }
}
