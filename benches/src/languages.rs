//! The language matrix under load: each toolchain's hello world
//! (docs/languages.md) through a Trellis host (provider and component on
//! one host) and through `wasmtime serve` on the same file, in the same
//! run, at one concurrency.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use trellis_tests::{actor, target_dir};

use crate::load::{self, LoadResult};
use crate::setup::{Lattice, WasmtimeServe};

/// One toolchain's numbers.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct LanguageRow {
    /// The toolchain, as in docs/languages.md.
    pub language: &'static str,
    /// Through Trellis, provider and component on one host.
    pub trellis: LoadResult,
    /// `wasmtime serve` on the same file, when installed.
    pub wasmtime: Option<LoadResult>,
}

/// The hello worlds that exist (scripts/build-actors.sh and
/// scripts/build-examples.sh build them); a missing one is said, not
/// hidden.
fn components() -> Vec<(&'static str, PathBuf)> {
    let examples = target_dir().join("examples");
    let all = [
        ("rust (wit-bindgen)", actor("hello_http")),
        ("rust (spin sdk 5)", examples.join("hello_spin5.wasm")),
        (
            "rust (spin sdk 7, wasi 0.3)",
            examples.join("hello_spin7.wasm"),
        ),
        ("python", examples.join("hello_py.wasm")),
        ("javascript", examples.join("hello_js.wasm")),
    ];
    all.into_iter()
        .filter(|(language, wasm)| {
            let found = wasm.is_file();
            if !found {
                eprintln!(
                    "language row {language} skipped: {} not built (scripts/build-examples.sh)",
                    wasm.display()
                );
            }
            found
        })
        .collect()
}

/// Measures every built hello world at `concurrency`.
pub(crate) async fn measure(
    lattice: &Lattice,
    wasmtime: Option<&PathBuf>,
    concurrency: usize,
    warmup: Duration,
    measure: Duration,
) -> anyhow::Result<Vec<LanguageRow>> {
    let mut rows = Vec::new();
    for (i, (language, wasm)) in components().into_iter().enumerate() {
        let reference = match wasmtime {
            Some(bin) => {
                let serve = WasmtimeServe::start(bin, &wasm).await?;
                Some(load::run(serve.addr, "/", concurrency, warmup, measure).await?)
            }
            None => None,
        };
        let addr = lattice.serve_local(&format!("lang-{i}"), &wasm).await?;
        let trellis = load::run(addr, "/", concurrency, warmup, measure).await?;
        rows.push(LanguageRow {
            language,
            trellis,
            wasmtime: reference,
        });
    }
    Ok(rows)
}
