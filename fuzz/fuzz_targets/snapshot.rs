//! The snapshot loader on arbitrary bytes; what loads is diagnosed.
#![no_main]

use libfuzzer_sys::fuzz_target;

use kubedx::engine;
use kubedx::model::Kind;
use kubedx::rules::DiagnoseOptions;
use kubedx::store::Store;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut store = Store::new();
    if kubedx::snapshot::load_str(&text, "fuzz.yaml", &mut store).is_err() {
        return;
    }
    let now = engine::snapshot_now(&store);
    for kind in [Kind::Deployment, Kind::Pod, Kind::Service, Kind::Namespace] {
        if let Some(r) = store.refs_of(kind).next() {
            let s = engine::diagnose(&store, &r, &DiagnoseOptions::new(now), None).status;
            assert!(serde_json::to_vec(&s).unwrap().len() < engine::MAX_STATUS_BYTES);
        }
    }
});
