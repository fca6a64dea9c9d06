//! The engine and its settings.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::Linker;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::cache::{CacheOutcome, CompileCache};
use super::component::PreparedComponent;
use super::config::RuntimeConfig;
use super::http::{Handler, PreparedHttp};
use super::instance::Limits;
use super::interfaces::Interfaces;
use super::pool::InstancePool;
use super::spares::Spares;
use super::state::StoreState;

/// How often the epoch advances; the granularity of execution deadlines.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Failures of preparing a component.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The engine could not be built.
    #[error("cannot configure the wasm engine: {0}")]
    Engine(String),
    /// Not a WebAssembly component: not wasm, or a core module.
    #[error("not a WebAssembly component: {0}")]
    NotAComponent(String),
    /// A component the engine refuses to compile (what it uses, and what
    /// to do, are in the message).
    #[error("component does not compile on this host: {0}")]
    Invalid(String),
    /// A component whose imports this host cannot satisfy.
    #[error(
        "component cannot be linked: {0}. This host provides WASI 0.2 and 0.3 (cli, io, clocks, \
         random, filesystem, sockets), wasi:http and the capability interfaces in wit/ (keyvalue, \
         config, logging); link a provider for the others or build without them"
    )]
    Link(String),
    /// A component with nothing a caller could invoke.
    #[error(
        "component exports no function a caller could invoke (it exports {0}); export an \
         interface of your own WIT, or an HTTP handler: wasi:http/incoming-handler@0.2.x \
         (wasi:http/proxy world: wit-bindgen's `export!`, Spin SDK 5's `#[http_component]`, \
         componentize-py/-js HTTP templates) or wasi:http/handler@0.3.x (Spin SDK 6+'s \
         `#[http_service]`)"
    )]
    NothingToCall(String),
}

/// Advances the engines' epochs on a thread until dropped.
struct EpochTicker {
    stop: Arc<AtomicBool>,
}

impl EpochTicker {
    fn start(engines: Vec<Engine>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::Builder::new()
            .name("trellis-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    for engine in &engines {
                        engine.increment_epoch();
                    }
                }
            })
            .map(|_| ())
            .unwrap_or_else(|e| tracing::error!(%e, "no epoch thread: deadlines will not fire"));
        Self { stop }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Components whose initial memory image (all data segments) is at most
/// this size are instantiated by copying it; larger ones map it
/// copy-on-write.
///
/// Why two ways: with copy-on-write every first write to an image page is
/// a page fault that also flushes the TLB of every core the host runs on
/// (an inter-processor interrupt), once per page per request. For a small
/// image (a Rust hello world has a few KiB) copying is far cheaper: the
/// local HTTP row went from 12.5k to 17.6k req/s at concurrency 16
/// (docs/benchmarks.md). For an interpreter snapshot (componentize-py/-js
/// images are tens of MiB) copying the image on every request costs more
/// than the faults: JavaScript lost about 30% when everything was copied.
pub const COPY_IMAGE_MAX_BYTES: u64 = 1 << 20;

/// One engine configuration with what is tied to it.
struct Flavor {
    engine: Engine,
    linker: Linker<StoreState>,
    cache: CompileCache,
    concurrent: bool,
}

