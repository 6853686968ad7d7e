//! Smoke test of the test control plane (tests/cluster): real kube-apiserver,
//! controller-manager, scheduler, etcd and kwok, started once for this binary.

mod support;

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ContainerStatus, Event, Node, Pod, Secret};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams,
};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(60);

#[tokio::test]
async fn readyz_and_metrics() {
    let client = support::client().await;
    let readyz = client
        .request_text(http::Request::get("/readyz").body(Vec::new()).unwrap())
        .await
        .expect("GET /readyz");
    assert_eq!(readyz.trim(), "ok");

    let samples = support::apiserver_request_total(&client).await;
    assert!(
        support::sum_samples(&samples, &[("resource", "nodes"), ("verb", "LIST")]) >= 1.0,
        "apiserver_request_total has no LIST nodes: {:?}",
        &samples[..samples.len().min(5)]
    );
    assert!(support::cluster().audit_log().is_file(), "audit log");

    let out = support::kubectl_ok(&["get", "nodes", "-o", "name"]);
    assert_eq!(out.lines().count(), 4, "{out}");
}

#[tokio::test]
async fn nodes_ready_with_labels_and_taints() {
    let nodes: Api<Node> = Api::all(support::client().await);
    let list = nodes.list(&ListParams::default()).await.unwrap();
    let mut names: Vec<String> = list
        .items
        .iter()
        .map(|n| n.metadata.name.clone().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "kubedx-control-plane",
            "kubedx-worker-1",
            "kubedx-worker-2",
            "kubedx-worker-3"
        ]
    );
    for n in &list.items {
        let name = n.metadata.name.as_deref().unwrap();
        let ready = n
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
            .map(|c| c.status.as_str());
        assert_eq!(ready, Some("True"), "node {name} not Ready");
        let labels = n.metadata.labels.clone().unwrap_or_default();
        assert_eq!(
            labels.get("kubernetes.io/hostname").map(String::as_str),
            Some(name)
        );
        assert_eq!(
            labels.get("kubernetes.io/os").map(String::as_str),
            Some("linux")
        );
        let alloc = n.status.as_ref().unwrap().allocatable.clone().unwrap();
        assert_eq!(alloc["cpu"].0, "4");
        assert_eq!(alloc["memory"].0, "16Gi");
        assert_eq!(alloc["pods"].0, "110");
        let taints = n
            .spec
            .as_ref()
            .and_then(|s| s.taints.clone())
            .unwrap_or_default();
        if name == "kubedx-control-plane" {
            assert!(labels.contains_key("node-role.kubernetes.io/control-plane"));
            assert!(
                taints
                    .iter()
                    .any(|t| t.key == "node-role.kubernetes.io/control-plane"
                        && t.effect == "NoSchedule")
            );
        } else {
            let expected = match name {
                "kubedx-worker-1" => "zone-a",
                "kubedx-worker-2" => "zone-b",
                _ => "zone-c",
            };
            assert_eq!(
                labels
                    .get("topology.kubernetes.io/zone")
                    .map(String::as_str),
                Some(expected)
            );
            assert!(taints.is_empty(), "{name} tainted: {taints:?}");
        }
    }
}

#[tokio::test]
async fn kube_dns_endpointslice_has_two_ready_endpoints() {
    let slices: Api<EndpointSlice> = Api::namespaced(support::client().await, "kube-system");
    let list = slices
        .list(&ListParams::default().labels("kubernetes.io/service-name=kube-dns"))
        .await
        .unwrap();
    let ready = list
        .items
        .iter()
        .flat_map(|s| s.endpoints.iter().flatten())
        .filter(|e| e.conditions.as_ref().and_then(|c| c.ready) == Some(true))
        .count();
    assert_eq!(ready, 2, "{list:?}");
    let ports: Vec<_> = list.items[0]
        .ports
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|p| p.name)
        .collect();
    for p in ["dns", "dns-tcp", "metrics"] {
        assert!(ports.iter().any(|x| x == p), "port {p} missing: {ports:?}");
    }
}

