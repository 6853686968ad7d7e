//! Synthetic clusters for benchmarks: realistic objects, deterministic from a seed.
//!
//! [`generate`] builds a cluster of N Pods in memory, as `kubectl get -o yaml` prints
//! its objects: Namespaces, Nodes (zones, allocatable, conditions), Deployments →
//! ReplicaSets → Pods with full status (conditions, containerStatuses, ownerReferences,
//! uids, nodeName, labels), Services with EndpointSlices whose ready and not-ready
//! endpoints match the Pods, Events (kubelet style with `count`, scheduler style
//! with `eventTime` and `series`), PVCs/PVs/StorageClasses, ConfigMaps, and the
//! cluster DNS. A configurable share of Deployments is broken, in one of the
//! [`Fault`]s, with the status and Events a real kubelet/scheduler produces.
//!
//! The same plan is written as a snapshot ([`Synth::write_snapshot`]: one file per
//! namespace plus `cluster.yaml`) or loaded into a live cluster ([`live`]): there
//! only the objects a person would create (Nodes under kwok, Namespaces, ConfigMaps,
//! Services, PVCs, Deployments with kwok's `kubedx.io/simulate` annotation for the
//! broken share); the real controllers, scheduler and kwok make the rest.

pub mod live;

use std::collections::BTreeMap;
use std::path::Path;

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use crate::model::{Kind, ObjRef};
use crate::rules::RuleId;

/// How a broken Deployment is broken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    /// `envFrom` names a ConfigMap that does not exist: CreateContainerConfigError.
    MissingConfigMap,
    /// The image tag does not exist: ErrImagePull / ImagePullBackOff.
    ImageNotFound,
    /// The container exits 1: CrashLoopBackOff with `lastState.terminated`.
    CrashLoop,
    /// Requests more CPU than any Node has: Pending, FailedScheduling.
    Unschedulable,
    /// Runs but its readiness probe fails: not-ready endpoints.
    ReadinessFail,
}

impl Fault {
    pub const ALL: [Fault; 5] = [
        Fault::MissingConfigMap,
        Fault::ImageNotFound,
        Fault::CrashLoop,
        Fault::Unschedulable,
        Fault::ReadinessFail,
    ];

    /// The kwok stage of the test control plane that plays this failure
    /// (`kubedx.io/simulate`); `None` when the real scheduler produces it.
    pub fn simulate(self) -> Option<&'static str> {
        match self {
            Fault::MissingConfigMap => Some("missing-configmap"),
            Fault::ImageNotFound => Some("image-not-found"),
            Fault::CrashLoop => Some("crash-exit-1"),
            Fault::ReadinessFail => Some("readiness-fail"),
            Fault::Unschedulable => None,
        }
    }

    /// The rule kubedx names as the root cause.
    pub fn expected_rule(self) -> RuleId {
        match self {
            Fault::MissingConfigMap => RuleId::ConfigMapNotFound,
            Fault::ImageNotFound => RuleId::ImagePullNotFound,
            Fault::CrashLoop => RuleId::ContainerCrashing,
            Fault::Unschedulable => RuleId::RequestsExceedNodeCapacity,
            Fault::ReadinessFail => RuleId::ReadinessProbeFailing,
        }
    }
}

/// What to generate.
#[derive(Clone, Debug)]
pub struct Config {
    pub seed: u64,
    pub pods: usize,
    /// Nodes; 0 = one per 50 Pods (at least 3).
    pub nodes: usize,
    /// Pods per namespace (the number of namespaces follows).
    pub pods_per_namespace: usize,
    /// Share of Deployments that are broken (0..=1).
    pub broken: f64,
    /// Share of Deployments whose Pods mount a PVC (replicas 1).
    pub with_claims: f64,
    /// Largest replica count of a Deployment.
    pub max_replicas: usize,
    /// The time the snapshot is taken (`--now` of a diagnosis).
    pub now: Timestamp,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            seed: 1,
            pods: 1000,
            nodes: 0,
            pods_per_namespace: 250,
            broken: 0.1,
            with_claims: 0.05,
            max_replicas: 8,
            now: "2026-03-12T14:30:00Z".parse().expect("timestamp"),
        }
    }
}

impl Config {
    pub fn with_pods(pods: usize) -> Config {
        Config {
            pods,
            ..Config::default()
        }
    }

    pub fn node_count(&self) -> usize {
        if self.nodes > 0 {
            self.nodes
        } else {
            (self.pods / 50).max(3)
        }
    }
}

/// A Deployment of the plan.
#[derive(Clone, Debug)]
pub struct Workload {
    pub namespace: String,
    pub name: String,
    pub replicas: usize,
    pub fault: Option<Fault>,
    pub claim: bool,
}

impl Workload {
    pub fn target(&self) -> ObjRef {
        ObjRef::namespaced(Kind::Deployment, &self.namespace, &self.name)
    }
}

/// A generated cluster.
#[derive(Clone, Debug, Default)]
pub struct Synth {
    /// Cluster-scoped objects (Nodes, Namespaces, StorageClasses, PersistentVolumes).
    pub cluster: Vec<Value>,
    /// Namespaced objects, by namespace (ordered; `kube-system` included).
    pub namespaces: BTreeMap<String, Vec<Value>>,
    pub workloads: Vec<Workload>,
    pub nodes: Vec<String>,
}

