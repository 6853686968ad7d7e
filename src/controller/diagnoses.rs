//! The watch of the Diagnoses: cluster-wide when the identity may list them
//! everywhere, else one watch per namespace it serves (a namespace-scoped install,
//! with Roles only), merged into one stream for one reflector.
//!
//! A reflector replaces its whole store when a watch (re)lists, so the merged
//! per-namespace watches are turned into plain `Apply`/`Delete` events: a re-list of
//! one namespace deletes what it no longer holds there, and leaves the others alone.

use std::collections::{BTreeSet, HashMap};

use futures::stream::{self, BoxStream, StreamExt};
use kube::api::{Api, ListParams};
use kube::runtime::watcher::{self, Event};
use kube::{Client, ResourceExt};

use crate::api::Diagnosis;

/// A stream of Diagnosis watch events.
pub(crate) type DiagnosisEvents = BoxStream<'static, Result<Event<Diagnosis>, watcher::Error>>;

/// How often an unanswered probe of the cluster-wide list is asked again (once a
/// second) before watching cluster-wide.
const PROBE_RETRIES: usize = 30;

/// Watches the Diagnoses of the whole cluster if the identity may list them there,
/// else those of `namespaces`.
pub(crate) async fn watch(client: Client, namespaces: &BTreeSet<String>) -> DiagnosisEvents {
    let config = || watcher::Config::default().any_semantic();
    let all: Api<Diagnosis> = Api::all(client.clone());
    // whether the identity may list them everywhere; an unreachable API is asked again
    let mut probe = all.list_metadata(&ListParams::default().limit(1)).await;
    for _ in 0..PROBE_RETRIES {
        match &probe {
            Err(kube::Error::Api(status)) if status.code == 403 => break,
            Err(error) => {
                tracing::debug!(%error, "listing Diagnoses cluster-wide; asking again");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                probe = all.list_metadata(&ListParams::default().limit(1)).await;
            }
            Ok(_) => break,
        }
    }
    match probe {
        Err(kube::Error::Api(status)) if status.code == 403 => {
            tracing::info!(
                namespaces = %namespaces.iter().cloned().collect::<Vec<_>>().join(","),
                "may not list Diagnoses cluster-wide: watching them per namespace"
            );
            let watches = namespaces.iter().map(|namespace| {
                let api: Api<Diagnosis> = Api::namespaced(client.clone(), namespace);
                per_namespace(watcher::watcher(api, config()).boxed())
            });
            // the merged stream never re-lists as a whole: its store is ready at once
            // and fills as each namespace lists
            stream::iter([Ok(Event::Init), Ok(Event::InitDone)])
                .chain(stream::select_all(watches))
                .boxed()
        }
        _ => watcher::watcher(all, config()).boxed(),
    }
}

/// One namespace's watch as `Apply`/`Delete` events only: a re-list applies what it
/// lists, then deletes what it held before and no longer lists.
fn per_namespace(events: DiagnosisEvents) -> DiagnosisEvents {
    let mut known: HashMap<String, Diagnosis> = HashMap::new();
    let mut listing: Option<HashMap<String, Diagnosis>> = None;
    events
        .flat_map(move |event| {
            let out: Vec<Result<Event<Diagnosis>, watcher::Error>> = match event {
                Err(error) => vec![Err(error)],
                Ok(Event::Init) => {
                    listing = Some(HashMap::new());
                    Vec::new()
                }
                Ok(Event::InitApply(diagnosis)) => {
                    if let Some(listed) = listing.as_mut() {
                        listed.insert(diagnosis.name_any(), diagnosis.clone());
                    }
                    vec![Ok(Event::Apply(diagnosis))]
                }
                Ok(Event::InitDone) => {
                    let listed = listing.take().unwrap_or_default();
                    let gone: Vec<Diagnosis> = known
                        .drain()
                        .filter(|(name, _)| !listed.contains_key(name))
                        .map(|(_, diagnosis)| diagnosis)
                        .collect();
                    known = listed;
                    gone.into_iter().map(|d| Ok(Event::Delete(d))).collect()
                }
                Ok(Event::Apply(diagnosis)) => {
                    known.insert(diagnosis.name_any(), diagnosis.clone());
                    vec![Ok(Event::Apply(diagnosis))]
                }
                Ok(Event::Delete(diagnosis)) => {
                    known.remove(&diagnosis.name_any());
                    vec![Ok(Event::Delete(diagnosis))]
                }
            };
            stream::iter(out)
        })
        .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{DiagnosisSpec, TargetKind, TargetRef};

    fn diagnosis(name: &str) -> Diagnosis {
        let mut d = Diagnosis::new(
            name,
            DiagnosisSpec {
                target: TargetRef {
                    kind: TargetKind::Deployment,
                    name: "web".into(),
                    namespace: None,
                },
                rule_sets: None,
                mode: None,
                min_severity: None,
                suppress: None,
                expected_images: None,
                logs: None,
                events_on_target: None,
            },
        );
        d.metadata.namespace = Some("shop".into());
        d
    }

    fn describe(event: &Event<Diagnosis>) -> String {
        match event {
            Event::Apply(d) => format!("apply {}", d.name_any()),
            Event::Delete(d) => format!("delete {}", d.name_any()),
            Event::Init => "init".into(),
            Event::InitApply(d) => format!("initapply {}", d.name_any()),
            Event::InitDone => "initdone".into(),
        }
    }

    #[tokio::test]
    async fn a_relist_deletes_what_it_no_longer_lists_and_never_resets() {
        let events = vec![
            Event::Init,
            Event::InitApply(diagnosis("a")),
            Event::InitApply(diagnosis("b")),
            Event::InitDone,
            Event::Apply(diagnosis("c")),
            // a re-list after a disconnection: b was deleted meanwhile
            Event::Init,
            Event::InitApply(diagnosis("a")),
            Event::InitApply(diagnosis("c")),
            Event::InitDone,
        ];
        let out: Vec<String> = per_namespace(stream::iter(events.into_iter().map(Ok)).boxed())
            .map(|event| describe(&event.unwrap()))
            .collect()
            .await;
        assert_eq!(
            out,
            [
                "apply a", "apply b", "apply c", "apply a", "apply c", "delete b"
            ]
        );
    }
}