impl Flavor {
    /// An engine (copy-on-write memory images or not; with or without
    /// component-model async), its linker with WASI 0.2, wasi:http 0.2 and
    /// the capability interfaces (and WASI 0.3 and wasi:http 0.3 where
    /// the engine is concurrent), and its compile cache (a folder per
    /// engine configuration).
    fn new(config: &RuntimeConfig, cow: bool, concurrent: bool) -> Result<Self, RuntimeError> {
        let engine = build_engine(config, cow, concurrent)?;
        let engine_error = |e: wasmtime::Error| RuntimeError::Engine(e.to_string());
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(engine_error)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).map_err(engine_error)?;
        if concurrent {
            wasmtime_wasi::p3::add_to_linker(&mut linker).map_err(engine_error)?;
            wasmtime_wasi_http::p3::add_to_linker(&mut linker).map_err(engine_error)?;
        }
        crate::capabilities::blobstore::add_to_linker(&mut linker, StoreState::blob_view)
            .map_err(engine_error)?;
        crate::capabilities::add_to_linker(&mut linker, |state: &mut StoreState| &mut state.caps)
            .map_err(engine_error)?;
        let cache = CompileCache::new(&engine, config.cache_dir.as_deref());
        Ok(Self {
            engine,
            linker,
            cache,
            concurrent,
        })
    }

    /// Compiles (or loads) and pre-instantiates `bytes` on this engine.
    /// An engine without component-model async also refuses a component
    /// that would need it at run time (a WASI 0.3 import or handler).
    fn prepare(
        &self,
        bytes: &[u8],
        sha256: &str,
        config: &RuntimeConfig,
        (pool, spares): (&Arc<InstancePool>, &Arc<Spares>),
    ) -> Result<(PreparedComponent, CacheOutcome), RuntimeError> {
        let (component, outcome) = self
            .cache
            .load_or_compile(&self.engine, bytes, sha256)
            .map_err(|e| RuntimeError::Invalid(compile_hint(&format!("{e:#}"))))?;
        if !self.concurrent && imports_wasi_0_3(&self.engine, &component) {
            return Err(needs_concurrency());
        }
        let pre = match self.linker.instantiate_pre(&component) {
            Ok(pre) => pre,
            // Imports of its own interfaces: bound by links at run time.
            Err(_) => {
                let linker =
                    super::imports::bind(&self.linker, &component, config.max_response_bytes)
                        .map_err(|e| RuntimeError::Link(format!("{e:#}")))?;
                linker
                    .instantiate_pre(&component)
                    .map_err(|e| RuntimeError::Link(format!("{e:#}")))?
            }
        };
        let interfaces = Interfaces::read(&self.engine, &component);
        let limits = Limits::of(config);
        // A 0.3 handler is tried first: a component may export both, and
        // then the one that can serve concurrent requests wins.
        let handler = match wasmtime_wasi_http::p3::bindings::ServicePre::new(pre.clone()) {
            Ok(_) if !self.concurrent => return Err(needs_concurrency()),
            Ok(service) => Some(Handler::P3(service)),
            Err(_) => wasmtime_wasi_http::p2::bindings::ProxyPre::new(pre.clone())
                .and_then(Handler::p2)
                .ok(),
        };
        if handler.is_none() && !interfaces.has_functions() {
            return Err(RuntimeError::NothingToCall(interfaces.describe()));
        }
        let http = handler.map(|h| PreparedHttp::new(h, limits));
        Ok((
            PreparedComponent::new(
                pre,
                http,
                interfaces,
                pool.clone(),
                limits,
                spares.clone(),
                self.concurrent,
            ),
            outcome,
        ))
    }
}

/// The sync engine's refusal of a component that compiles there but needs
/// component-model async at run time; never shown, the concurrent engine
/// prepares it instead.
fn needs_concurrency() -> RuntimeError {
    RuntimeError::Link("the component needs component-model async".into())
}

/// Whether `component` imports a WASI 0.3 interface: only a concurrent
/// engine's linker has them (on another one, `imports::bind` would stub
/// them with traps).
fn imports_wasi_0_3(engine: &Engine, component: &wasmtime::component::Component) -> bool {
    component
        .component_type()
        .imports(engine)
        .any(|(name, _)| name.starts_with("wasi:") && name.contains("@0.3"))
}

/// The host's wasm runtime.
pub struct Runtime {
    /// For components with a small memory image (see
    /// [`COPY_IMAGE_MAX_BYTES`]) that need no component-model async: most
    /// WASI 0.2 components. Without concurrency support wasmtime skips the
    /// bookkeeping of concurrent guest tasks on every instantiation and
    /// call (docs/benchmarks.md, "Engines without concurrency").
    sync: Flavor,
    /// For components with a small memory image that need
    /// component-model async (WASI 0.3).
    copy: Flavor,
    /// For components with a large one.
    cow: Flavor,
    config: RuntimeConfig,
    pool: Arc<InstancePool>,
    spares: Arc<Spares>,
    _ticker: EpochTicker,
}

