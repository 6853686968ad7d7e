//! Cached objects without spare capacity.
//!
//! A watch decodes JSON arrays without knowing their length, so every `Vec` grows
//! by doubling from Rust's minimum capacity: four slots for elements up to 1 KiB.
//! The k8s-openapi structs are wide (a `ContainerStatus` is 752 bytes, a
//! `VolumeProjection` 544, a `Volume` 3,280, whatever is set in them), so one
//! container status sits in 3 KiB and five Pod conditions in eight slots. The cache
//! keeps its objects for hours: every list of the shapes it holds by the thousand is
//! shrunk to its length once, when the object is cached. Nothing is removed.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{
    Container, Node, Pod, PodSpec, PodStatus, PodTemplateSpec, Service, Volume,
};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

fn shrink<T>(v: &mut Option<Vec<T>>) {
    if let Some(v) = v {
        v.shrink_to_fit();
    }
}

fn meta(m: &mut ObjectMeta) {
    shrink(&mut m.owner_references);
    shrink(&mut m.finalizers);
}

fn container(c: &mut Container) {
    shrink(&mut c.args);
    shrink(&mut c.command);
    shrink(&mut c.env);
    shrink(&mut c.env_from);
    shrink(&mut c.ports);
    shrink(&mut c.resize_policy);
    shrink(&mut c.volume_devices);
    shrink(&mut c.volume_mounts);
}

fn volume(v: &mut Volume) {
    if let Some(p) = v.projected.as_mut() {
        shrink(&mut p.sources);
        for s in p.sources.iter_mut().flatten() {
            if let Some(cm) = s.config_map.as_mut() {
                shrink(&mut cm.items);
            }
            if let Some(sec) = s.secret.as_mut() {
                shrink(&mut sec.items);
            }
            if let Some(d) = s.downward_api.as_mut() {
                shrink(&mut d.items);
            }
        }
    }
    if let Some(cm) = v.config_map.as_mut() {
        shrink(&mut cm.items);
    }
    if let Some(s) = v.secret.as_mut() {
        shrink(&mut s.items);
    }
}

fn pod_spec(s: &mut PodSpec) {
    s.containers.shrink_to_fit();
    s.containers.iter_mut().for_each(container);
    shrink(&mut s.init_containers);
    s.init_containers.iter_mut().flatten().for_each(container);
    shrink(&mut s.ephemeral_containers);
    shrink(&mut s.volumes);
    s.volumes.iter_mut().flatten().for_each(volume);
    shrink(&mut s.tolerations);
    shrink(&mut s.image_pull_secrets);
    shrink(&mut s.topology_spread_constraints);
    shrink(&mut s.readiness_gates);
    shrink(&mut s.host_aliases);
}

fn pod_status(s: &mut PodStatus) {
    shrink(&mut s.conditions);
    shrink(&mut s.container_statuses);
    shrink(&mut s.init_container_statuses);
    shrink(&mut s.ephemeral_container_statuses);
    for cs in s.container_statuses.iter_mut().flatten() {
        shrink(&mut cs.volume_mounts);
    }
    shrink(&mut s.pod_ips);
    shrink(&mut s.host_ips);
}

fn template(t: &mut PodTemplateSpec) {
    if let Some(m) = t.metadata.as_mut() {
        meta(m);
    }
    if let Some(s) = t.spec.as_mut() {
        pod_spec(s);
    }
}

