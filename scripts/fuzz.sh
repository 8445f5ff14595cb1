#!/usr/bin/env bash
# Runs every fuzz target of fuzz/ (cargo-fuzz, nightly) for SECONDS each (default 300):
#
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]
#   bash scripts/fuzz.sh --ci SECONDS        # CI: skipped with a banner without the tools
#
# Each target starts from its seeds in fuzz/corpus/<target>/ (kept small, in the repo) and
# a working corpus under the build dir that grows from run to run. A crash stops the run
# with the input in fuzz/artifacts/<target>/; replay it with
# `cargo +nightly fuzz run <target> fuzz/artifacts/<target>/<file>`, and turn it into a
# regression test beside the code it broke. The figures of the run (executions, corpus
# size per target) go to stdout and to $CARGO_TARGET_DIR/fuzz-figures.txt.
#
# FUZZ_SANITIZER=address builds with AddressSanitizer (slower to build and run; Standby has
# no unsafe code, so the default is none: panics, overflows and failed assertions are what
# the targets find).
#
# With --ci the build is bounded too (FUZZ_BUILD_LIMIT seconds, default 1020: an empty cache
# on two cores): past it the step is skipped with a banner, so that fuzzing can never push
# CI past its time. A crash found in --ci mode is reported with a banner (and its input
# kept in fuzz/artifacts/) but fails the run only with FUZZ_FATAL=1: the targets had no
# clean run on record yet when CI got them (RELIABILITY.md, "Fuzzing").
set -euo pipefail
cd "$(dirname "$0")/.."

ci=""
if [ "${1:-}" = "--ci" ]; then
    ci=yes
    shift
fi
seconds="${1:-300}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(dns_request tsig_verify dnsupdate_answer settings import_v1 api_bodies)
fi

missing=""
rustup run nightly rustc --version >/dev/null 2>&1 || missing="the nightly toolchain"
cargo fuzz --version >/dev/null 2>&1 || missing="${missing:+$missing and }cargo-fuzz"
if [ -n "$missing" ]; then
    cat >&2 <<WARN
############################################################################
# FUZZING NOT RUN: $missing missing
# (rustup toolchain install nightly --profile minimal; cargo install cargo-fuzz).
############################################################################
WARN
    [ -n "$ci" ] && exit 0
    exit 1
fi

target_dir="${CARGO_TARGET_DIR:-$PWD/fuzz/target}"
export CARGO_TARGET_DIR="$target_dir"
sanitizer="${FUZZ_SANITIZER:-none}"
flags=(--release --debug-assertions --sanitizer "$sanitizer")

echo "== fuzz: build (nightly, sanitizer $sanitizer, debug assertions)"
start=$(date +%s)
limit=()
[ -n "$ci" ] && limit=(timeout "${FUZZ_BUILD_LIMIT:-1020}")
build_status=0
(cd fuzz && "${limit[@]}" cargo +nightly fuzz build "${flags[@]}") || build_status=$?
if [ "$build_status" -eq 124 ]; then
    cat >&2 <<WARN
############################################################################
# FUZZING NOT RUN: the fuzz build took over ${FUZZ_BUILD_LIMIT:-1020} s (FUZZ_BUILD_LIMIT).
############################################################################
WARN
    exit 0
fi
[ "$build_status" -eq 0 ] || exit "$build_status"
echo "fuzz: build took $(($(date +%s) - start)) s"

figures="$target_dir/fuzz-figures.txt"
: >"$figures"
failed=()
for target in "${targets[@]}"; do
    work="$target_dir/fuzz-corpus/$target"
    mkdir -p "$work"
    log="$target_dir/fuzz-$target.log"
    echo "== fuzz: $target for $seconds s"
    status=0
    (cd fuzz && cargo +nightly fuzz run "${flags[@]}" "$target" "$work" "corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1) \
        >"$log" 2>&1 || status=$?
    # libFuzzer's final line "stat::number_of_executed_units: N"; without it (a crash stops
    # the run before its stats) the last status line "#N ...".
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    [ -n "$runs" ] || runs=$(sed -n 's/^#\([0-9][0-9]*\).*/\1/p' "$log" | tail -1)
    files=$(find "$work" -type f | wc -l)
    line="$target: ${runs:-?} executions in $seconds s, corpus $files files, exit $status"
    echo "$line" | tee -a "$figures"
    if [ "$status" -ne 0 ]; then
        failed+=("$target")
        grep -E "panicked|ERROR: libFuzzer|SUMMARY|Test unit written" "$log" | head -20 >&2 || true
    fi
done
if [ ${#failed[@]} -gt 0 ]; then
    cat >&2 <<WARN
############################################################################
# FUZZING FOUND A CRASH in: ${failed[*]}
# inputs in fuzz/artifacts/, logs in $target_dir/fuzz-*.log
############################################################################
WARN
    if [ -n "$ci" ] && [ "${FUZZ_FATAL:-}" != 1 ]; then
        exit 0
    fi
    exit 1
fi
echo "fuzz: no crash in ${#targets[@]} targets"
