//! Every host-specific control verb, run through [`super::handle`] on a
//! host assembled from in-memory ports: what runs afterwards, what was
//! fetched, served and announced, and the kind of every refusal. No
//! nats-server: the lattice handle the routers hold never connects, and
//! nothing here sends through it.

mod component;
mod host;
mod metrics;
mod provider;

use std::sync::{Arc, RwLock};
use std::time::Instant;

use tokio::sync::watch;
use trellis_lattice::{Lattice, LatticeConfig};
use trellis_protocol::control::{ArtifactRef, Failure, FailureKind};
use trellis_protocol::{ControlVerb, EventType, HostId};

use crate::config::HostConfig;
use crate::context::{HostContext, HostInfo, Parts};
use crate::ports::memory::{
    MemoryArtifacts, MemoryDataPlane, MemoryDirectory, MemoryEvents, MemoryStore,
};
use crate::runtime::{Runtime, RuntimeConfig};
use crate::store::HostStore;

/// A component exporting `test:calc/math` with `add: func(a: u32, b: u32)
/// -> u32` that answers `a + b + bias`, and nothing else.
fn calc(bias: u32) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(component
             (core module $m
               (func (export "add") (param i32 i32) (result i32)
                 local.get 0 local.get 1 i32.add i32.const {bias} i32.add))
             (core instance $i (instantiate $m))
             (func $add (param "a" u32) (param "b" u32) (result u32)
               (canon lift (core func $i "add")))
             (instance $math (export "add" (func $add)))
             (export "test:calc/math" (instance $math)))"#
    ))
    .expect("the test component is valid text")
}

/// A host with in-memory ports, and those ports to look at.
struct TestHost {
    ctx: Arc<HostContext>,
    stopped: watch::Receiver<Option<String>>,
    artifacts: Arc<MemoryArtifacts>,
    data_plane: Arc<MemoryDataPlane>,
    events: Arc<MemoryEvents>,
    /// Holds the artifact cache; removed with the host.
    _cache: tempfile::TempDir,
}

impl TestHost {
    /// A host that runs unsigned components.
    async fn new() -> Self {
        Self::with(|config| {
            config.allow_unsigned = true;
            config.metrics = true;
        })
        .await
    }

    /// A host whose settings `adjust` changes first.
    async fn with(adjust: impl FnOnce(&mut HostConfig)) -> Self {
        let cache = tempfile::tempdir().expect("a temp dir");
        let mut config = HostConfig::default();
        config.runtime.cache_dir = Some(cache.path().to_owned());
        adjust(&mut config);
        // Port 1: nobody listens, and the client only retries in the
        // background; the verbs under test never send through it.
        let lattice_config = LatticeConfig {
            nats_url: "nats://127.0.0.1:1".into(),
            ..Default::default()
        };
        let client = async_nats::ConnectOptions::new()
            .retry_on_initial_connect()
            .connect(lattice_config.nats_url.as_str())
            .await
            .expect("a client that connects later");
        let store = Arc::new(MemoryStore::default());
        let artifacts = Arc::new(MemoryArtifacts::default());
        let data_plane = Arc::new(MemoryDataPlane::default());
        let events = Arc::new(MemoryEvents::default());
        let runtime = Runtime::new(RuntimeConfig {
            max_instances: 16,
            ..Default::default()
        })
        .expect("a runtime");
        let serving = data_plane.clone();
        let (ctx, stopped) = HostContext::assemble(
            Parts {
                info: HostInfo {
                    id: HostId::new(format!("N{}", "B".repeat(55))).expect("a host id"),
                    name: "test-host".into(),
                    labels: RwLock::new([("os".to_owned(), "linux".to_owned())].into()),
                    started: Instant::now(),
                },
                lattice: Lattice::from_client(client, &lattice_config),
                store: Arc::new(HostStore::default()),
                artifacts: artifacts.clone(),
                events: events.clone(),
                directory: Arc::new(MemoryDirectory::new(&["other"], store, 0)),
                runtime: Arc::new(runtime),
                config,
                journal: None,
            },
            move |_| serving,
        );
        Self {
            ctx,
            stopped,
            artifacts,
            data_plane,
            events,
            _cache: cache,
        }
    }

    fn host(&self) -> HostId {
        self.ctx.info.id.clone()
    }

    /// Runs `verb` with `body` as JSON.
    async fn run(&self, verb: ControlVerb, body: serde_json::Value) -> super::Outcome {
        let body = serde_json::to_vec(&body).expect("JSON encodes");
        super::handle(self.ctx.clone(), verb, &body).await
    }

    /// Runs `verb` with raw `body` bytes.
    async fn run_raw(&self, verb: ControlVerb, body: &[u8]) -> super::Outcome {
        super::handle(self.ctx.clone(), verb, body).await
    }

    /// Scales `id` from `artifact` to `max`.
    async fn scale(&self, id: &str, artifact: &ArtifactRef, max: u32) -> super::Outcome {
        let body = serde_json::json!({
            "component_id": id, "image": format!("file://{id}.wasm"),
            "artifact": artifact, "max": max,
        });
        self.run(ControlVerb::ComponentScale(self.host()), body)
            .await
    }

    /// `trellis call calc test:calc/math.add A B` on this host: the WAVE
    /// text of the result, or the failure's kind.
    async fn add(&self, a: u32, b: u32) -> Result<String, FailureKind> {
        let body = serde_json::json!({
            "component_id": "calc", "interface": "test:calc/math", "function": "add",
            "call": {"args": {"Wave": [a.to_string(), b.to_string()]}, "wave": true},
            "timeout_ms": 5000,
        });
        match self
            .run(ControlVerb::ComponentCall(self.host()), body)
            .await
        {
            Ok(reply) => Ok(reply["wave"][0].as_str().unwrap_or_default().to_owned()),
            Err(failure) => Err(failure.kind),
        }
    }

    /// The host's metrics page, as a scrape would read it.
    fn scrape(&self) -> String {
        let mut registry = trellis_metrics::Registry::default();
        registry.register_collector(Box::new(crate::metrics::HostCollector::new(&self.ctx)));
        trellis_metrics::encode(&registry).expect("metrics encode")
    }

    fn event_types(&self) -> Vec<EventType> {
        self.events.seen().into_iter().map(|(t, _)| t).collect()
    }

    /// The data of the last event of type `event`.
    fn last(&self, event: EventType) -> serde_json::Value {
        self.events
            .seen()
            .into_iter()
            .rev()
            .find(|(t, _)| *t == event)
            .map(|(_, data)| data)
            .unwrap_or_else(|| panic!("no {event} event in {:?}", self.event_types()))
    }
}

/// The failure of `outcome`, which must have failed with `kind`.
fn failed(outcome: super::Outcome, kind: FailureKind) -> Failure {
    match outcome {
        Ok(data) => panic!("expected a {kind} failure, got {data}"),
        Err(failure) => {
            assert_eq!(failure.kind, kind, "{}", failure.message);
            failure
        }
    }
}