/// Creates a one-replica Deployment whose Pod carries `kubedx.io/simulate: mode`.
async fn deploy(ns: &str, name: &str, mode: &str, container: serde_json::Value) {
    let deployments: Api<Deployment> = Api::namespaced(support::client().await, ns);
    let d: Deployment = serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}, "annotations": {"kubedx.io/simulate": mode}},
                "spec": {"containers": [container]}
            }
        }
    }))
    .unwrap();
    deployments
        .create(&PostParams::default(), &d)
        .await
        .unwrap();
}

/// Waits for the Deployment's Pod to have a container status satisfying `ok`.
async fn wait_container(
    ns: &str,
    app: &str,
    ok: impl Fn(&ContainerStatus) -> bool,
) -> (Pod, ContainerStatus) {
    let pods: Api<Pod> = Api::namespaced(support::client().await, ns);
    support::eventually(&format!("pod of {ns}/{app}"), WAIT, || {
        let pods = pods.clone();
        let ok = &ok;
        async move {
            let list = pods
                .list(&ListParams::default().labels(&format!("app={app}")))
                .await
                .map_err(|e| e.to_string())?;
            for p in list.items {
                let statuses = p
                    .status
                    .as_ref()
                    .and_then(|s| s.container_statuses.clone())
                    .unwrap_or_default();
                if let Some(s) = statuses.iter().find(|s| ok(s)) {
                    return Ok((p.clone(), s.clone()));
                }
            }
            Err("no matching container status yet".to_string())
        }
    })
    .await
}

async fn pod_events(ns: &str, pod: &str) -> Vec<Event> {
    let events: Api<Event> = Api::namespaced(support::client().await, ns);
    events
        .list(&ListParams::default().fields(&format!("involvedObject.name={pod}")))
        .await
        .unwrap()
        .items
}

#[tokio::test]
async fn image_not_found_gives_image_pull_backoff_and_kubelet_events() {
    let ns = support::namespace("smoke-image").await;
    let img = "nginx:doesnotexist";
    deploy(
        &ns,
        "web",
        "image-not-found",
        json!({"name": "app", "image": img}),
    )
    .await;
    let (pod, status) = wait_container(&ns, "web", |s| {
        s.state
            .as_ref()
            .and_then(|st| st.waiting.as_ref())
            .and_then(|w| w.reason.as_deref())
            == Some("ImagePullBackOff")
    })
    .await;
    let reference = "docker.io/library/nginx:doesnotexist";
    let err = format!(
        "rpc error: code = NotFound desc = failed to pull and unpack image \"{reference}\": failed to resolve reference \"{reference}\": {reference}: not found"
    );
    let waiting = status.state.unwrap().waiting.unwrap();
    assert_eq!(
        waiting.message.as_deref(),
        Some(format!("Back-off pulling image \"{img}\": ErrImagePull: {err}").as_str())
    );
    let pod_name = pod.metadata.name.clone().unwrap();
    let node = pod.spec.as_ref().unwrap().node_name.clone().unwrap();
    let want = format!("Failed to pull image \"{img}\": {err}");
    let ev = support::eventually("kubelet Failed event", WAIT, || {
        let (ns, pod_name, want) = (ns.clone(), pod_name.clone(), want.clone());
        async move {
            pod_events(&ns, &pod_name)
                .await
                .into_iter()
                .find(|e| {
                    e.reason.as_deref() == Some("Failed") && e.message.as_deref() == Some(&want)
                })
                .ok_or_else(|| "no Failed event yet".to_string())
        }
    })
    .await;
    assert_eq!(ev.type_.as_deref(), Some("Warning"));
    let source = ev.source.clone().unwrap();
    assert_eq!(source.component.as_deref(), Some("kubelet"));
    assert_eq!(source.host.as_deref(), Some(node.as_str()));
    assert_eq!(ev.reporting_component.as_deref(), Some("kubelet"));
    assert_eq!(ev.involved_object.kind.as_deref(), Some("Pod"));
    assert!(ev.count.unwrap_or(0) >= 1);
    let reasons: Vec<_> = pod_events(&ns, &pod_name)
        .await
        .into_iter()
        .filter_map(|e| e.reason)
        .collect();
    for r in ["Scheduled", "Pulling", "Failed", "BackOff"] {
        assert!(reasons.iter().any(|x| x == r), "no {r} event: {reasons:?}");
    }
}

