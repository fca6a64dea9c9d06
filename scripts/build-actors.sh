#!/usr/bin/env bash
# Builds the example/test actors in actors/ as wasm32-wasip2 components and
# copies every cdylib (component) the workspace produces to target/wasm/
# (e.g. hello_http.wasm, http_echo.wasm, misbehave.wasm, kv_counter.wasm,
# config_echo.wasm). A new actor crate only needs to be a workspace member
# with `crate-type = ["cdylib"]`; this script finds its output through
# cargo's JSON build messages.
#
# Environment:
#   TRELLIS_ACTORS_TARGET_DIR  cargo target dir for the actors build
#                              (default: <repo>/target/actors)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo_root="$(pwd)"

target_triple="wasm32-wasip2"

if ! rustup target list --installed | grep -qx "$target_triple"; then
    echo "installing rust target $target_triple" >&2
    rustup target add "$target_triple"
fi

export CARGO_TARGET_DIR="${TRELLIS_ACTORS_TARGET_DIR:-$repo_root/target/actors}"

# --target is given explicitly: actors/.cargo/config.toml is only read when
# cargo runs from inside actors/, not with --manifest-path from here.
# Diagnostics are rendered to stderr as usual; stdout carries one JSON
# message per line, from which the .wasm artifacts are taken.
messages="$(cargo build --release --manifest-path actors/Cargo.toml --target "$target_triple" \
    --message-format=json-render-diagnostics)"

# Every .wasm file among the compiler artifacts: the cdylib outputs (one
# component per actor crate), reported even when they were up to date.
mapfile -t wasm_files < <(
    printf '%s\n' "$messages" |
        grep '"reason":"compiler-artifact"' |
        grep -o '"filenames":\[[^]]*\]' |
        grep -o '"[^"]*\.wasm"' |
        tr -d '"' |
        sort -u
)
if [[ ${#wasm_files[@]} -eq 0 ]]; then
    echo "error: cargo reported no .wasm artifacts" >&2
    exit 1
fi

out_dir="$repo_root/target/wasm"
mkdir -p "$out_dir"
for src in "${wasm_files[@]}"; do
    if [[ ! -f "$src" ]]; then
        echo "error: expected build output $src is missing" >&2
        exit 1
    fi
    name="$(basename "$src")"
    cp "$src" "$out_dir/$name"
    printf '%s\t%s bytes\n' "$out_dir/$name" "$(wc -c <"$out_dir/$name" | tr -d ' ')"
done