/// Shrinks the lists of the kinds the cache holds in numbers; other kinds pass.
pub fn compact(o: &mut dyn std::any::Any) {
    if let Some(p) = o.downcast_mut::<Pod>() {
        meta(&mut p.metadata);
        if let Some(s) = p.spec.as_mut() {
            pod_spec(s);
        }
        if let Some(s) = p.status.as_mut() {
            pod_status(s);
        }
    } else if let Some(rs) = o.downcast_mut::<ReplicaSet>() {
        meta(&mut rs.metadata);
        if let Some(t) = rs.spec.template.as_mut() {
            template(t);
        }
        if let Some(s) = rs.status.as_mut() {
            shrink(&mut s.conditions);
        }
    } else if let Some(d) = o.downcast_mut::<Deployment>() {
        meta(&mut d.metadata);
        template(&mut d.spec.template);
        if let Some(s) = d.status.as_mut() {
            shrink(&mut s.conditions);
        }
    } else if let Some(ss) = o.downcast_mut::<StatefulSet>() {
        meta(&mut ss.metadata);
        template(&mut ss.spec.template);
        shrink(&mut ss.spec.volume_claim_templates);
        if let Some(s) = ss.status.as_mut() {
            shrink(&mut s.conditions);
        }
    } else if let Some(ds) = o.downcast_mut::<DaemonSet>() {
        meta(&mut ds.metadata);
        template(&mut ds.spec.template);
        if let Some(s) = ds.status.as_mut() {
            shrink(&mut s.conditions);
        }
    } else if let Some(j) = o.downcast_mut::<Job>() {
        meta(&mut j.metadata);
        if let Some(s) = j.spec.as_mut() {
            template(&mut s.template);
        }
        if let Some(s) = j.status.as_mut() {
            shrink(&mut s.conditions);
        }
    } else if let Some(cj) = o.downcast_mut::<CronJob>() {
        meta(&mut cj.metadata);
        if let Some(t) = cj.spec.job_template.spec.as_mut() {
            template(&mut t.template);
        }
    } else if let Some(es) = o.downcast_mut::<EndpointSlice>() {
        meta(&mut es.metadata);
        shrink(&mut es.endpoints);
        for e in es.endpoints.iter_mut().flatten() {
            e.addresses.shrink_to_fit();
        }
        shrink(&mut es.ports);
    } else if let Some(svc) = o.downcast_mut::<Service>() {
        meta(&mut svc.metadata);
        if let Some(s) = svc.spec.as_mut() {
            shrink(&mut s.ports);
            shrink(&mut s.cluster_ips);
            shrink(&mut s.ip_families);
        }
    } else if let Some(n) = o.downcast_mut::<Node>() {
        meta(&mut n.metadata);
        if let Some(s) = n.spec.as_mut() {
            shrink(&mut s.taints);
        }
        if let Some(s) = n.status.as_mut() {
            shrink(&mut s.conditions);
            shrink(&mut s.addresses);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_lose_their_spare_capacity_and_nothing_else() {
        // decoded from text, as a watch decodes: no length hints
        let text = serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web-1", "namespace": "shop",
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": "r1", "controller": true}]},
            "spec": {
                "containers": [{"name": "app", "image": "nginx:1.27",
                    "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}, {"name": "C", "value": "3"}],
                    "volumeMounts": [{"name": "kube-api-access", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}]}],
                "volumes": [{"name": "kube-api-access", "projected": {"sources": [
                    {"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}},
                    {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                    {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}}]}}]}}],
                "tolerations": [
                    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}]
            },
            "status": {"phase": "Running",
                "conditions": [
                    {"type": "PodReadyToStartContainers", "status": "True"}, {"type": "Initialized", "status": "True"},
                    {"type": "Ready", "status": "True"}, {"type": "ContainersReady", "status": "True"},
                    {"type": "PodScheduled", "status": "True"}],
                "containerStatuses": [{"name": "app", "image": "nginx:1.27", "imageID": "", "ready": true, "restartCount": 0}],
                "podIPs": [{"ip": "10.244.0.5"}]}
        })
        .to_string();
        let mut pod: Pod = serde_json::from_str(&text).unwrap();
        let before = pod.clone();
        let spare = |p: &Pod| {
            let st = p.status.as_ref().unwrap();
            let sp = p.spec.as_ref().unwrap();
            let c = st.conditions.as_ref().unwrap();
            let cs = st.container_statuses.as_ref().unwrap();
            let t = sp.tolerations.as_ref().unwrap();
            let env = sp.containers[0].env.as_ref().unwrap();
            (c.capacity() - c.len())
                + (cs.capacity() - cs.len())
                + (t.capacity() - t.len())
                + (env.capacity() - env.len())
        };
        assert!(spare(&pod) > 0, "the decoder left spare capacity");
        compact(&mut pod);
        assert_eq!(spare(&pod), 0);
        assert_eq!(pod, before, "compacting changes no field");
    }
}
