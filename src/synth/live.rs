//! Loading a synthetic cluster into a live cluster (the test control plane with kwok).
//!
//! Only what a person creates is sent: Nodes (with kwok's `kwok.x-k8s.io/node: fake`
//! annotation, so kwok plays their kubelet), Namespaces, ConfigMaps, Services and
//! Deployments. The broken share carries kwok's `kubedx.io/simulate` annotation in
//! its Pod template (tests/cluster/README.md), except `Unschedulable`, whose CPU
//! request no Node can hold, so the real scheduler reports FailedScheduling. The
//! controller-manager makes ReplicaSets, Pods and EndpointSlices, the scheduler binds
//! the Pods, kwok runs them. PVCs are not created: the test plane has no provisioner
//! (a claim would keep its Pod Pending), so claim volumes are dropped.

use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use kube::api::{Api, ApiResource, DynamicObject, ListParams, PostParams};
use kube::core::GroupVersionKind;
use kube::{Client, Config};
use serde_json::Value;

use super::Synth;

/// What a load did.
#[derive(Debug, Default, Clone)]
pub struct LoadReport {
    pub created: usize,
    pub existed: usize,
    pub seconds: f64,
}

/// A client for a kubeconfig file.
pub async fn client(kubeconfig: &std::path::Path) -> anyhow::Result<Client> {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig)?;
    let mut cfg = Config::from_custom_kubeconfig(kc, &Default::default()).await?;
    cfg.read_timeout = Some(Duration::from_secs(120));
    Ok(Client::try_from(cfg)?)
}

fn resource(kind: &str) -> Option<ApiResource> {
    let (group, version, plural) = match kind {
        "Node" => ("", "v1", "nodes"),
        "Namespace" => ("", "v1", "namespaces"),
        "ConfigMap" => ("", "v1", "configmaps"),
        "Service" => ("", "v1", "services"),
        "Deployment" => ("apps", "v1", "deployments"),
        _ => return None,
    };
    Some(ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(group, version, kind),
        plural,
    ))
}

/// The object as a person would write it: no server-set metadata, no status
/// (except a Node's, which its kubelet — here kwok — registers with).
pub fn to_create(object: &Value) -> Option<Value> {
    let kind = object["kind"].as_str()?;
    resource(kind)?;
    let ns = object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str);
    if ns == Some("kube-system") {
        return None; // the plane has its own cluster DNS
    }
    let name = object.pointer("/metadata/name").and_then(Value::as_str)?;
    if (kind == "Namespace" && name == "kube-system")
        || (kind == "ConfigMap" && name == "kube-root-ca.crt")
    {
        return None; // made by the plane itself
    }
    let mut copy = object.clone();
    if let Some(metadata) = copy.get_mut("metadata").and_then(Value::as_object_mut) {
        for field in [
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "generation",
            "ownerReferences",
            "finalizers",
        ] {
            metadata.remove(field);
        }
    }
    let obj = copy.as_object_mut()?;
    match kind {
        "Node" => {
            if let Some(st) = obj.get_mut("status").and_then(Value::as_object_mut) {
                st.remove("conditions"); // kwok reports them
            }
        }
        "Service" => {
            obj.remove("status");
            if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
                spec.remove("clusterIP");
                spec.remove("clusterIPs");
            }
        }
        "Deployment" => {
            obj.remove("status");
            if let Some(spec) = copy
                .pointer_mut("/spec/template/spec")
                .and_then(Value::as_object_mut)
            {
                if let Some(Value::Array(vols)) = spec.get_mut("volumes") {
                    vols.retain(|volume| volume.get("persistentVolumeClaim").is_none());
                    if vols.is_empty() {
                        spec.remove("volumes");
                    }
                }
                if let Some(Value::Array(cs)) = spec.get_mut("containers") {
                    for container in cs {
                        if let Some(fields) = container.as_object_mut() {
                            fields.remove("volumeMounts");
                        }
                    }
                }
            }
        }
        _ => {
            obj.remove("status");
        }
    }
    Some(copy)
}

