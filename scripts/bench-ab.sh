#!/usr/bin/env bash
# Interleaved A/B runs of two bench_polling binaries (A B A B A B), so that both see the same
# noise of the machine; prints the load average beside each run's row.
# usage: scripts/bench-ab.sh A_BINARY B_BINARY [ROUNDS] [-- bench_polling arguments]
# e.g.:  git worktree add /tmp/old 74c5895 && (cd /tmp/old && cargo build --release --example bench_polling)
#        scripts/bench-ab.sh /tmp/old/target/release/examples/bench_polling \
#            target/release/examples/bench_polling 3 -- 10000 --interval 10 --seconds 20
set -euo pipefail
a=$1 b=$2
shift 2
rounds=3
if [ $# -gt 0 ] && [ "$1" != "--" ]; then rounds=$1; shift; fi
if [ "${1:-}" = "--" ]; then shift; fi
args=("$@")
if [ ${#args[@]} -eq 0 ]; then args=(10000 --interval 10 --seconds 20); fi
ulimit -n 20000
for round in $(seq "$rounds"); do
  for side in A B; do
    bin=$a; [ "$side" = B ] && bin=$b
    load=$(cut -d' ' -f1 /proc/loadavg)
    # A network namespace of its own: nothing leaves the machine, ports never collide.
    row=$(unshare --net bash -c 'ip link set lo up && "$@"' _ "$bin" "${args[@]}" 2>&1 | tail -1)
    echo "round $round $side load $load $row"
  done
done
