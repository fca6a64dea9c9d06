#!/usr/bin/env bash
# Builds the example/test actors in actors/ as wasm32-wasip2 components and
# copies them to target/wasm/.
#
# Environment:
#   TRELLIS_ACTORS_TARGET_DIR  cargo target dir for the actors build
#                              (default: <repo>/target/actors)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo_root="$(pwd)"

target_triple="wasm32-wasip2"
actors=(hello_http http_echo misbehave)

if ! rustup target list --installed | grep -qx "$target_triple"; then
    echo "installing rust target $target_triple" >&2
    rustup target add "$target_triple"
fi

export CARGO_TARGET_DIR="${TRELLIS_ACTORS_TARGET_DIR:-$repo_root/target/actors}"

# --target is given explicitly: actors/.cargo/config.toml is only read when
# cargo runs from inside actors/, not with --manifest-path from here.
cargo build --release --manifest-path actors/Cargo.toml --target "$target_triple"

out_dir="$repo_root/target/wasm"
mkdir -p "$out_dir"
for name in "${actors[@]}"; do
    src="$CARGO_TARGET_DIR/$target_triple/release/$name.wasm"
    if [[ ! -f "$src" ]]; then
        echo "error: expected build output $src is missing" >&2
        exit 1
    fi
    cp "$src" "$out_dir/$name.wasm"
    printf '%s\t%s bytes\n' "$out_dir/$name.wasm" "$(wc -c <"$out_dir/$name.wasm" | tr -d ' ')"
done
