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

echo "== cargo test"
cargo test --all-targets

echo "== Windows cross-build (x86_64-pc-windows-gnu)"
if rustup target list --installed 2>/dev/null | grep -q x86_64-pc-windows-gnu \
    && command -v x86_64-w64-mingw32-gcc >/dev/null; then
    cargo build --target x86_64-pc-windows-gnu --bins
else
    cat >&2 <<'WARN'
############################################################################
# WINDOWS CROSS-BUILD NOT RUN: the Rust target x86_64-pc-windows-gnu or    #
# the mingw compiler is missing, so cfg(windows) code was NOT compiled.    #
############################################################################
WARN
fi
echo "== all checks passed"
