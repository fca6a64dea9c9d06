//! Function types of the components at both ends of component-to-component
//! links, fetched from a host that runs each (`component.types.<host>`)
//! so that a link's status can say which function does not match.
//!
//! Types are a property of the component's bytes, so they are kept by
//! digest: a thousand apps running the same component cost one request,
//! and a new version costs one more. Fetched a few per round, concurrently
//! and under a timeout, so a big lattice's first round is not held up.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use trellis_lattice::Lattice;
use trellis_protocol::signature::{ComponentTypes, ComponentTypesRequest};
use trellis_protocol::{ComponentId, ControlVerb, HostId};

use crate::model::Observed;

/// Most digests asked about in one round.
const MAX_FETCHES_PER_ROUND: usize = 16;
/// Most digests remembered; past it the cache starts over (a lattice with
/// this many distinct components is rare, and a refetch is cheap).
const MAX_KNOWN: usize = 4096;
/// How long a digest whose types could not be read is left alone.
const RETRY_AFTER: Duration = Duration::from_secs(60);

/// What is known of components' types, by digest.
#[derive(Default)]
pub(crate) struct TypesCache {
    known: HashMap<String, ComponentTypes>,
    /// Digests whose hosts could not answer (an older host, a simulated
    /// one), and when they last failed.
    failed: HashMap<String, Instant>,
}

impl TypesCache {
    /// Fetches what is missing for `observed`'s component-to-component
    /// links and puts the types of every digest those links use into
    /// `observed.types`.
    pub(crate) async fn fill(
        &mut self,
        lattice: &Lattice,
        observed: &mut Observed,
        timeout: Duration,
    ) {
        let ends = link_ends(observed);
        let now = Instant::now();
        let missing: Vec<(&String, &(HostId, ComponentId))> = ends
            .iter()
            .filter(|(digest, _)| !self.known.contains_key(*digest))
            .filter(|(digest, _)| {
                self.failed
                    .get(*digest)
                    .is_none_or(|at| now.duration_since(*at) >= RETRY_AFTER)
            })
            .take(MAX_FETCHES_PER_ROUND)
            .collect();
        let fetches = missing.iter().map(|(digest, (host, id))| async move {
            let request = ComponentTypesRequest {
                component_id: id.clone(),
            };
            let verb = ControlVerb::ComponentTypes(host.clone());
            let answer = lattice
                .control::<_, ComponentTypes>(verb, &request, Some(timeout))
                .await;
            ((*digest).clone(), host, id, answer)
        });
        for (digest, host, id, answer) in futures::future::join_all(fetches).await {
            match answer {
                Ok(Some(types)) => {
                    if self.known.len() >= MAX_KNOWN {
                        self.known.clear();
                    }
                    self.failed.remove(&digest);
                    self.known.insert(digest, types);
                }
                Ok(None) => {
                    self.failed.insert(digest, now);
                }
                Err(e) => {
                    tracing::debug!(%host, component = %id, %e, "could not read a component's types; its links are checked by name only");
                    self.failed.insert(digest, now);
                }
            }
        }
        observed.types = ends
            .keys()
            .filter_map(|digest| Some((digest.clone(), self.known.get(digest)?.clone())))
            .collect();
    }
}

/// Digests of the components at either end of a link between two
/// components, each with one host and id that runs it.
fn link_ends(observed: &Observed) -> BTreeMap<String, (HostId, ComponentId)> {
    let mut running: HashMap<&ComponentId, (&HostId, &str)> = HashMap::new();
    for (host, view) in &observed.hosts {
        if !view.reachable {
            continue;
        }
        for c in &view.components {
            running.entry(&c.id).or_insert((host, &c.digest));
        }
    }
    let mut ends = BTreeMap::new();
    for link in &observed.links {
        let (Some(source), Some(target)) =
            (running.get(&link.source_id), running.get(&link.target_id))
        else {
            continue;
        };
        for (id, (host, digest)) in [(&link.source_id, source), (&link.target_id, target)] {
            ends.entry((*digest).to_owned())
                .or_insert_with(|| ((*host).clone(), id.clone()));
        }
    }
    ends
}