impl Runtime {
    /// Builds the engines (pooling allocator, epoch interruption; two copy
    /// memory images in, with and without component-model async, and one
    /// maps them copy-on-write) and their linkers.
    pub fn new(config: RuntimeConfig) -> Result<Self, RuntimeError> {
        let sync = Flavor::new(&config, false, false)?;
        let copy = Flavor::new(&config, false, true)?;
        let cow = Flavor::new(&config, true, true)?;
        Ok(Self {
            _ticker: EpochTicker::start(vec![
                sync.engine.clone(),
                copy.engine.clone(),
                cow.engine.clone(),
            ]),
            sync,
            copy,
            cow,
            pool: InstancePool::new(config.max_instances),
            spares: Spares::new(config.spare_instances, config.http_spare_instances),
            config,
        })
    }

    /// The runtime's limits.
    pub fn config(&self) -> &RuntimeConfig {
        &self.config
    }

    /// Spare instances: whether they are made, and the counts.
    pub fn spares(&self) -> &Spares {
        &self.spares
    }

    /// What every prepared component shares: the pool and the spares.
    fn shared(&self) -> (&Arc<InstancePool>, &Arc<Spares>) {
        (&self.pool, &self.spares)
    }

    /// Compiles (or loads from cache) and pre-instantiates a component.
    /// Imports of custom interfaces are bound to functions that call
    /// through the component's links (see `imports`); a component must
    /// export an HTTP handler or at least one function. A component with
    /// a small image that needs no component-model async is prepared on
    /// the engine without it; any failure there is tried again on a
    /// concurrent engine (for a WASI 0.3 component, validation fails
    /// before any code is compiled).
    /// CPU-bound: call it from a blocking thread.
    pub fn prepare(&self, bytes: &[u8]) -> Result<(PreparedComponent, CacheOutcome), RuntimeError> {
        check_component_header(bytes)?;
        let sha256 = hex::encode(Sha256::digest(bytes));
        let small = image_bytes(bytes) <= COPY_IMAGE_MAX_BYTES;
        // Any failure on the sync engine is judged again on the concurrent
        // one, whose error is the one shown.
        if small
            && let Ok(prepared) = self
                .sync
                .prepare(bytes, &sha256, &self.config, self.shared())
        {
            return Ok(prepared);
        }
        let flavor = if small { &self.copy } else { &self.cow };
        flavor.prepare(bytes, &sha256, &self.config, self.shared())
    }
}

/// The size of a component's initial memory images: the data segments of
/// all its core modules. Bytes that do not parse count as large (the
/// compiler will say what is wrong with them).
fn image_bytes(bytes: &[u8]) -> u64 {
    let mut total = 0u64;
    for payload in wasmparser::Parser::new(0).parse_all(bytes) {
        match payload {
            Ok(wasmparser::Payload::DataSection(reader)) => {
                for data in reader {
                    match data {
                        Ok(data) => total = total.saturating_add(data.data.len() as u64),
                        Err(_) => return u64::MAX,
                    }
                }
            }
            Ok(_) => {}
            Err(_) => return u64::MAX,
        }
    }
    total
}

/// Refuses bytes that are not a component, saying what they are instead.
pub fn check_component_header(bytes: &[u8]) -> Result<(), RuntimeError> {
    if has_component_header(bytes) {
        Ok(())
    } else {
        Err(RuntimeError::NotAComponent(not_a_component(bytes).into()))
    }
}

/// Why bytes without the component preamble are not a component.
fn not_a_component(bytes: &[u8]) -> &'static str {
    if !bytes.starts_with(b"\0asm") {
        "the file is not WebAssembly (no `\\0asm` magic); pass the .wasm a wasm32-wasip2 build made"
    } else if bytes.get(4..8) == Some(&[0x01, 0x00, 0x00, 0x00]) {
        "it is a core WebAssembly module; build for wasm32-wasip2 (`cargo build --target \
         wasm32-wasip2`), or make a component of it with `wasm-tools component new` and a WASI \
         adapter"
    } else {
        "unknown WebAssembly version or layer; this host runs components (layer 1, version 0x0d)"
    }
}

