#!/usr/bin/env bash
# Builds the hello-world HTTP components of examples/languages/ with their
# own toolchains, from the public registries:
#   python      componentize-py (PyPI)           -> target/examples/hello_py.wasm
#   javascript  componentize-js (npm, Node.js)   -> target/examples/hello_js.wasm
#   spin5       Rust + Spin SDK 5 (crates.io)    -> target/examples/hello_spin5.wasm (WASI 0.2)
#   spin7       Rust + Spin SDK 7 (crates.io)    -> target/examples/hello_spin7.wasm (WASI 0.3)
# and wasmCloud's published example components in examples/wasmcloud/,
# built unmodified from their upstream source with cargo:
#   keyvalue-counter  wasmcloud-component (crates.io) -> target/examples/wasmcloud_keyvalue_counter.wasm
#   echo-messaging    wit-bindgen 0.43 (crates.io)     -> target/examples/wasmcloud_echo_messaging.wasm
#   http-blobstore    wit-bindgen 0.43 (crates.io)     -> target/examples/wasmcloud_http_blobstore.wasm
#   dog-fetcher       wit-bindgen 0.30, wasi 0.13      -> target/examples/wasmcloud_dog_fetcher.wasm
# (The Rust wit-bindgen one is actors/hello-http, built by build-actors.sh.)
# A component is rebuilt only when its inputs changed. A toolchain that
# cannot be installed (no Python/pip, no Node.js/npm, no registry) is not
# an error here: its reason goes to target/examples/SKIPPED-<lang>.txt and
# the language test prints it loudly instead of passing silently.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo_root="$(pwd)"

COMPONENTIZE_PY_VERSION=0.25.1
TOOLS_DIR="${TRELLIS_TOOLS_DIR:-$HOME/.local/share/trellis}"
out_dir="$repo_root/target/examples"
mkdir -p "$out_dir"

log() { printf 'build-examples: %s\n' "$*" >&2; }

# skip LANG REASON: records why LANG was not built.
skip() {
    printf '%s\n' "$2" >"$out_dir/SKIPPED-$1.txt"
    log "SKIPPED $1: $2"
}

# fresh OUT INPUT...: true when OUT exists and its recorded input hash matches.
inputs_hash() { cat "$@" | sha256sum | cut -d' ' -f1; }
fresh() {
    local out="$1"
    shift
    [ -f "$out" ] && [ -f "$out.inputs" ] && [ "$(cat "$out.inputs")" = "$(inputs_hash "$@")" ]
}

