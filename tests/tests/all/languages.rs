//! The language matrix: one hello-world HTTP component per toolchain,
//! built from source with that toolchain (scripts/build-actors.sh for Rust,
//! scripts/build-examples.sh for the others), served by a Trellis host
//! over real HTTP. A toolchain that could not be installed is reported
//! loudly, with its reason, never passed over in silence.

use std::path::PathBuf;

use anyhow::Context;
use trellis_tests::{actor, target_dir, wait_for_http};

use crate::fixture::{Lattice, ROUTE_READY};

/// One row: the language, where its component is, what it answers.
struct Row {
    language: &'static str,
    wasm: PathBuf,
    greeting: &'static str,
}

fn rows() -> Vec<Row> {
    let examples = target_dir().join("examples");
    vec![
        Row {
            language: "rust (wit-bindgen)",
            wasm: actor("hello_http"),
            greeting: "Hello from Trellis!",
        },
        Row {
            language: "spin5",
            wasm: examples.join("hello_spin5.wasm"),
            greeting: "Hello from Spin SDK 5 (Rust, WASI 0.2)",
        },
        Row {
            language: "spin7",
            wasm: examples.join("hello_spin7.wasm"),
            greeting: "Hello from Spin SDK 7 (Rust, WASI 0.3)",
        },
        Row {
            language: "python",
            wasm: examples.join("hello_py.wasm"),
            greeting: "Hello from Python!",
        },
        Row {
            language: "javascript",
            wasm: examples.join("hello_js.wasm"),
            greeting: "Hello from JavaScript!",
        },
    ]
}

/// Why the component of `language` was not built, if the build script
/// recorded a reason.
fn skipped(language: &str) -> Option<String> {
    let file = target_dir()
        .join("examples")
        .join(format!("SKIPPED-{language}.txt"));
    std::fs::read_to_string(file).ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn each_languages_hello_world_is_served() -> anyhow::Result<()> {
    let lattice = Lattice::start("languages", &[])?;
    let mut served = Vec::new();
    for (i, row) in rows().into_iter().enumerate() {
        if !row.wasm.is_file() {
            let reason = skipped(row.language).with_context(|| {
                format!(
                    "{} is missing and nothing says why: run scripts/build-examples.sh",
                    row.wasm.display()
                )
            })?;
            eprintln!(
                "\n!!! LANGUAGE ROW SKIPPED: {}: {}!!! (its toolchain could not be installed here)\n",
                row.language, reason
            );
            continue;
        }
        let id = format!("hello-{i}");
        let image = format!("file://{}", row.wasm.display());
        let b = lattice.b.id();
        let args = ["start", "component", &image, &id, "--host", b];
        lattice
            .cli
            .run(&args)?
            .ok()
            .with_context(|| format!("starting the {} component", row.language))?;
        let url = lattice.route(&id)?;
        let (status, _, body) = wait_for_http(&format!("{url}/"), 200, ROUTE_READY).await?;
        let text = String::from_utf8_lossy(&body);
        assert_eq!(status, 200, "{}", row.language);
        assert_eq!(text.trim_end(), row.greeting, "{}", row.language);
        served.push(row.language);
    }
    eprintln!("languages served: {}", served.join(", "));
    // Rust always builds here; a run that served nothing else proves little.
    assert!(!served.is_empty());
    Ok(())
}