/// The engine's compile error, with what to do where the cause is known.
fn compile_hint(error: &str) -> String {
    if error.contains("requires the component model") || error.contains("feature is not enabled") {
        format!(
            "{error}. It uses a WebAssembly feature this host's engine (wasmtime {}) does not \
             enable; it runs WASI 0.2 and WASI 0.3 (component-model async) components. Rebuild \
             it without the feature, or with a toolchain that targets wasm32-wasip2",
            WASMTIME_VERSION
        )
    } else {
        error.to_owned()
    }
}

/// The wasmtime release this host embeds, for messages.
const WASMTIME_VERSION: &str = "50";

/// Whether `bytes` start with the 8-byte preamble of a component (magic,
/// then layer 1 version 0x0d).
fn has_component_header(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\0asm") && bytes.get(4..8) == Some(&[0x0d, 0x00, 0x01, 0x00])
}

/// Freed memories and tables decommitted together (one `process_madvise`)
/// on the engines for small images. Each flush is a system call and a TLB
/// shootdown on every core running the host, whatever its size: 64 instead
/// of 16 cut the host's CPU per hello-http request by about a fifth
/// (docs/benchmarks.md, "Larger decommit batches"), and 128 bought nothing
/// more.
const DECOMMIT_BATCH: u32 = 64;

/// The batch of the copy-on-write engine, whose components (interpreter
/// snapshots) can leave tens of MiB dirty each: pages wait in the queue
/// until it is flushed, so its batch stays small to bound what a quiet host
/// holds on to.
const DECOMMIT_BATCH_LARGE: u32 = 16;