# --- Python: componentize-py ---------------------------------------------
build_python() {
    local out="$out_dir/hello_py.wasm" app="examples/languages/python/app.py"
    rm -f "$out_dir/SKIPPED-python.txt"
    local tool_dir="$TOOLS_DIR/componentize-py-$COMPONENTIZE_PY_VERSION"
    if [ ! -x "$tool_dir/bin/componentize-py" ]; then
        command -v python3 >/dev/null || { skip python "python3 not found"; return; }
        log "installing componentize-py $COMPONENTIZE_PY_VERSION into $tool_dir"
        if ! timeout 600 python3 -m pip install --quiet --target "$tool_dir" \
            "componentize-py==$COMPONENTIZE_PY_VERSION" >&2; then
            skip python "pip install componentize-py==$COMPONENTIZE_PY_VERSION failed"
            return
        fi
    fi
    if fresh "$out" "$app" wit/deps/http/*.wit; then
        log "python: $out is up to date"
        return
    fi
    local work="$out_dir/python"
    rm -rf "$work" && mkdir -p "$work"
    cp "$app" "$work/app.py"
    if ! (cd "$work" && PYTHONPATH="$tool_dir" timeout 600 "$tool_dir/bin/componentize-py" \
        -d "$repo_root/wit" -w "wasi:http/proxy@$(wasi_http_version)" componentize app -o "$out" >&2); then
        skip python "componentize-py failed to build $app"
        return
    fi
    inputs_hash "$app" wit/deps/http/*.wit >"$out.inputs"
    log "python: built $out"
}

# The wasi:http version of the repo's WIT (e.g. 0.2.12).
wasi_http_version() {
    sed -n 's/^package wasi:http@\(.*\);/\1/p' "$repo_root"/wit/deps/http/*.wit | head -n1
}

# --- JavaScript: componentize-js -----------------------------------------
build_javascript() {
    local src="examples/languages/javascript" out="$out_dir/hello_js.wasm"
    rm -f "$out_dir/SKIPPED-javascript.txt"
    command -v node >/dev/null || { skip javascript "node (Node.js) not found"; return; }
    command -v npm >/dev/null || { skip javascript "npm not found"; return; }
    if fresh "$out" "$src/app.js" "$src/build.mjs" "$src/package.json" wit/deps/*/*.wit; then
        log "javascript: $out is up to date"
        return
    fi
    local work="$out_dir/javascript"
    mkdir -p "$work"
    cp "$src/app.js" "$src/build.mjs" "$src/package.json" "$work/"
    if [ ! -d "$work/node_modules/@bytecodealliance/componentize-js" ]; then
        log "installing componentize-js with npm into $work"
        if ! (cd "$work" && timeout 600 npm install --no-audit --no-fund --silent >&2); then
            skip javascript "npm install @bytecodealliance/componentize-js failed"
            return
        fi
    fi
    # componentize-js 0.23's engine exports incoming-handler@0.2.10: the
    # repo's WIT, relabelled to that version (the interfaces it uses are
    # the same; what 0.2.11+ added is dropped).
    local wit="$work/wit"
    rm -rf "$wit" && mkdir -p "$wit/deps"
    for pkg in cli clocks filesystem http io random sockets; do
        cp -r "wit/deps/$pkg" "$wit/deps/"
    done
    local v
    v="$(wasi_http_version)"
    find "$wit/deps" -name '*.wit' -exec sed -i "s/@$v/@0.2.10/g" {} +
    # Drop items marked as added after 0.2.10 (with their @since line).
    find "$wit/deps" -name '*.wit' -exec perl -0pi -e \
        's/\n[ \t]*\@since\(version = 0\.2\.1[1-9]\)\n[^\n]*;//g' {} +
    printf 'package local:hello;\n\nworld hello {\n  include wasi:http/proxy@0.2.10;\n}\n' >"$wit/world.wit"
    if ! (cd "$work" && timeout 600 node build.mjs "$wit" "$out" >&2); then
        skip javascript "componentize-js failed to build $src/app.js"
        return
    fi
    inputs_hash "$src/app.js" "$src/build.mjs" "$src/package.json" wit/deps/*/*.wit >"$out.inputs"
    log "javascript: built $out"
}

# --- Rust with the Spin SDK ----------------------------------------------
# Each example is its own cargo workspace (own lock file); they share one
# target dir, so a rebuild is incremental and cargo decides what is stale.
build_spin() {
    local name="$1" src="examples/languages/$1"
    rm -f "$out_dir/SKIPPED-$name.txt"
    rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
    if ! CARGO_TARGET_DIR="$out_dir/rust" timeout 900 cargo build --quiet --release --locked \
        --target wasm32-wasip2 --manifest-path "$src/Cargo.toml" >&2; then
        skip "$name" "cargo build of $src failed (is crates.io reachable?)"
        return
    fi
    cp "$out_dir/rust/wasm32-wasip2/release/hello_$name.wasm" "$out_dir/hello_$name.wasm"
    log "$name: built $out_dir/hello_$name.wasm"
}

# --- wasmCloud's own examples ---------------------------------------------
# Each is upstream's source, unchanged, with a Cargo.lock (upstream's, or
# ours where upstream has none: see its SOURCE.md), built for wasm32-wasip2
# (a component straight from cargo, where upstream used `wash build`). NAME is the folder under examples/wasmcloud/, CRATE the
# upstream package name (it names the .wasm cargo writes).
build_wasmcloud() {
    local name="$1" crate="$2" src="examples/wasmcloud/$1"
    local out="$out_dir/wasmcloud_${name//-/_}.wasm"
    rm -f "$out_dir/SKIPPED-wasmcloud-$name.txt"
    rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
    if ! CARGO_TARGET_DIR="$out_dir/rust" timeout 900 cargo build --quiet --release --locked \
        --target wasm32-wasip2 --manifest-path "$src/Cargo.toml" >&2; then
        skip "wasmcloud-$name" "cargo build of $src failed (is crates.io reachable?)"
        return
    fi
    cp "$out_dir/rust/wasm32-wasip2/release/${crate//-/_}.wasm" "$out"
    log "wasmcloud $name: built $out"
}

build_python
build_javascript
build_spin spin5
build_spin spin7
build_wasmcloud keyvalue-counter http-keyvalue-counter
build_wasmcloud echo-messaging echo-messaging
build_wasmcloud http-blobstore http-blobstore
build_wasmcloud dog-fetcher dog-fetcher
