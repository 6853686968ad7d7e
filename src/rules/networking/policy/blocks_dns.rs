//! NetworkPolicyBlocksDNS: policies isolate the egress of Pods that resolve names
//! through the cluster DNS, and no egress rule allows UDP/53 to it.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;

use crate::api::Risk;
use crate::graph::{CLUSTER_DNS_NAMESPACE, CLUSTER_DNS_SERVICE};
use crate::k8s::pod;
use crate::model::{Kind, ObjRef};
use crate::rules::RuleId;
use crate::rules::networking::{fmt_map, name_list};
use crate::rules::{Draft, RuleContext};
use crate::selector::Selector;
use crate::store::Store;

use super::eval::{Direction, Endpoint, Tri, Verdict, applies, describe_rules, egress_to_any};
use super::{Labels, namespace_labels, selecting_policies};

/// The port of the cluster DNS.
const DNS_PORT: i32 = 53;

/// Pods whose DNS egress the same policies deny, with the verdicts of the first one.
struct BlockedPods {
    pods: Vec<ObjRef>,
    udp: Verdict,
    tcp: Verdict,
}

/// The cluster DNS as egress destinations: one endpoint per CoreDNS Pod (with the
/// Service's ClusterIPs), or, when its Pods were not read, one endpoint with what
/// the Service (or the convention `k8s-app: kube-dns`) says about them. Also a
/// description of it for messages and evidence.
fn dns_destinations(store: &Store) -> (Vec<Endpoint>, String) {
    let ns = CLUSTER_DNS_NAMESPACE;
    let service = store.get::<Service>(ns, CLUSTER_DNS_SERVICE);
    let ns_labels = namespace_labels(store, ns);
    let cluster_ips: Vec<IpAddr> = service
        .and_then(|svc| svc.spec.as_ref())
        .map(|spec| {
            spec.cluster_ips
                .iter()
                .flatten()
                .chain(spec.cluster_ip.iter())
                .filter_map(|ip| ip.parse().ok())
                .collect::<BTreeSet<IpAddr>>()
                .into_iter()
                .collect()
        })
        .unwrap_or_default();
    let selector: Labels = service
        .and_then(|svc| svc.spec.as_ref())
        .and_then(|spec| spec.selector.clone())
        .unwrap_or_else(|| [("k8s-app".to_owned(), "kube-dns".to_owned())].into());
    let pods: Vec<&Pod> = store
        .select_pods(ns, &Selector::from_map(selector.iter()))
        .into_iter()
        .map(|p| p.as_ref())
        .filter(|p| !pod::is_terminal(p))
        .collect();
    let ips_text = if cluster_ips.is_empty() {
        String::new()
    } else {
        format!(
            " ({})",
            cluster_ips
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let mut description = format!("the cluster DNS {ns}/{CLUSTER_DNS_SERVICE}{ips_text}");
    if pods.is_empty() {
        description.push_str(&format!(", Pods labelled {}", fmt_map(&selector)));
        return (
            vec![Endpoint {
                namespace: ns.to_owned(),
                namespace_labels: ns_labels,
                pod_labels: selector,
                labels_complete: false,
                ips: cluster_ips,
                named_ports: None,
            }],
            description,
        );
    }
    let names: Vec<&str> = pods
        .iter()
        .map(|p| p.metadata.name.as_deref().unwrap_or_default())
        .collect();
    description.push_str(&format!(
        ", Pods {} labelled {}",
        name_list(&names, 3),
        fmt_map(&selector)
    ));
    let endpoints = pods
        .into_iter()
        .map(|pod| {
            let mut endpoint = Endpoint::pod(pod, ns_labels.clone());
            endpoint.ips.extend(cluster_ips.iter().copied());
            endpoint
        })
        .collect();
    (endpoints, description)
}

/// Whether the Pod resolves names through the cluster DNS.
fn uses_cluster_dns(pod: &Pod) -> bool {
    let Some(spec) = &pod.spec else { return false };
    let host_net = spec.host_network.unwrap_or(false);
    match spec.dns_policy.as_deref().unwrap_or("ClusterFirst") {
        "ClusterFirst" => !host_net,
        "ClusterFirstWithHostNet" => true,
        _ => false,
    }
}

/// One finding per set of policies denying the graph's Pods UDP/53 to the cluster DNS.
pub(crate) fn evaluate(ctx: &RuleContext, out: &mut Vec<Draft>) {
    let pods: Vec<&Pod> = ctx
        .graph
        .subjects(Kind::Pod)
        .filter_map(|pod_ref| ctx.store.get_ref::<Pod>(pod_ref))
        .map(|p| p.as_ref())
        .filter(|p| !pod::is_terminal(p) && uses_cluster_dns(p))
        .filter(|p| p.spec.as_ref().and_then(|s| s.host_network) != Some(true))
        .collect();
    if pods.is_empty() {
        return;
    }
    let (dns, dns_desc) = dns_destinations(ctx.store);
    // Pods selected by the same policies are one finding: namespace, then policy names.
    let mut groups: BTreeMap<Vec<String>, BlockedPods> = BTreeMap::new();
    for pod in pods {
        let selecting = selecting_policies(ctx.store, pod);
        if !selecting
            .iter()
            .any(|policy| applies(policy, Direction::Egress))
        {
            continue;
        }
        let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
        let src = Endpoint::pod(pod, namespace_labels(ctx.store, ns));
        let udp = egress_to_any(&selecting, &src, &dns, "UDP", DNS_PORT);
        if udp.allowed != Tri::No {
            continue;
        }
        let tcp = egress_to_any(&selecting, &src, &dns, "TCP", DNS_PORT);
        let mut key: Vec<String> = selecting
            .iter()
            .filter_map(|policy| policy.metadata.name.clone())
            .collect();
        key.sort();
        key.insert(0, ns.to_owned());
        let group = groups.entry(key).or_insert_with(|| BlockedPods {
            pods: Vec::new(),
            udp: udp.clone(),
            tcp: tcp.clone(),
        });
        group.pods.push(pod::reference(pod));
    }
    for (key, BlockedPods { pods, udp, tcp }) in groups {
        let ns = &key[0];
        let policies: Vec<&NetworkPolicy> = key[1..]
            .iter()
            .filter_map(|name| {
                ctx.store
                    .get::<NetworkPolicy>(ns, name)
                    .map(|policy| policy.as_ref())
            })
            .collect();
        let egress_policies: Vec<&NetworkPolicy> = policies
            .iter()
            .copied()
            .filter(|policy| applies(policy, Direction::Egress))
            .collect();
        let Some(first) = egress_policies.first() else {
            continue;
        };
        let first_name = first.metadata.name.clone().unwrap_or_default();
        let object = ObjRef::namespaced(Kind::NetworkPolicy, ns, &first_name);
        let pod_names: Vec<&str> = pods.iter().map(|pod| pod.name.as_str()).collect();
        let names: Vec<String> = udp.isolating.clone();
        let tcp_note = if tcp.allowed == Tri::Yes {
            " (TCP/53 is allowed, but resolvers query over UDP first and time out)"
        } else {
            ""
        };
        let mut draft = Draft::new(RuleId::NetworkPolicyBlocksDNS, object.clone())
            .message(format!(
                "NetworkPolicy {} isolate{} egress of {} Pod(s) ({}) and no egress rule allows UDP/53 to {}: name resolution times out{tcp_note}",
                names.join(", "),
                if names.len() == 1 { "s" } else { "" },
                pods.len(),
                name_list(&pod_names, 3),
                dns_desc
            ))
            .edge("Pod -> NetworkPolicy")
            .affected(&pods)
            .evidence(format!("DNS destination: {dns_desc}"));
        for policy in &egress_policies {
            draft = draft.evidence(describe_rules(policy, Direction::Egress));
            draft = draft.scope(ObjRef::namespaced(
                Kind::NetworkPolicy,
                ns,
                policy.metadata.name.as_deref().unwrap_or_default(),
            ));
        }
        draft = draft.evidence(format!(
            "UDP/53 to the cluster DNS: denied{}; TCP/53: {}",
            if udp.maybe.is_empty() {
                ""
            } else {
                " (some rules undecidable)"
            },
            match tcp.allowed {
                Tri::Yes => format!("allowed by {}", tcp.allowing.join(", ")),
                Tri::No => "denied".to_owned(),
                Tri::Maybe => "undecided".to_owned(),
            }
        ));
        let dns_svc = ObjRef::namespaced(Kind::Service, CLUSTER_DNS_NAMESPACE, CLUSTER_DNS_SERVICE);
        if ctx.graph.contains(&dns_svc) {
            draft = draft.scope(dns_svc);
        }
        let allow_dns = format!(
            "kubectl apply -n {ns} -f - <<'YAML'\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: allow-dns\nspec:\n  podSelector: {{}}\n  policyTypes: [Egress]\n  egress:\n  - to:\n    - namespaceSelector:\n        matchLabels:\n          kubernetes.io/metadata.name: {CLUSTER_DNS_NAMESPACE}\n      podSelector:\n        matchLabels:\n          k8s-app: kube-dns\n    ports:\n    - protocol: UDP\n      port: 53\n    - protocol: TCP\n      port: 53\nYAML"
        );
        draft = draft
            .summary("Allow egress to the cluster DNS (UDP and TCP 53 to the kube-dns Pods in kube-system) for the Pods this policy isolates.")
            .read_only(
                "Read the policies that select the Pods",
                format!("kubectl describe networkpolicy -n {ns} {}", names.join(" ")),
            )
            .read_only(
                "Check the labels of the DNS Pods and of kube-system",
                format!("kubectl get pods -n {CLUSTER_DNS_NAMESPACE} -l k8s-app=kube-dns --show-labels && kubectl get ns {CLUSTER_DNS_NAMESPACE} --show-labels"),
            )
            .step(
                "Add a policy allowing DNS egress (adjust the labels to your DNS Pods)",
                Some(allow_dns),
                Risk::Reversible,
            )
            .step(
                "Verify resolution from a Pod with the same labels",
                Some(format!(
                    "kubectl debug -n {ns} {} -it --image=busybox:1.36 -- nslookup kubernetes.default",
                    pods[0].kubectl()
                )),
                Risk::Reversible,
            );
        out.push(draft);
    }
}
