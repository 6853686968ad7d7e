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

fn shrink<T>(list: &mut Option<Vec<T>>) {
    if let Some(list) = list {
        list.shrink_to_fit();
    }
}

fn meta(metadata: &mut ObjectMeta) {
    shrink(&mut metadata.owner_references);
    shrink(&mut metadata.finalizers);
}

fn container(container: &mut Container) {
    shrink(&mut container.args);
    shrink(&mut container.command);
    shrink(&mut container.env);
    shrink(&mut container.env_from);
    shrink(&mut container.ports);
    shrink(&mut container.resize_policy);
    shrink(&mut container.volume_devices);
    shrink(&mut container.volume_mounts);
}

fn volume(volume: &mut Volume) {
    if let Some(projected) = volume.projected.as_mut() {
        shrink(&mut projected.sources);
        for source in projected.sources.iter_mut().flatten() {
            if let Some(config_map) = source.config_map.as_mut() {
                shrink(&mut config_map.items);
            }
            if let Some(secret) = source.secret.as_mut() {
                shrink(&mut secret.items);
            }
            if let Some(downward_api) = source.downward_api.as_mut() {
                shrink(&mut downward_api.items);
            }
        }
    }
    if let Some(config_map) = volume.config_map.as_mut() {
        shrink(&mut config_map.items);
    }
    if let Some(secret) = volume.secret.as_mut() {
        shrink(&mut secret.items);
    }
}

fn pod_spec(spec: &mut PodSpec) {
    spec.containers.shrink_to_fit();
    spec.containers.iter_mut().for_each(container);
    shrink(&mut spec.init_containers);
    spec.init_containers
        .iter_mut()
        .flatten()
        .for_each(container);
    shrink(&mut spec.ephemeral_containers);
    shrink(&mut spec.volumes);
    spec.volumes.iter_mut().flatten().for_each(volume);
    shrink(&mut spec.tolerations);
    shrink(&mut spec.image_pull_secrets);
    shrink(&mut spec.topology_spread_constraints);
    shrink(&mut spec.readiness_gates);
    shrink(&mut spec.host_aliases);
}

fn pod_status(status: &mut PodStatus) {
    shrink(&mut status.conditions);
    shrink(&mut status.container_statuses);
    shrink(&mut status.init_container_statuses);
    shrink(&mut status.ephemeral_container_statuses);
    for container_status in status.container_statuses.iter_mut().flatten() {
        shrink(&mut container_status.volume_mounts);
    }
    shrink(&mut status.pod_ips);
    shrink(&mut status.host_ips);
}

fn template(template: &mut PodTemplateSpec) {
    if let Some(metadata) = template.metadata.as_mut() {
        meta(metadata);
    }
    if let Some(spec) = template.spec.as_mut() {
        pod_spec(spec);
    }
}

/// Shrinks the lists of the kinds the cache holds in numbers; other kinds pass.
pub fn compact(object: &mut dyn std::any::Any) {
    if let Some(pod) = object.downcast_mut::<Pod>() {
        meta(&mut pod.metadata);
        if let Some(spec) = pod.spec.as_mut() {
            pod_spec(spec);
        }
        if let Some(status) = pod.status.as_mut() {
            pod_status(status);
        }
    } else if let Some(replica_set) = object.downcast_mut::<ReplicaSet>() {
        meta(&mut replica_set.metadata);
        if let Some(pod_template) = replica_set.spec.template.as_mut() {
            template(pod_template);
        }
        if let Some(status) = replica_set.status.as_mut() {
            shrink(&mut status.conditions);
        }
    } else if let Some(deployment) = object.downcast_mut::<Deployment>() {
        meta(&mut deployment.metadata);
        template(&mut deployment.spec.template);
        if let Some(status) = deployment.status.as_mut() {
            shrink(&mut status.conditions);
        }
    } else if let Some(stateful_set) = object.downcast_mut::<StatefulSet>() {
        meta(&mut stateful_set.metadata);
        template(&mut stateful_set.spec.template);
        shrink(&mut stateful_set.spec.volume_claim_templates);
        if let Some(status) = stateful_set.status.as_mut() {
            shrink(&mut status.conditions);
        }
    } else if let Some(daemon_set) = object.downcast_mut::<DaemonSet>() {
        meta(&mut daemon_set.metadata);
        template(&mut daemon_set.spec.template);
        if let Some(status) = daemon_set.status.as_mut() {
            shrink(&mut status.conditions);
        }
    } else if let Some(job) = object.downcast_mut::<Job>() {
        meta(&mut job.metadata);
        if let Some(spec) = job.spec.as_mut() {
            template(&mut spec.template);
        }
        if let Some(status) = job.status.as_mut() {
            shrink(&mut status.conditions);
        }
    } else if let Some(cron_job) = object.downcast_mut::<CronJob>() {
        meta(&mut cron_job.metadata);
        if let Some(job_spec) = cron_job.spec.job_template.spec.as_mut() {
            template(&mut job_spec.template);
        }
    } else if let Some(slice) = object.downcast_mut::<EndpointSlice>() {
        meta(&mut slice.metadata);
        shrink(&mut slice.endpoints);
        for endpoint in slice.endpoints.iter_mut().flatten() {
            endpoint.addresses.shrink_to_fit();
        }
        shrink(&mut slice.ports);
    } else if let Some(service) = object.downcast_mut::<Service>() {
        meta(&mut service.metadata);
        if let Some(spec) = service.spec.as_mut() {
            shrink(&mut spec.ports);
            shrink(&mut spec.cluster_ips);
            shrink(&mut spec.ip_families);
        }
    } else if let Some(node) = object.downcast_mut::<Node>() {
        meta(&mut node.metadata);
        if let Some(spec) = node.spec.as_mut() {
            shrink(&mut spec.taints);
        }
        if let Some(status) = node.status.as_mut() {
            shrink(&mut status.conditions);
            shrink(&mut status.addresses);
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
        let spare = |pod: &Pod| {
            let status = pod.status.as_ref().unwrap();
            let spec = pod.spec.as_ref().unwrap();
            let conditions = status.conditions.as_ref().unwrap();
            let container_statuses = status.container_statuses.as_ref().unwrap();
            let tolerations = spec.tolerations.as_ref().unwrap();
            let env = spec.containers[0].env.as_ref().unwrap();
            (conditions.capacity() - conditions.len())
                + (container_statuses.capacity() - container_statuses.len())
                + (tolerations.capacity() - tolerations.len())
                + (env.capacity() - env.len())
        };
        assert!(spare(&pod) > 0, "the decoder left spare capacity");
        compact(&mut pod);
        assert_eq!(spare(&pod), 0);
        assert_eq!(pod, before, "compacting changes no field");
    }
}
