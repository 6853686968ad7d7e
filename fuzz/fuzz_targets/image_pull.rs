//! Image pull errors (the kubelet's waiting message and Failed Event), through the
//! engine: the workload rules' `classify_pull` and `event_image` are private.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::json;

use kubedx::engine;
use kubedx::rules::DiagnoseOptions;
use kubedx::store::Store;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (waiting, event) = text.split_once('\u{1}').unwrap_or((&text, &text));
    let items = json!([
        {"apiVersion": "v1", "kind": "Pod",
         "metadata": {"name": "p", "namespace": "ns", "uid": "u", "creationTimestamp": "2026-03-01T10:00:00Z"},
         "spec": {"nodeName": "n", "containers": [{"name": "app", "image": "registry.example.com/a:v1"}]},
         "status": {"phase": "Pending", "containerStatuses": [{"name": "app", "image": "registry.example.com/a:v1",
            "imageID": "", "ready": false, "restartCount": 0,
            "state": {"waiting": {"reason": "ImagePullBackOff", "message": waiting}}}]}},
        {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e", "namespace": "ns"},
         "involvedObject": {"kind": "Pod", "name": "p", "namespace": "ns", "uid": "u"},
         "reason": "Failed", "message": event, "type": "Warning", "count": 1,
         "lastTimestamp": "2026-03-01T10:01:00Z", "source": {"component": "kubelet"}}
    ]);
    let text = json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string();
    let mut store = Store::new();
    kubedx::snapshot::load_str(&text, "fuzz.json", &mut store).unwrap();
    let now = engine::snapshot_now(&store);
    let target = kubedx::model::ObjRef::namespaced(kubedx::model::Kind::Pod, "ns", "p");
    let s = engine::diagnose(&store, &target, &DiagnoseOptions::new(now), None).status;
    assert!(serde_json::to_vec(&s).unwrap().len() < engine::MAX_STATUS_BYTES);
});
