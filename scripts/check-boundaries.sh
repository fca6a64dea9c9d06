#!/usr/bin/env bash
# Structure checks the compiler does not make (CI runs this):
# - no import circle between the modules of any crate (tools/boundaries);
# - the IO-free crates stay free of IO: protocol and manifest types must
#   build without a runtime, a NATS client, wasmtime or an HTTP stack, so
#   providers, guests' tooling and the CLI's offline checks can use them.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

cargo run -q -p trellis-boundaries -- .

io_free=(trellis-protocol trellis-manifest)
forbidden='^(tokio|async-nats|wasmtime|hyper)$'
status=0
for crate in "${io_free[@]}"; do
    deps=$(cargo tree -p "$crate" -e normal --prefix none --locked | awk '{print $1}' | sort -u)
    if bad=$(grep -E "$forbidden" <<<"$deps"); then
        echo "boundaries: $crate must stay IO-free but depends on: $(tr '\n' ' ' <<<"$bad")" >&2
        echo "boundaries: see why with: cargo tree -p $crate -e normal -i $(head -n1 <<<"$bad")" >&2
        status=1
    fi
done
if [ "$status" -eq 0 ]; then
    echo "boundaries: ${io_free[*]} free of tokio, async-nats, wasmtime and hyper"
fi
exit "$status"