/// A small deterministic generator (SplitMix64): the same seed, the same cluster.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut mixed = self.0;
        mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        mixed ^ (mixed >> 31)
    }

    /// Uniform in `0..bound` (bound > 0).
    pub fn below(&mut self, bound: usize) -> usize {
        (self.next_u64() % bound as u64) as usize
    }

    pub fn chance(&mut self, probability: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= probability && probability > 0.0
    }

    /// `len` lowercase alphanumerics as Kubernetes' name generator uses (no vowels).
    pub fn suffix(&mut self, len: usize) -> String {
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        (0..len)
            .map(|_| ALPHABET[self.below(ALPHABET.len())] as char)
            .collect()
    }

    pub fn hex(&mut self, len: usize) -> String {
        let mut hex = String::new();
        while hex.len() < len {
            hex.push_str(&format!("{:016x}", self.next_u64()));
        }
        hex.truncate(len);
        hex
    }

    pub fn uid(&mut self) -> String {
        let hex = self.hex(32);
        format!(
            "{}-{}-4{}-a{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[13..16],
            &hex[17..20],
            &hex[20..32]
        )
    }
}

const APPS: &[&str] = &[
    "api",
    "web",
    "cart",
    "checkout",
    "search",
    "auth",
    "billing",
    "catalog",
    "orders",
    "ledger",
    "gateway",
    "worker",
    "notify",
    "report",
    "media",
    "profile",
    "inventory",
    "pricing",
];
const TEAMS: &[&str] = &["shop", "payments", "platform", "data", "identity", "growth"];
const ZONES: &[&str] = &["zone-a", "zone-b", "zone-c"];

fn ts(time: Timestamp) -> String {
    time.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn micro(time: Timestamp) -> String {
    time.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

fn ago(now: Timestamp, secs: i64) -> Timestamp {
    now - SignedDuration::from_secs(secs)
}

/// Generates a cluster.
pub fn generate(cfg: &Config) -> Synth {
    let mut generator = Gen {
        rng: Rng::new(cfg.seed),
        cfg,
        out: Synth::default(),
    };
    generator.run();
    generator.out
}

struct Gen<'c> {
    rng: Rng,
    cfg: &'c Config,
    out: Synth,
}

struct PodPlan<'a> {
    ns: &'a str,
    app: &'a str,
    rs_name: &'a str,
    rs_uid: &'a str,
    hash: &'a str,
    fault: Option<Fault>,
    claim: Option<&'a str>,
    image: String,
    created: Timestamp,
}