#[tokio::test]
async fn crash_oom_gives_oomkilled_last_state() {
    let ns = support::namespace("smoke-oom").await;
    deploy(
        &ns,
        "hog",
        "crash-oom",
        json!({"name": "app", "image": "acme/hog:1"}),
    )
    .await;
    let (_pod, status) = wait_container(&ns, "hog", |s| {
        s.last_state
            .as_ref()
            .and_then(|l| l.terminated.as_ref())
            .is_some()
    })
    .await;
    let term = status.last_state.unwrap().terminated.unwrap();
    assert_eq!(term.reason.as_deref(), Some("OOMKilled"));
    assert_eq!(term.exit_code, 137);
    assert!(status.restart_count > 0);
    assert!(!status.ready);
    let waiting = status.state.unwrap().waiting.unwrap();
    assert_eq!(waiting.reason.as_deref(), Some("CrashLoopBackOff"));
    assert!(
        waiting
            .message
            .as_deref()
            .unwrap_or_default()
            .contains(" restarting failed container=app pod=hog-"),
        "{waiting:?}"
    );
}

#[tokio::test]
async fn missing_configmap_gives_create_container_config_error() {
    let ns = support::namespace("smoke-config").await;
    deploy(
        &ns,
        "api",
        "missing-configmap",
        json!({"name": "app", "image": "acme/api:1", "envFrom": [{"configMapRef": {"name": "api-config"}}]}),
    )
    .await;
    let (_pod, status) = wait_container(&ns, "api", |s| {
        s.state
            .as_ref()
            .and_then(|st| st.waiting.as_ref())
            .and_then(|w| w.reason.as_deref())
            == Some("CreateContainerConfigError")
    })
    .await;
    assert_eq!(
        status.state.unwrap().waiting.unwrap().message.as_deref(),
        Some("configmap \"api-config\" not found")
    );
}

#[tokio::test]
async fn restricted_client_is_forbidden_to_list_secrets() {
    let ns = support::namespace("smoke-rbac").await;
    let viewer =
        support::restricted_client(&ns, "viewer", support::Access::ClusterRole("view".into()))
            .await;
    let pods: Api<Pod> = Api::namespaced(viewer.clone(), &ns);
    pods.list(&ListParams::default())
        .await
        .expect("view may list pods");
    let secrets: Api<Secret> = Api::namespaced(viewer, &ns);
    match secrets.list(&ListParams::default()).await {
        Err(kube::Error::Api(s)) if s.is_forbidden() => {
            assert!(
                s.message
                    .contains(&format!("system:serviceaccount:{ns}:viewer")),
                "{}",
                s.message
            );
        }
        other => panic!("expected 403 Forbidden listing secrets, got {other:?}"),
    }

    let lister = support::restricted_client(
        &ns,
        "pod-lister",
        support::Access::Rules(vec![support::rule(&[""], &["pods"], &["list"])]),
    )
    .await;
    Api::<Pod>::namespaced(lister.clone(), &ns)
        .list(&ListParams::default())
        .await
        .expect("rules grant list pods");
    let err = Api::<Pod>::namespaced(lister, "kube-system")
        .list(&ListParams::default())
        .await
        .unwrap_err();
    assert!(matches!(err, kube::Error::Api(s) if s.is_forbidden()));
}