/// Creates the plan's objects (existing ones are left as they are), `concurrency`
/// requests at a time, in dependency order: Nodes, Namespaces, ConfigMaps, Services,
/// Deployments.
pub async fn load(
    client: &Client,
    synth: &Synth,
    concurrency: usize,
) -> anyhow::Result<LoadReport> {
    let t0 = Instant::now();
    let mut report = LoadReport::default();
    let objects: Vec<Value> = synth.objects().filter_map(to_create).collect();
    for kind in ["Node", "Namespace", "ConfigMap", "Service", "Deployment"] {
        let batch: Vec<&Value> = objects.iter().filter(|o| o["kind"] == kind).collect();
        let ar = resource(kind).expect("known kind");
        let results: Vec<bool> = futures::stream::iter(batch)
            .map(|object| {
                let client = client.clone();
                let ar = ar.clone();
                async move {
                    let api: Api<DynamicObject> = match object
                        .pointer("/metadata/namespace")
                        .and_then(Value::as_str)
                    {
                        Some(ns) => Api::namespaced_with(client, ns, &ar),
                        None => Api::all_with(client, &ar),
                    };
                    let obj: DynamicObject = serde_json::from_value(object.clone())?;
                    let mut tries = 0;
                    loop {
                        match api.create(&PostParams::default(), &obj).await {
                            Ok(_) => return anyhow::Ok(true),
                            Err(kube::Error::Api(e)) if e.code == 409 => return Ok(false),
                            // the namespace's default ServiceAccount / admission may lag; retry briefly
                            Err(error) if tries < 20 => {
                                tries += 1;
                                tracing::debug!("retrying {kind}: {error}");
                                tokio::time::sleep(Duration::from_millis(250 * tries)).await;
                            }
                            Err(e) => return Err(e.into()),
                        }
                    }
                }
            })
            .buffer_unordered(concurrency.max(1))
            .try_collect()
            .await?;
        let created = results.iter().filter(|c| **c).count();
        report.created += created;
        report.existed += results.len() - created;
        eprintln!(
            "kubedx-synth: {kind}: {created} created, {} existed ({:.1}s)",
            results.len() - created,
            t0.elapsed().as_secs_f64()
        );
    }
    report.seconds = t0.elapsed().as_secs_f64();
    Ok(report)
}

/// Counts Pods by phase in the namespaces of the plan (paginated metadata-free LIST).
pub async fn pod_phases(
    client: &Client,
) -> anyhow::Result<std::collections::BTreeMap<String, usize>> {
    let api: Api<k8s_openapi::api::core::v1::Pod> = Api::all(client.clone());
    let mut out = std::collections::BTreeMap::new();
    let mut lp = ListParams::default().limit(2000);
    loop {
        let page = api.list(&lp).await?;
        for pod in &page.items {
            let phase = pod
                .status
                .as_ref()
                .and_then(|s| s.phase.clone())
                .unwrap_or_else(|| "Unknown".into());
            let scheduled = pod
                .spec
                .as_ref()
                .and_then(|s| s.node_name.as_ref())
                .is_some();
            let key = if phase == "Pending" && !scheduled {
                "Pending (unscheduled)".to_owned()
            } else {
                phase
            };
            *out.entry(key).or_default() += 1;
        }
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => lp = lp.continue_token(&token),
            None => break,
        }
    }
    Ok(out)
}

/// Waits until at least `want` Pods exist and none is still without a phase
/// decision (all scheduled ones Running/Pending-with-node, unschedulable ones
/// Pending), or `timeout` passes. Returns the last count by phase.
pub async fn wait_pods(
    client: &Client,
    want: usize,
    settled: impl Fn(&std::collections::BTreeMap<String, usize>) -> bool,
    timeout: Duration,
) -> anyhow::Result<std::collections::BTreeMap<String, usize>> {
    let t0 = Instant::now();
    loop {
        let phases = pod_phases(client).await?;
        let total: usize = phases.values().sum();
        eprintln!(
            "kubedx-synth: {total} Pods {:?} ({:.0}s)",
            phases,
            t0.elapsed().as_secs_f64()
        );
        if total >= want && settled(&phases) {
            return Ok(phases);
        }
        if t0.elapsed() > timeout {
            return Ok(phases);
        }
        tokio::time::sleep(Duration::from_secs(10)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::{Config, generate};

    #[test]
    fn only_what_a_person_creates() {
        let synth = generate(&Config {
            broken: 0.5,
            with_claims: 0.5,
            ..Config::with_pods(200)
        });
        let objs: Vec<Value> = synth.objects().filter_map(to_create).collect();
        let kinds: std::collections::BTreeSet<&str> =
            objs.iter().filter_map(|o| o["kind"].as_str()).collect();
        assert_eq!(
            kinds.into_iter().collect::<Vec<_>>(),
            vec!["ConfigMap", "Deployment", "Namespace", "Node", "Service"]
        );
        for object in &objs {
            assert!(object.pointer("/metadata/uid").is_none());
            assert_ne!(
                object
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str),
                Some("kube-system")
            );
            if object["kind"] == "Deployment" {
                assert!(object.get("status").is_none());
                assert!(!object.to_string().contains("persistentVolumeClaim"));
            }
            if object["kind"] == "Node" {
                assert_eq!(
                    object.pointer("/metadata/annotations/kwok.x-k8s.io~1node"),
                    Some(&Value::from("fake"))
                );
            }
            if object["kind"] == "ConfigMap" {
                assert_ne!(
                    object.pointer("/metadata/name").and_then(Value::as_str),
                    Some("kube-root-ca.crt")
                );
            }
        }
        let simulated = objs
            .iter()
            .filter(|object| {
                object
                    .pointer("/spec/template/metadata/annotations/kubedx.io~1simulate")
                    .is_some()
            })
            .count();
        assert!(simulated > 0);
    }
}
