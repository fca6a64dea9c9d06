#!/usr/bin/env bash
# The main job: a single-node lattice (nats-server, one host, wadm) with the
# hello-http demo app deployed from examples/hello.yaml and served over
# HTTP, ending with curl. The lattice keeps
# running in the background afterwards; the last lines say how to stop it.
#
# Environment: TRELLIS_DEMO_NATS_PORT (default 4222),
#              TRELLIS_DEMO_HTTP_PORT (default 8080).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

nats_port="${TRELLIS_DEMO_NATS_PORT:-4222}"
http_port="${TRELLIS_DEMO_HTTP_PORT:-8080}"
data_dir="$PWD/target/demo"

bash scripts/install-deps.sh
bash scripts/build-actors.sh
cargo build -p trellis-cli
trellis="$PWD/target/debug/trellis"
nats_bin="$(bash scripts/install-deps.sh --print-nats-server)"

# A rerun replaces the previous demo lattice.
"$trellis" down --data-dir "$data_dir" 2>/dev/null || true

"$trellis" up --detach --name demo --label role=demo \
    --nats-port "$nats_port" --nats-server-bin "$nats_bin" --data-dir "$data_dir"
export TRELLIS_NATS_URL="nats://127.0.0.1:$nats_port"

# The example manifest with this run's port. Without its fixed version,
# wadm names the version after the content, so a rerun with another port
# stores a new version instead of clashing with the old one.
manifest="$PWD/target/demo-hello.yaml"
sed -e "s#127.0.0.1:8080#127.0.0.1:$http_port#" -e '/^    version: v1$/d' \
    examples/hello.yaml > "$manifest"
"$trellis" app deploy "$manifest" --wait --timeout 120
"$trellis" app status hello
"$trellis" get inventory

echo
echo "\$ curl http://127.0.0.1:$http_port/"
# The provider opens the listener as soon as it sees the link; allow it a
# moment (bounded) rather than racing it.
curl --silent --show-error --fail --retry 20 --retry-connrefused --retry-delay 0 --max-time 10 \
    "http://127.0.0.1:$http_port/"
echo
echo
echo "The lattice keeps running: TRELLIS_NATS_URL=$TRELLIS_NATS_URL $trellis get hosts"
echo "Stop it with: $trellis down --data-dir $data_dir"
