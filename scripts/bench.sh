#!/usr/bin/env bash
# The benchmark harness: release build, real processes, one table on stdout
# and target/bench/results.json. Each Trellis HTTP row is measured in the
# same run as `wasmtime serve` (wasmtime-cli 50, installed with cargo when
# missing) and printed as a ratio; the http rows also measure nginx
# `return 200` (Debian's nginx-light, installed when missing) as the
# HTTP-stack reference. Arguments go to trellis-bench:
#   --seconds N   measure time per load row (default 10)
#   --rows LIST   http,languages,mesh,messaging,metrics,cold,capability,
#                 density,orchestration
#                 (default all)
#   --out FILE    JSON results (default target/bench/results.json)
#   --smoke       a few seconds: does it start, does it print
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-deps.sh
bash scripts/build-actors.sh
bash scripts/build-examples.sh
if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ] && [ -z "${NGINX_BIN:-}" ]; then
    echo "installing nginx-light (the HTTP-stack reference)" >&2
    apt-get install -y -q nginx-light >&2 || echo "no nginx: its rows are skipped" >&2
fi
cargo build --release -p trellis-cli -p trellis-bench

wasmtime_version="50.0.1"
if ! command -v wasmtime >/dev/null && [ ! -x "$HOME/.cargo/bin/wasmtime" ] && [ -z "${WASMTIME_BIN:-}" ]; then
    echo "installing wasmtime-cli $wasmtime_version (the reference) with cargo; this takes a while once" >&2
    cargo install wasmtime-cli --version "$wasmtime_version" --locked
fi

NATS_SERVER_BIN="$(bash scripts/install-deps.sh --print-nats-server)" \
    exec target/release/trellis-bench "$@"
