#!/usr/bin/env bash
# Full test run: dependencies, actors, binaries, then the whole workspace's
# tests. Extra arguments go to `cargo test`; anything after `--` goes to the
# test binaries (e.g. `scripts/test.sh -p trellis-tests -- --nocapture`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/install-deps.sh
# Every crate's tests use the same, new-enough nats-server (Debian's 2.9 is
# too old for async-nats 0.45's JetStream API; see install-deps.sh).
NATS_SERVER_BIN="$(bash scripts/install-deps.sh --print-nats-server)"
export NATS_SERVER_BIN
echo "test.sh: NATS_SERVER_BIN=$NATS_SERVER_BIN"

bash scripts/build-actors.sh
# Hello worlds from the other toolchains (Python, JavaScript); a toolchain
# that cannot be installed is recorded, and the language test says so.
bash scripts/build-examples.sh

# The end-to-end tests run the built `trellis` binary; build it (and all
# other binaries) up front: tests must not run cargo themselves.
cargo build --workspace --bins

cargo_args=()
test_args=()
seen_sep=0
for arg in "$@"; do
    if [ "$seen_sep" -eq 0 ] && [ "$arg" = "--" ]; then
        seen_sep=1
    elif [ "$seen_sep" -eq 0 ]; then
        cargo_args+=("$arg")
    else
        test_args+=("$arg")
    fi
done

# Whole workspace unless packages were picked (-p/--package).
scope=(--workspace)
for arg in "${cargo_args[@]}"; do
    case "$arg" in -p | -p* | --package | --package=*) scope=() ;; esac
done

# cargo's last lines belong to the last crate's doctests (often "0
# passed"), so end with one summary line over every test binary.
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
set -o pipefail
# The 1 GiB blob runs write and read gigabytes of disk and JetStream, and
# beside the CPU-heavy tests of this suite the staged-rollout test saw its
# listeners unreachable for a moment (twice in CI, never alone; the cause
# is not found yet): a whole run keeps these apart and runs them one at a
# time afterwards.
alone=(--skip a_1_gib_object --skip rollout::)
if [ "${#test_args[@]}" -ne 0 ]; then alone=(); fi
cargo test "${scope[@]}" "${cargo_args[@]}" -- --test-threads=2 "${alone[@]}" "${test_args[@]}" 2>&1 | tee "$log"
if [ "${#alone[@]}" -ne 0 ]; then
    cargo test -p trellis-tests --test all "${cargo_args[@]}" -- --test-threads=1 a_1_gib_object rollout:: 2>&1 | tee -a "$log"
fi
passed=$(sed -nE 's/^test result: [a-zA-Z]+\. ([0-9]+) passed; ([0-9]+) failed.*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
failed=$(sed -nE 's/^test result: [a-zA-Z]+\. ([0-9]+) passed; ([0-9]+) failed.*/\2/p' "$log" | awk '{s+=$1} END {print s+0}')
echo "tests: $passed passed, $failed failed"
