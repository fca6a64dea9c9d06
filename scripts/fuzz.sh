#!/usr/bin/env bash
# Long fuzz run: every target of trellis-fuzz for SECONDS_PER_TARGET
# (default 600), one after another. Prints per target how many inputs it
# tried and whether any failed; exits non-zero on any failure. Failing
# inputs are saved under $TMPDIR/trellis-fuzz-failures. See docs/fuzzing.md.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [extra trellis-fuzz args...]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds="${1:-600}"
shift || true
case "$seconds" in
    '' | *[!0-9]*)
        echo "fuzz.sh: SECONDS_PER_TARGET must be a whole number, got '$seconds'" >&2
        exit 2
        ;;
esac

# The dev profile already optimises dependencies (serde_json, serde_yaml,
# postcard, ed25519); building it reuses the test build.
cargo build -p trellis-fuzz --bin trellis-fuzz
target_dir="${CARGO_TARGET_DIR:-target}"
exec "$target_dir/debug/trellis-fuzz" --seconds "$seconds" "$@"
