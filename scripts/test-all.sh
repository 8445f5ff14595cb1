#!/usr/bin/env bash
# Every check and test of Standby, from a fresh Debian machine with Rust:
# system packages, formatting, lints, all tests, and the Windows cross-build.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

echo "== cargo fmt --check"
cargo fmt --check

echo "== cargo clippy"
cargo clippy --all-targets -- -D warnings

# The fuzz targets are a workspace of their own that only nightly builds late in the run;
# checked here on stable, a struct they build by hand that gained a field fails in a minute,
# not after the tests.
echo "== cargo check: fuzz targets (stable)"
cargo check --manifest-path fuzz/Cargo.toml --bins

echo "== cargo test: build (outside: it may need crates.io)"
cargo test --all-targets --no-run

# The tests run in a network namespace of their own with only loopback up, so a test that
# would send a packet to any address not on this machine fails at once, and the run fails
# if any test tried (RELIABILITY.md, "Tests never leave the machine"). As root a plain
# namespace; otherwise one inside a user namespace. Without either the tests do not run:
# the promise would not be checked.
echo "== cargo test (in a network namespace: loopback only)"
isolated=(bash scripts/loopback-only.sh cargo test --offline --all-targets)
if [ "$(id -u)" -eq 0 ] && unshare --net true 2>/dev/null; then
    unshare --net "${isolated[@]}"
elif unshare --user --map-root-user --net true 2>/dev/null; then
    unshare --user --map-root-user --net "${isolated[@]}"
else
    cat >&2 <<'WARN'
############################################################################
# TESTS NOT RUN: no network namespace could be made here (unshare --net    #
# needs root, or unprivileged user namespaces). Run as root.               #
############################################################################
WARN
    exit 1
fi

# The cluster demo on its own loopback (issue 13 item 9): etcd and three instances; an edit
# through one instance's API must reach the two others.
echo "== cluster demo (scripts/cluster-demo.sh --check, loopback only)"
demo=(bash scripts/loopback-only.sh bash scripts/cluster-demo.sh --check)
if [ "$(id -u)" -eq 0 ]; then
    unshare --net "${demo[@]}"
else
    unshare --user --map-root-user --net "${demo[@]}"
fi

echo "== Windows cross-build (x86_64-pc-windows-gnu)"
if rustup target list --installed 2>/dev/null | grep -q x86_64-pc-windows-gnu \
    && command -v x86_64-w64-mingw32-gcc >/dev/null; then
    cargo build --target x86_64-pc-windows-gnu --bins
    # The Windows zip of scripts/package.sh, from that debug build (a release build would
    # cost minutes): it must hold the program, the README and the settings.
    echo "== Windows zip (scripts/package.sh --zip)"
    zip_dir=$(mktemp -d)
    bash scripts/package.sh --zip --out "$zip_dir" \
        --windows-binary "${CARGO_TARGET_DIR:-target}/x86_64-pc-windows-gnu/debug/standby.exe"
    listing=$(python3 -m zipfile -l "$zip_dir"/standby-*-windows-x86_64.zip)
    for f in standby.exe README.md LICENSE.txt settings/default.ron; do
        grep -q "/$f " <<<"$listing" || { echo "the Windows zip lacks $f:"; echo "$listing"; exit 1; }
    done
    rm -rf "$zip_dir"
    # The named pipe for real: the exe under Wine, an engine on its pipe and `standby.exe
    # engine ...` attached over it, with only loopback up like the tests.
    echo "== Windows named pipe under Wine (scripts/check-windows-pipe.sh, loopback only)"
    if command -v wine >/dev/null; then
        pipe=(bash scripts/loopback-only.sh bash scripts/check-windows-pipe.sh
            "${CARGO_TARGET_DIR:-target}/x86_64-pc-windows-gnu/debug/standby.exe")
        if [ "$(id -u)" -eq 0 ]; then
            unshare --net "${pipe[@]}"
        else
            unshare --user --map-root-user --net "${pipe[@]}"
        fi
    else
        cat >&2 <<'WARN'
############################################################################
# WINDOWS NAMED PIPE NOT CHECKED: wine is missing (scripts/install-deps.sh #
# installs wine64), so standby.exe's local channel was NOT run.            #
############################################################################
WARN
    fi
else
    cat >&2 <<'WARN'
############################################################################
# WINDOWS CROSS-BUILD NOT RUN: the Rust target x86_64-pc-windows-gnu or    #
# the mingw compiler is missing, so cfg(windows) code was NOT compiled.    #
############################################################################
WARN
fi

# Each fuzz target for a bounded time (RELIABILITY.md, "Fuzzing"); skipped with a banner
# where nightly or cargo-fuzz cannot be had. `bash scripts/fuzz.sh SECONDS` runs them longer.
echo "== fuzzing (scripts/fuzz.sh, ${FUZZ_SECONDS:-20} s per target)"
bash scripts/fuzz.sh --ci "${FUZZ_SECONDS:-20}"

echo "== all checks passed"