impl Gen<'_> {
    fn run(&mut self) {
        let now = self.cfg.now;
        let node_count = self.cfg.node_count();
        for index in 0..node_count {
            let name = format!("node-{index:05}");
            let node = self.node(&name, index);
            self.out.cluster.push(node);
            self.out.nodes.push(name);
        }
        self.out.cluster.push(json!({
            "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
            "metadata": {"name": "standard", "uid": self.rng.uid(),
                "creationTimestamp": ts(ago(now, 90 * 86400)),
                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
            "provisioner": "ebs.csi.aws.com", "reclaimPolicy": "Delete",
            "volumeBindingMode": "WaitForFirstConsumer", "allowVolumeExpansion": true,
        }));
        self.kube_system();
        let namespaces = self
            .cfg
            .pods
            .div_ceil(self.cfg.pods_per_namespace.max(1))
            .max(1);
        let mut left = self.cfg.pods;
        for index in 0..namespaces {
            let ns = format!("{}-{index:04}", TEAMS[index % TEAMS.len()]);
            let quota = self.cfg.pods_per_namespace.min(left);
            left -= quota;
            self.namespace(&ns, quota);
        }
    }

    fn namespace_object(&mut self, ns: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": ns, "uid": self.rng.uid(),
                "creationTimestamp": ts(ago(self.cfg.now, 60 * 86400)),
                "labels": {"kubernetes.io/metadata.name": ns}},
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})
    }

    fn namespace_basics(&mut self, ns: &str) -> Vec<Value> {
        let now = self.cfg.now;
        vec![
            json!({"apiVersion": "v1", "kind": "ServiceAccount",
                "metadata": {"name": "default", "namespace": ns, "uid": self.rng.uid(),
                    "creationTimestamp": ts(ago(now, 60 * 86400))}}),
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "kube-root-ca.crt", "namespace": ns, "uid": self.rng.uid(),
                    "creationTimestamp": ts(ago(now, 60 * 86400)),
                    "annotations": {"kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."}},
                "data": {"ca.crt": "-----BEGIN CERTIFICATE-----\nMIIC/jCCAeagAwIBAgIBADANBgkqhkiG9w0BAQsFADAVMRMwEQYDVQQDEwprdWJl\n-----END CERTIFICATE-----\n"}}),
        ]
    }

    fn node(&mut self, name: &str, index: usize) -> Value {
        let now = self.cfg.now;
        let zone = ZONES[index % ZONES.len()];
        let created = ago(now, 30 * 86400 + (index as i64 % 1000) * 60);
        let beat = ago(now, 5 + (index as i64 % 40));
        let cond = |type_: &str, status: &str, reason: &str, msg: &str| {
            json!({"type": type_, "status": status, "reason": reason, "message": msg,
                "lastHeartbeatTime": ts(beat), "lastTransitionTime": ts(created)})
        };
        let cidr = format!("10.{}.{}.0/24", 64 + index / 256, index % 256);
        json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {
                "name": name, "uid": self.rng.uid(), "resourceVersion": format!("{}", 1000 + index),
                "creationTimestamp": ts(created),
                "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0",
                    "volumes.kubernetes.io/controller-managed-attach-detach": "true"},
                "labels": {"beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64", "kubernetes.io/hostname": name,
                    "kubernetes.io/os": "linux", "node.kubernetes.io/instance-type": "m6i.xlarge",
                    "topology.kubernetes.io/region": "kubedx-local", "topology.kubernetes.io/zone": zone,
                    "type": "kwok"},
            },
            "spec": {"podCIDR": cidr, "podCIDRs": [cidr], "providerID": format!("kwok://{name}")},
            "status": {
                "addresses": [{"type": "InternalIP", "address": format!("127.1.{}.{}", index / 250, 1 + index % 250)},
                              {"type": "Hostname", "address": name}],
                "allocatable": {"cpu": "3920m", "ephemeral-storage": "95551679124", "hugepages-1Gi": "0",
                    "hugepages-2Mi": "0", "memory": "15508080Ki", "pods": "110"},
                "capacity": {"cpu": "4", "ephemeral-storage": "103687152Ki", "hugepages-1Gi": "0",
                    "hugepages-2Mi": "0", "memory": "16134672Ki", "pods": "110"},
                "conditions": [
                    cond("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                    cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                    cond("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                    cond("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
                ],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                "nodeInfo": {"architecture": "amd64", "bootID": self.rng.uid(), "containerRuntimeVersion": "containerd://2.1.4",
                    "kernelVersion": "6.8.0-1019-aws", "kubeProxyVersion": "", "kubeletVersion": "v1.37.1",
                    "machineID": self.rng.hex(32), "operatingSystem": "linux",
                    "osImage": "Debian GNU/Linux 12 (bookworm)", "systemUUID": self.rng.uid()},
            }
        })
    }

    fn kube_system(&mut self) {
        let ns = "kube-system";
        let mut objs = self.namespace_basics(ns);
        let nsobj = self.namespace_object(ns);
        self.out.cluster.push(nsobj);
        objs.push(json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kube-dns", "namespace": ns, "uid": self.rng.uid(),
                "creationTimestamp": ts(ago(self.cfg.now, 90 * 86400)),
                "labels": {"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS"}},
            "spec": {"clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"], "type": "ClusterIP",
                "selector": {"k8s-app": "kube-dns"},
                "ports": [{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                          {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                          {"name": "metrics", "port": 9153, "protocol": "TCP", "targetPort": 9153}]}}));
        objs.extend(self.workload(ns, "coredns", 2, None, false, true));
        self.out.namespaces.insert(ns.to_owned(), objs);
    }

    fn namespace(&mut self, ns: &str, pods: usize) {
        let nsobj = self.namespace_object(ns);
        self.out.cluster.push(nsobj);
        let mut objs = self.namespace_basics(ns);
        let mut left = pods;
        let mut app_index = 0;
        while left > 0 {
            let app = APPS[app_index % APPS.len()];
            let name = if app_index < APPS.len() {
                app.to_owned()
            } else {
                format!("{app}-{}", app_index / APPS.len())
            };
            app_index += 1;
            let claim = self.rng.chance(self.cfg.with_claims);
            let replicas = if claim {
                1
            } else {
                (1 + self.rng.below(self.cfg.max_replicas.max(1))).min(left)
            };
            left -= replicas;
            let fault = if self.rng.chance(self.cfg.broken) {
                Some(Fault::ALL[self.rng.below(Fault::ALL.len())])
            } else {
                None
            };
            objs.extend(self.workload(ns, &name, replicas, fault, claim, false));
            self.out.workloads.push(Workload {
                namespace: ns.to_owned(),
                name,
                replicas,
                fault,
                claim,
            });
        }
        self.out.namespaces.insert(ns.to_owned(), objs);
    }

    /// A Deployment with its ReplicaSet, Pods, Service, EndpointSlice, ConfigMap,
    /// maybe a PVC (and its PV), and Events.
    fn workload(
        &mut self,
        ns: &str,
        app: &str,
        replicas: usize,
        fault: Option<Fault>,
        claim: bool,
        dns: bool,
    ) -> Vec<Value> {
        let now = self.cfg.now;
        let mut objs = Vec::new();
        let label_key = if dns { "k8s-app" } else { "app" };
        let labels = json!({label_key: app});
        let deploy_uid = self.rng.uid();
        let rs_uid = self.rng.uid();
        let hash = self.rng.suffix(10);
        let rs_name = format!("{app}-{hash}");
        let created = ago(now, 3600 * (2 + self.rng.below(24 * 20) as i64));
        let rs_created = ago(now, 60 * (10 + self.rng.below(600) as i64));
        let image = if dns {
            "registry.k8s.io/coredns/coredns:v1.12.0".to_owned()
        } else {
            match fault {
                Some(Fault::ImageNotFound) => {
                    format!(
                        "registry.example.com/{ns}/{app}:v9.9.{}",
                        self.rng.below(99)
                    )
                }
                _ => format!(
                    "registry.example.com/{ns}/{app}:1.{}.{}",
                    self.rng.below(30),
                    self.rng.below(10)
                ),
            }
        };
        let config = format!("{app}-config");
        if fault != Some(Fault::MissingConfigMap) && !dns {
            objs.push(json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": config, "namespace": ns, "uid": self.rng.uid(),
                    "creationTimestamp": ts(created), "labels": labels.clone()},
                "data": {"LOG_LEVEL": "info", "LISTEN_ADDR": ":8080", "UPSTREAM": format!("http://{app}-backend.{ns}.svc:8080")}}));
        }
        let claim_name = claim.then(|| format!("{app}-data"));
        if let Some(pvc_name) = &claim_name {
            let pv = format!("pvc-{}", self.rng.uid());
            let pvc_uid = self.rng.uid();
            objs.push(json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "metadata": {"name": pvc_name, "namespace": ns, "uid": pvc_uid, "creationTimestamp": ts(created),
                    "annotations": {"pv.kubernetes.io/bind-completed": "yes", "pv.kubernetes.io/bound-by-controller": "yes",
                        "volume.beta.kubernetes.io/storage-provisioner": "ebs.csi.aws.com",
                        "volume.kubernetes.io/storage-provisioner": "ebs.csi.aws.com"},
                    "finalizers": ["kubernetes.io/pvc-protection"], "labels": labels.clone()},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}},
                    "storageClassName": "standard", "volumeMode": "Filesystem", "volumeName": pv},
                "status": {"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "10Gi"}}}));
            self.out.cluster.push(json!({"apiVersion": "v1", "kind": "PersistentVolume",
                "metadata": {"name": pv, "uid": self.rng.uid(), "creationTimestamp": ts(created),
                    "annotations": {"pv.kubernetes.io/provisioned-by": "ebs.csi.aws.com"},
                    "finalizers": ["kubernetes.io/pv-protection"]},
                "spec": {"accessModes": ["ReadWriteOnce"], "capacity": {"storage": "10Gi"},
                    "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "name": pvc_name, "namespace": ns, "uid": pvc_uid},
                    "csi": {"driver": "ebs.csi.aws.com", "fsType": "ext4", "volumeHandle": format!("vol-{}", self.rng.hex(17))},
                    "persistentVolumeReclaimPolicy": "Delete", "storageClassName": "standard", "volumeMode": "Filesystem",
                    "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                        {"key": "topology.kubernetes.io/zone", "operator": "In", "values": [ZONES[self.rng.below(3)]]}]}]}}},
                "status": {"phase": "Bound"}}));
        }
        let template =
            self.pod_template(ns, app, &labels, fault, claim_name.as_deref(), &image, dns);
        let ready = match fault {
            None => replicas,
            Some(_) => 0,
        };
        let (avail_status, avail_reason, avail_msg) = if ready >= replicas {
            (
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.".to_owned(),
            )
        } else {
            (
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.".to_owned(),
            )
        };
        let progressing = if fault.is_some() {
            json!({"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                "message": format!("ReplicaSet \"{rs_name}\" has timed out progressing."),
                "lastUpdateTime": ts(ago(now, 300)), "lastTransitionTime": ts(ago(now, 300))})
        } else {
            json!({"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
                "message": format!("ReplicaSet \"{rs_name}\" has successfully progressed."),
                "lastUpdateTime": ts(rs_created), "lastTransitionTime": ts(created)})
        };
        let mut dep_status = json!({"observedGeneration": 3, "replicas": replicas, "updatedReplicas": replicas,
            "conditions": [
                {"type": "Available", "status": avail_status, "reason": avail_reason, "message": avail_msg,
                 "lastUpdateTime": ts(rs_created), "lastTransitionTime": ts(rs_created)},
                progressing]});
        if ready > 0 {
            dep_status["readyReplicas"] = json!(ready);
            dep_status["availableReplicas"] = json!(ready);
        }
        if ready < replicas {
            dep_status["unavailableReplicas"] = json!(replicas - ready);
        }
        let selector = json!({"matchLabels": labels.clone()});
        objs.push(json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": app, "namespace": ns, "uid": deploy_uid, "generation": 3,
                "resourceVersion": format!("{}", self.rng.below(9_000_000) + 1000),
                "creationTimestamp": ts(created), "labels": labels.clone(),
                "annotations": {"deployment.kubernetes.io/revision": "3"}},
            "spec": {"replicas": replicas, "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
                "selector": selector.clone(),
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                "template": template.clone()},
            "status": dep_status}));
        let mut rs_labels = labels.clone();
        rs_labels["pod-template-hash"] = json!(hash);
        let mut rs_template = template.clone();
        rs_template["metadata"]["labels"]["pod-template-hash"] = json!(hash);
        let mut rs_status = json!({"replicas": replicas, "fullyLabeledReplicas": replicas, "observedGeneration": 1});
        if ready > 0 {
            rs_status["readyReplicas"] = json!(ready);
            rs_status["availableReplicas"] = json!(ready);
        }
        objs.push(json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": rs_name, "namespace": ns, "uid": rs_uid, "generation": 1,
                "creationTimestamp": ts(rs_created), "labels": rs_labels.clone(),
                "annotations": {"deployment.kubernetes.io/desired-replicas": replicas.to_string(),
                    "deployment.kubernetes.io/max-replicas": (replicas + replicas.div_ceil(4)).to_string(),
                    "deployment.kubernetes.io/revision": "3"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": app,
                    "uid": deploy_uid, "controller": true, "blockOwnerDeletion": true}]},
            "spec": {"replicas": replicas, "selector": {"matchLabels": rs_labels.clone()}, "template": rs_template},
            "status": rs_status}));
        let plan = PodPlan {
            ns,
            app,
            rs_name: &rs_name,
            rs_uid: &rs_uid,
            hash: &hash,
            fault,
            claim: claim_name.as_deref(),
            image: image.clone(),
            created: rs_created,
        };
        let mut endpoints = Vec::new();
        let mut pods = Vec::new();
        for _ in 0..replicas {
            let (pod, events, ep) = self.pod(&plan, &template, label_key);
            pods.push(pod);
            objs.extend(events);
            endpoints.extend(ep);
        }
        objs.extend(pods);
        if fault == Some(Fault::Unschedulable) {
            objs.push(json!({"apiVersion": "v1", "kind": "Event",
                "metadata": {"name": format!("{rs_name}.{}", self.rng.hex(16)), "namespace": ns, "uid": self.rng.uid(),
                    "creationTimestamp": ts(ago(now, 900))},
                "involvedObject": {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs_name, "namespace": ns, "uid": rs_uid},
                "reason": "SuccessfulCreate", "message": format!("Created pod: {rs_name}-{}", self.rng.suffix(5)),
                "source": {"component": "replicaset-controller"}, "type": "Normal", "count": 1,
                "firstTimestamp": ts(ago(now, 900)), "lastTimestamp": ts(ago(now, 900)),
                "reportingComponent": "replicaset-controller", "reportingInstance": ""}));
        }
        if !dns {
            objs.push(json!({"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": app, "namespace": ns, "uid": self.rng.uid(), "creationTimestamp": ts(created), "labels": labels.clone()},
                "spec": {"type": "ClusterIP", "clusterIP": format!("10.96.{}.{}", self.rng.below(250), 1 + self.rng.below(250)),
                    "selector": labels.clone(), "sessionAffinity": "None", "internalTrafficPolicy": "Cluster",
                    "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
                    "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": "http"}]},
                "status": {"loadBalancer": {}}}));
        }
        let svc = if dns { "kube-dns" } else { app };
        let ports = if dns {
            json!([{"name": "dns", "port": 53, "protocol": "UDP"}, {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
                   {"name": "metrics", "port": 9153, "protocol": "TCP"}])
        } else {
            json!([{"name": "http", "port": 8080, "protocol": "TCP"}])
        };
        objs.push(json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": format!("{svc}-{}", self.rng.suffix(5)), "namespace": ns, "uid": self.rng.uid(),
                "generateName": format!("{svc}-"), "creationTimestamp": ts(created),
                "labels": {"kubernetes.io/service-name": svc, "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"},
                "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": svc, "uid": self.rng.uid(),
                    "controller": true, "blockOwnerDeletion": true}]},
            "addressType": "IPv4", "endpoints": endpoints, "ports": ports}));
        objs
    }

    #[allow(clippy::too_many_arguments)]
    fn pod_template(
        &mut self,
        ns: &str,
        app: &str,
        labels: &Value,
        fault: Option<Fault>,
        claim: Option<&str>,
        image: &str,
        dns: bool,
    ) -> Value {
        let _ = ns;
        let cpu = if fault == Some(Fault::Unschedulable) {
            "16"
        } else {
            "50m"
        };
        let mut container = json!({
            "name": if dns { "coredns" } else { "app" }, "image": image, "imagePullPolicy": "IfNotPresent",
            "ports": [{"containerPort": 8080, "name": "http", "protocol": "TCP"}],
            "resources": {"requests": {"cpu": cpu, "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
            "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http", "scheme": "HTTP"},
                "periodSeconds": 10, "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3},
            "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
        });
        if !dns {
            container["envFrom"] = json!([{"configMapRef": {"name": format!("{app}-config")}}]);
        }
        let mut volumes = vec![];
        if let Some(claim) = claim {
            volumes.push(json!({"name": "data", "persistentVolumeClaim": {"claimName": claim}}));
            container["volumeMounts"] = json!([{"name": "data", "mountPath": "/data"}]);
        }
        let mut meta = json!({"labels": labels.clone()});
        if let Some(mode) = fault.and_then(Fault::simulate) {
            meta["annotations"] = json!({"kubedx.io/simulate": mode});
        }
        let mut spec = json!({"containers": [container], "restartPolicy": "Always", "dnsPolicy": "ClusterFirst",
            "schedulerName": "default-scheduler", "terminationGracePeriodSeconds": 30,
            "securityContext": {}, "serviceAccountName": "default"});
        if !volumes.is_empty() {
            spec["volumes"] = Value::Array(volumes);
        }
        if dns {
            spec["priorityClassName"] = json!("system-cluster-critical");
        }
        json!({"metadata": meta, "spec": spec})
    }

    /// A Pod of a plan, its Events, and its EndpointSlice endpoint.
    fn pod(
        &mut self,
        p: &PodPlan,
        template: &Value,
        label_key: &str,
    ) -> (Value, Vec<Value>, Option<Value>) {
        let now = self.cfg.now;
        let name = format!("{}-{}", p.rs_name, self.rng.suffix(5));
        let uid = self.rng.uid();
        let node_i = self.rng.below(self.out.nodes.len().max(1));
        let node = self.out.nodes.get(node_i).cloned().unwrap_or_default();
        let ip = format!(
            "10.{}.{}.{}",
            64 + node_i / 256,
            node_i % 256,
            2 + self.rng.below(250)
        );
        let host_ip = format!("127.1.{}.{}", node_i / 250, 1 + node_i % 250);
        let created = p.created + SignedDuration::from_secs(self.rng.below(30) as i64);
        let started = created + SignedDuration::from_secs(2);
        let mut labels = json!({label_key: p.app, "pod-template-hash": p.hash});
        if let Some(template_labels) = template["metadata"]["labels"].as_object() {
            for (key, value) in template_labels {
                labels[key] = value.clone();
            }
        }
        let mut spec = template["spec"].clone();
        let cname = spec["containers"][0]["name"]
            .as_str()
            .unwrap_or("app")
            .to_owned();
        // What the admission chain adds: the API access volume and default tolerations.
        let mut volumes = spec["volumes"].as_array().cloned().unwrap_or_default();
        let token_vol = format!("kube-api-access-{}", self.rng.suffix(5));
        volumes.push(json!({"name": token_vol, "projected": {"defaultMode": 420, "sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}]}}));
        spec["volumes"] = Value::Array(volumes);
        spec["enableServiceLinks"] = json!(true);
        spec["preemptionPolicy"] = json!("PreemptLowerPriority");
        spec["priority"] = json!(0);
        spec["tolerations"] = json!([
            {"effect": "NoExecute", "key": "node.kubernetes.io/not-ready", "operator": "Exists", "tolerationSeconds": 300},
            {"effect": "NoExecute", "key": "node.kubernetes.io/unreachable", "operator": "Exists", "tolerationSeconds": 300}]);
        let scheduled = p.fault != Some(Fault::Unschedulable);
        if scheduled {
            spec["nodeName"] = json!(node);
        }
        let cond = |t: &str, s: bool, at: Timestamp| json!({"type": t, "status": if s { "True" } else { "False" }, "lastProbeTime": null, "lastTransitionTime": ts(at)});
        let image_ref = if p.image.contains('/')
            && p.image.split('/').next().is_some_and(|h| h.contains('.'))
        {
            p.image.clone()
        } else {
            format!("docker.io/library/{}", p.image)
        };
        let image_id = format!(
            "{}@sha256:{}",
            image_ref.split(':').next().unwrap_or(""),
            self.rng.hex(64)
        );
        let container_id = format!("containerd://{}", self.rng.hex(64));
        let mut events = Vec::new();
        let mut endpoint = None;
        let event_name = |rng: &mut Rng| format!("{name}.{}", rng.hex(16));
        let regarding =
            json!({"apiVersion": "v1", "kind": "Pod", "name": name, "namespace": p.ns, "uid": uid});
        let kubelet_event = |rng: &mut Rng,
                             type_: &str,
                             reason: &str,
                             message: String,
                             count: u32,
                             first: Timestamp,
                             last: Timestamp| {
            let mut involved = regarding.clone();
            involved["fieldPath"] = json!(format!("spec.containers{{{cname}}}"));
            json!({"apiVersion": "v1", "kind": "Event",
                "metadata": {"name": event_name(rng), "namespace": p.ns, "uid": rng.uid(), "creationTimestamp": ts(first)},
                "involvedObject": involved, "reason": reason, "message": message, "type": type_, "count": count,
                "firstTimestamp": ts(first), "lastTimestamp": ts(last),
                "source": {"component": "kubelet", "host": node}, "reportingComponent": "kubelet", "reportingInstance": node})
        };
        let (phase, ready, status_cs) = match p.fault {
            None | Some(Fault::ReadinessFail) => {
                let ok = p.fault.is_none();
                (
                    "Running",
                    ok,
                    json!({"name": cname, "image": p.image, "imageID": image_id, "containerID": container_id,
                        "ready": ok, "started": true, "restartCount": 0,
                        "state": {"running": {"startedAt": ts(started)}}}),
                )
            }
            Some(Fault::MissingConfigMap) => {
                let msg = format!("configmap \"{}-config\" not found", p.app);
                events.push(kubelet_event(
                    &mut self.rng,
                    "Normal",
                    "Pulled",
                    format!("Container image \"{}\" already present on machine", p.image),
                    1,
                    started,
                    started,
                ));
                let count = 20 + self.rng.below(60) as u32;
                let last = ago(now, self.rng.below(20) as i64);
                events.push(kubelet_event(
                    &mut self.rng,
                    "Warning",
                    "Failed",
                    format!("Error: {msg}"),
                    count,
                    started,
                    last,
                ));
                (
                    "Pending",
                    false,
                    json!({"name": cname, "image": p.image, "imageID": "", "ready": false, "started": false, "restartCount": 0,
                        "state": {"waiting": {"reason": "CreateContainerConfigError", "message": msg}}}),
                )
            }
            Some(Fault::ImageNotFound) => {
                let err = format!(
                    "rpc error: code = NotFound desc = failed to pull and unpack image \"{image_ref}\": failed to resolve reference \"{image_ref}\": {image_ref}: not found"
                );
                let last = ago(now, self.rng.below(60) as i64);
                let count = 5 + self.rng.below(40) as u32;
                events.push(kubelet_event(
                    &mut self.rng,
                    "Normal",
                    "Pulling",
                    format!("Pulling image \"{}\"", p.image),
                    count,
                    started,
                    last,
                ));
                events.push(kubelet_event(
                    &mut self.rng,
                    "Warning",
                    "Failed",
                    format!("Failed to pull image \"{}\": {err}", p.image),
                    count,
                    started,
                    last,
                ));
                events.push(kubelet_event(
                    &mut self.rng,
                    "Warning",
                    "Failed",
                    "Error: ErrImagePull".to_owned(),
                    count,
                    started,
                    last,
                ));
                events.push(kubelet_event(
                    &mut self.rng,
                    "Normal",
                    "BackOff",
                    format!("Back-off pulling image \"{}\"", p.image),
                    count * 4,
                    started,
                    last,
                ));
                events.push(kubelet_event(
                    &mut self.rng,
                    "Warning",
                    "Failed",
                    "Error: ImagePullBackOff".to_owned(),
                    count * 4,
                    started,
                    last,
                ));
                (
                    "Pending",
                    false,
                    json!({"name": cname, "image": p.image, "imageID": "", "ready": false, "started": false, "restartCount": 0,
                        "state": {"waiting": {"reason": "ImagePullBackOff",
                            "message": format!("Back-off pulling image \"{}\": ErrImagePull: {err}", p.image)}}}),
                )
            }
            Some(Fault::CrashLoop) => {
                let restarts = 5 + self.rng.below(200) as u32;
                let finished = ago(now, 30 + self.rng.below(200) as i64);
                let ns_uid = format!("{}_{}({uid})", name, p.ns);
                events.push(kubelet_event(
                    &mut self.rng,
                    "Normal",
                    "Pulled",
                    format!("Container image \"{}\" already present on machine", p.image),
                    restarts + 1,
                    started,
                    finished,
                ));
                events.push(kubelet_event(
                    &mut self.rng,
                    "Normal",
                    "Created",
                    format!("Created container: {cname}"),
                    restarts + 1,
                    started,
                    finished,
                ));
                events.push(kubelet_event(
                    &mut self.rng,
                    "Normal",
                    "Started",
                    format!("Started container {cname}"),
                    restarts + 1,
                    started,
                    finished,
                ));
                events.push(kubelet_event(
                    &mut self.rng,
                    "Warning",
                    "BackOff",
                    format!("Back-off restarting failed container {cname} in pod {ns_uid}"),
                    restarts * 3,
                    started,
                    ago(now, 5),
                ));
                (
                    "Running",
                    false,
                    json!({"name": cname, "image": p.image, "imageID": image_id, "containerID": container_id,
                        "ready": false, "started": false, "restartCount": restarts,
                        "state": {"waiting": {"reason": "CrashLoopBackOff",
                            "message": format!("back-off 5m0s restarting failed container={cname} pod={ns_uid}")}},
                        "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "containerID": container_id,
                            "startedAt": ts(finished - SignedDuration::from_secs(3)), "finishedAt": ts(finished)}}}),
                )
            }
            Some(Fault::Unschedulable) => {
                let total = self.out.nodes.len();
                let note = format!(
                    "0/{total} nodes are available: {total} Insufficient cpu. preemption: 0/{total} nodes are available: {total} No preemption victims found for incoming pod."
                );
                let first = created;
                let count = 10 + self.rng.below(50);
                events.push(json!({"apiVersion": "events.k8s.io/v1", "kind": "Event",
                    "metadata": {"name": event_name(&mut self.rng), "namespace": p.ns, "uid": self.rng.uid(), "creationTimestamp": ts(first)},
                    "eventTime": micro(first), "reportingController": "default-scheduler",
                    "reportingInstance": "default-scheduler-control-plane", "action": "Scheduling",
                    "reason": "FailedScheduling", "regarding": regarding.clone(), "note": note, "type": "Warning",
                    "series": {"count": count, "lastObservedTime": micro(ago(now, self.rng.below(120) as i64))}}));
                let pod = json!({"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": name, "generateName": format!("{}-", p.rs_name), "namespace": p.ns, "uid": uid,
                        "resourceVersion": format!("{}", self.rng.below(9_000_000) + 1000),
                        "creationTimestamp": ts(created), "labels": labels, "annotations": template["metadata"]["annotations"].clone(),
                        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": p.rs_name, "uid": p.rs_uid,
                            "controller": true, "blockOwnerDeletion": true}]},
                    "spec": spec,
                    "status": {"phase": "Pending", "qosClass": "Burstable", "conditions": [{
                        "type": "PodScheduled", "status": "False", "lastProbeTime": null, "lastTransitionTime": ts(created),
                        "reason": "Unschedulable", "message": note}]}});
                return (strip_nulls(pod), events, None);
            }
        };
        if p.fault.is_none() && self.rng.chance(0.3) {
            // scheduler-style event of a healthy Pod (events.k8s.io, eventTime, no count)
            events.push(json!({"apiVersion": "events.k8s.io/v1", "kind": "Event",
                "metadata": {"name": event_name(&mut self.rng), "namespace": p.ns, "uid": self.rng.uid(), "creationTimestamp": ts(created)},
                "eventTime": micro(created), "reportingController": "default-scheduler",
                "reportingInstance": "default-scheduler-control-plane", "action": "Binding", "reason": "Scheduled",
                "regarding": regarding.clone(), "note": format!("Successfully assigned {}/{name} to {node}", p.ns), "type": "Normal"}));
        }
        if p.fault == Some(Fault::ReadinessFail) {
            let count = 100 + self.rng.below(500) as u32;
            let last = ago(now, self.rng.below(10) as i64);
            events.push(kubelet_event(
                &mut self.rng,
                "Warning",
                "Unhealthy",
                "Readiness probe failed: HTTP probe failed with statuscode: 503".to_owned(),
                count,
                started,
                last,
            ));
        }
        let running = phase == "Running";
        let mut status = json!({"phase": phase, "hostIP": host_ip, "hostIPs": [{"ip": host_ip}], "qosClass": "Burstable",
            "startTime": ts(created),
            "conditions": [
                cond("PodReadyToStartContainers", running, started),
                cond("Initialized", true, created),
                cond("Ready", ready, started),
                cond("ContainersReady", ready, started),
                cond("PodScheduled", true, created)],
            "containerStatuses": [status_cs]});
        if !ready {
            for condition in [2, 3] {
                status["conditions"][condition]["reason"] = json!("ContainersNotReady");
                status["conditions"][condition]["message"] =
                    json!(format!("containers with unready status: [{cname}]"));
            }
        }
        if running {
            status["podIP"] = json!(ip);
            status["podIPs"] = json!([{"ip": ip}]);
            endpoint = Some(json!({"addresses": [ip],
                "conditions": {"ready": ready, "serving": ready, "terminating": false},
                "nodeName": node, "zone": ZONES[node_i % ZONES.len()],
                "targetRef": {"kind": "Pod", "name": name, "namespace": p.ns, "uid": uid}}));
        }
        let _ = p.claim;
        let mut meta = json!({"name": name, "generateName": format!("{}-", p.rs_name), "namespace": p.ns, "uid": uid,
            "resourceVersion": format!("{}", self.rng.below(9_000_000) + 1000),
            "creationTimestamp": ts(created), "labels": labels,
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": p.rs_name, "uid": p.rs_uid,
                "controller": true, "blockOwnerDeletion": true}]});
        if let Some(annotations) = template["metadata"].get("annotations") {
            meta["annotations"] = annotations.clone();
        }
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec, "status": status});
        (pod, events, endpoint)
    }
}