#[tokio::test]
async fn crd_server_side_apply_and_status_subresource() {
    let client = support::client().await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd: CustomResourceDefinition = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.smoke.kubedx.io"},
        "spec": {
            "group": "smoke.kubedx.io",
            "names": {"kind": "Widget", "plural": "widgets", "singular": "widget"},
            "scope": "Namespaced",
            "versions": [{
                "name": "v1",
                "served": true,
                "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {
                        "spec": {"type": "object", "required": ["size"], "properties": {
                            "size": {"type": "integer", "minimum": 1},
                            "color": {"type": "string", "enum": ["red", "blue"]}
                        }},
                        "status": {"type": "object", "properties": {
                            "phase": {"type": "string"}
                        }}
                    }
                }}
            }]
        }
    }))
    .unwrap();
    crds.patch(
        "widgets.smoke.kubedx.io",
        &PatchParams::apply("kubedx-smoke").force(),
        &Patch::Apply(&crd),
    )
    .await
    .unwrap();
    support::eventually("CRD Established", WAIT, || {
        let crds = crds.clone();
        async move {
            let c = crds
                .get("widgets.smoke.kubedx.io")
                .await
                .map_err(|e| e.to_string())?;
            let established = c
                .status
                .and_then(|s| s.conditions)
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True");
            if established {
                Ok(())
            } else {
                Err("not established".into())
            }
        }
    })
    .await;

    let ns = support::namespace("smoke-crd").await;
    let ar = ApiResource::from_gvk(&GroupVersionKind::gvk("smoke.kubedx.io", "v1", "Widget"));
    let widgets: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &ar);
    let pp = PatchParams::apply("kubedx-smoke");
    let obj = |spec: serde_json::Value| json!({"apiVersion": "smoke.kubedx.io/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": spec});
    // The structural schema refuses what it can say is wrong.
    let err = support::eventually("Widget API served", WAIT, || {
        let widgets = widgets.clone();
        let pp = pp.clone();
        async move {
            match widgets
                .patch(
                    "w",
                    &pp,
                    &Patch::Apply(obj(json!({"size": 0, "color": "green"}))),
                )
                .await
            {
                Err(kube::Error::Api(s)) if s.code == 404 => Err("not served yet".to_string()),
                Err(e) => Ok(e),
                Ok(o) => Ok(kube::Error::Api(Box::new(kube::core::Status {
                    message: format!("accepted invalid object: {o:?}"),
                    ..Default::default()
                }))),
            }
        }
    })
    .await;
    match err {
        kube::Error::Api(s) if s.is_invalid() => {
            assert!(s.message.contains("spec.size"), "{}", s.message);
            assert!(s.message.contains("spec.color"), "{}", s.message);
        }
        other => panic!("expected 422 Invalid, got {other:?}"),
    }

    let created = widgets
        .patch("w", &pp, &Patch::Apply(obj(json!({"size": 3}))))
        .await
        .unwrap();
    let generation = created.metadata.generation;
    let managers: Vec<_> = created
        .metadata
        .managed_fields
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|m| {
            (
                m.manager.unwrap_or_default(),
                m.operation.unwrap_or_default(),
            )
        })
        .collect();
    assert!(
        managers.contains(&("kubedx-smoke".into(), "Apply".into())),
        "{managers:?}"
    );

    // Status through the main resource is ignored; through /status it lands
    // without touching spec or generation.
    let ignored = widgets
        .patch(
            "w",
            &pp,
            &Patch::Apply(json!({"apiVersion": "smoke.kubedx.io/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 3}, "status": {"phase": "Main"}})),
        )
        .await
        .unwrap();
    assert!(ignored.data.get("status").is_none(), "{:?}", ignored.data);
    let st = widgets
        .patch_status(
            "w",
            &PatchParams::apply("kubedx-smoke-status"),
            &Patch::Apply(json!({"apiVersion": "smoke.kubedx.io/v1", "kind": "Widget", "metadata": {"name": "w"}, "status": {"phase": "Ready"}})),
        )
        .await
        .unwrap();
    assert_eq!(st.data["status"]["phase"], "Ready");
    assert_eq!(st.data["spec"]["size"], 3);
    assert_eq!(st.metadata.generation, generation);

    // A second field manager conflicts on a field it does not own.
    let conflict = widgets
        .patch(
            "w",
            &PatchParams::apply("someone-else"),
            &Patch::Apply(obj(json!({"size": 5}))),
        )
        .await
        .unwrap_err();
    assert!(matches!(conflict, kube::Error::Api(s) if s.is_conflict()));
}