fn build_engine(
    config: &RuntimeConfig,
    cow: bool,
    concurrent: bool,
) -> Result<Engine, RuntimeError> {
    let mut wasm = Config::new();
    wasm.memory_init_cow(cow);
    // Component-model async is what WASI 0.3 (`stream`, `future`, async
    // exports such as wasi:http/handler@0.3) is built on.
    wasm.wasm_component_model(true)
        .concurrency_support(concurrent)
        .wasm_component_model_async(concurrent)
        .epoch_interruption(true);
    let n = config.max_instances.max(1);
    let batch = if cow {
        DECOMMIT_BATCH_LARGE
    } else {
        DECOMMIT_BATCH
    };
    let mut pool = PoolingAllocationConfig::default();
    // A Rust component instantiates a few core modules and memories; size
    // the pool so `n` component instances fit. Admission never runs more
    // than `n`, but a freed instance's memories and stack (and any table
    // pages beyond the resident part) return to the pool only when its
    // decommit batch is flushed, and a flushing thread takes the whole
    // batch out of the shared queue before it returns the slots: an
    // instance admitted in that window can find none. A batch's worth of
    // slack covers the slots in transit. (Prompted by one failure of the
    // starvation test, "maximum concurrent limit of 16 for tables
    // reached" with 8 instances admitted.)
    pool.total_component_instances(n)
        .total_core_instances(n.saturating_mul(4))
        .total_memories(n.saturating_mul(2).saturating_add(batch))
        .total_tables(n.saturating_mul(2).saturating_add(batch))
        .total_stacks(n.saturating_add(batch))
        .max_memory_size(config.max_memory_bytes)
        // Every request frees an instance, and resetting its memory with
        // madvise costs a syscall and a TLB shootdown on every core: the
        // largest item in a profile of the HTTP row. Batching them raised
        // local throughput (docs/benchmarks.md). Clearing memory with
        // memset instead (`linear_memory_keep_resident`, also with
        // `pagemap_scan`) was slower for small components.
        .decommit_batch_size(batch as usize)
        // A fresh instance's first write to each table page faulted (and
        // flushed the TLB of the other cores) once the page had been
        // decommitted: 13% of a host serving component-to-component calls.
        // Resetting the first 64 KiB of each table with memset instead
        // raised that row's throughput by about 27% (docs/benchmarks.md);
        // hello-http stayed within noise.
        .table_keep_resident(64 << 10);
    wasm.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    match Engine::new(&wasm) {
        Ok(engine) => Ok(engine),
        Err(e) => {
            // Some machines cap virtual memory below what the pool reserves;
            // run on-demand there rather than not at all.
            tracing::warn!(%e, "pooling allocator unavailable; allocating instances on demand");
            wasm.allocation_strategy(InstanceAllocationStrategy::OnDemand);
            Engine::new(&wasm).map_err(|e| RuntimeError::Engine(e.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_size_is_the_sum_of_data_segments() {
        // A core module: one page of memory, one 5-byte data segment.
        let mut module = b"\0asm\x01\0\0\0".to_vec();
        module.extend_from_slice(&[5, 3, 1, 0, 1]);
        module.extend_from_slice(&[11, 11, 1, 0, 0x41, 0, 0x0b, 5]);
        module.extend_from_slice(b"hello");
        assert_eq!(image_bytes(&module), 5);
        assert_eq!(image_bytes(b"\0asm\x01\0\0\0"), 0);
        assert_eq!(
            image_bytes(b"garbage"),
            u64::MAX,
            "unparsable counts as large"
        );
    }

    /// A runtime with a pool of four instances.
    fn small_runtime() -> Runtime {
        Runtime::new(RuntimeConfig {
            max_instances: 4,
            ..Default::default()
        })
        .unwrap()
    }

    /// A component exporting `test:t/i` with one function, lifted
    /// synchronously or (`async`) with a callback.
    fn one_export(async_lift: bool) -> Vec<u8> {
        let (func_type, options, core_result) = if async_lift {
            (
                "(func async)",
                r#"async (callback (core func $i "cb"))"#,
                "(result i32) i32.const 0",
            )
        } else {
            ("(func)", "", "")
        };
        wat::parse_str(format!(
            r#"(component
                 (core module $m
                   (func (export "f") {core_result})
                   (func (export "cb") (param i32 i32 i32) (result i32) unreachable))
                 (core instance $i (instantiate $m))
                 (type $ft {func_type})
                 (func $f (type $ft) (canon lift (core func $i "f") {options}))
                 (instance $iface (export "f" (func $f)))
                 (export "test:t/i" (instance $iface)))"#
        ))
        .expect("the test component is valid text")
    }

    #[test]
    fn only_components_that_need_async_run_on_a_concurrent_engine() {
        let runtime = small_runtime();
        let (sync, _) = runtime.prepare(&one_export(false)).unwrap();
        assert_eq!(sync.engine(), "sync");
        let (concurrent, _) = runtime.prepare(&one_export(true)).unwrap();
        assert_eq!(concurrent.engine(), "concurrent");
        // A component broken for any engine gets the concurrent engine's
        // error, not "needs component-model async".
        let mut broken = one_export(false);
        let len = broken.len();
        broken.truncate(len - 3);
        let err = runtime.prepare(&broken).err().unwrap().to_string();
        assert!(err.contains("does not compile"), "{err}");
    }

    #[test]
    fn core_modules_and_garbage_are_refused_clearly() {
        let runtime = small_runtime();
        let core_module = b"\0asm\x01\0\0\0";
        let err = runtime.prepare(core_module).err().unwrap().to_string();
        assert!(
            err.contains("not a WebAssembly component") && err.contains("wasm32-wasip2"),
            "{err}"
        );
        assert!(err.contains("core WebAssembly module"), "{err}");
        let err = runtime.prepare(b"hello").err().unwrap().to_string();
        assert!(
            err.contains("not a WebAssembly component") && err.contains("not WebAssembly"),
            "{err}"
        );
        assert!(
            compile_hint("`x` requires the component model threading feature")
                .contains("does not enable")
        );
    }
}