fn strip_nulls(mut object: Value) -> Value {
    if let Some(metadata) = object
        .pointer_mut("/metadata")
        .and_then(Value::as_object_mut)
    {
        metadata.retain(|_, x| !x.is_null());
    }
    object
}

impl Synth {
    /// Every object, cluster-scoped first.
    pub fn objects(&self) -> impl Iterator<Item = &Value> {
        self.cluster
            .iter()
            .chain(self.namespaces.values().flatten())
    }

    pub fn pod_count(&self) -> usize {
        self.objects().filter(|o| o["kind"] == "Pod").count()
    }

    /// Loads every object into a store (what the snapshot loader does, without YAML).
    pub fn store(&self) -> crate::store::Store {
        let mut store = crate::store::Store::new();
        for object in self.objects() {
            store
                .insert_value(object.clone())
                .expect("synthetic object decodes");
        }
        store
    }

    /// Writes the snapshot: `cluster.yaml` (cluster-scoped objects) and one
    /// `<namespace>.yaml` per namespace, each a `kind: List` as `kubectl get -o yaml`
    /// prints it. Returns the bytes written.
    pub fn write_snapshot(&self, dir: &Path) -> std::io::Result<u64> {
        std::fs::create_dir_all(dir)?;
        let mut bytes = 0;
        let mut write = |name: &str, items: &[Value]| -> std::io::Result<()> {
            let list = json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": items});
            let text = serde_norway::to_string(&list).map_err(std::io::Error::other)?;
            bytes += text.len() as u64;
            std::fs::write(dir.join(name), text)
        };
        write("cluster.yaml", &self.cluster)?;
        for (ns, objs) in &self.namespaces {
            write(&format!("{ns}.yaml"), objs)?;
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::diagnose;
    use crate::rules::DiagnoseOptions;

    #[test]
    fn diagnosing_many_targets_in_parallel_equals_one_by_one() {
        let cfg = Config {
            broken: 0.3,
            ..Config::with_pods(600)
        };
        let mut store = generate(&cfg).store();
        let targets = crate::engine::all_targets(&mut store);
        assert!(targets.len() > 10, "{}", targets.len());
        let options = DiagnoseOptions::new("2026-11-21T12:00:00Z".parse().unwrap());
        let parallel = crate::engine::diagnose_many(&store, &targets, &options, None);
        assert_eq!(parallel.len(), targets.len());
        for (target, report) in targets.iter().zip(&parallel) {
            assert_eq!(&report.target, target);
            let one = diagnose(&store, target, &options, None);
            assert_eq!(
                serde_json::to_string(&one.status).unwrap(),
                serde_json::to_string(&report.status).unwrap(),
                "{target}"
            );
        }
    }

    #[test]
    fn deterministic_and_exact_pod_count() {
        let cfg = Config::with_pods(600);
        let first = generate(&cfg);
        let second = generate(&cfg);
        assert_eq!(first.pod_count(), 600 + 2); // + the 2 CoreDNS Pods
        assert_eq!(
            serde_json::to_string(&first.namespaces).unwrap(),
            serde_json::to_string(&second.namespaces).unwrap()
        );
        assert_eq!(first.nodes.len(), 12);
    }

    #[test]
    fn broken_workloads_get_their_root_cause_and_healthy_ones_stay_quiet() {
        let cfg = Config {
            broken: 0.5,
            ..Config::with_pods(800)
        };
        let synth = generate(&cfg);
        let store = synth.store();
        let opts = DiagnoseOptions::new(cfg.now);
        let mut seen = std::collections::BTreeSet::new();
        for workload in &synth.workloads {
            let rep = diagnose(&store, &workload.target(), &opts, None);
            let top = rep.status.findings.first();
            match workload.fault {
                Some(fault) => {
                    let ids: Vec<&str> = rep
                        .status
                        .findings
                        .iter()
                        .map(|finding| finding.rule_id.as_str())
                        .collect();
                    assert_eq!(
                        top.map(|finding| finding.rule_id.as_str()),
                        Some(fault.expected_rule().as_str()),
                        "{} {:?}: {ids:?}",
                        workload.name,
                        fault
                    );
                    seen.insert(fault);
                }
                None => {
                    let bad: Vec<String> = rep
                        .status
                        .findings
                        .iter()
                        .filter(|f| f.severity > crate::api::Severity::Info)
                        .map(|f| format!("{} {}", f.rule_id, f.message))
                        .collect();
                    assert!(bad.is_empty(), "{}: {bad:?}", workload.name);
                }
            }
        }
        assert_eq!(seen.len(), Fault::ALL.len());
    }

    #[test]
    fn snapshot_round_trips() {
        let synth = generate(&Config::with_pods(300));
        let dir = tempfile::tempdir().unwrap();
        synth.write_snapshot(dir.path()).unwrap();
        let mut store = crate::store::Store::new();
        let stats = crate::snapshot::load_paths(&[dir.path().to_owned()], &mut store).unwrap();
        assert_eq!(stats.objects, synth.objects().count());
        assert_eq!(store.count(Kind::Pod), 302);
    }
}
