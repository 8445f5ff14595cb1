#!/usr/bin/env bash
# The Windows local channel for real (issue 12): the cross-built standby.exe under Wine,
# a headless engine serving its named pipe, and `standby engine status | pause | resume |
# stop` attached over that pipe (the same Link a window uses). scripts/test-all.sh runs it
# after the Windows cross-build, in a network namespace with only loopback up:
#
#   unshare --net bash scripts/loopback-only.sh bash scripts/check-windows-pipe.sh EXE
#
# EXE defaults to the debug cross-build in $CARGO_TARGET_DIR (or target/). It checks:
#   - the engine says it serves \\.\pipe\standby-engine-<hash of the settings path>;
#   - `engine status` attaches and shows the engine's process, its set and the set's
#     server polled OK (a TCP listener of this script on 127.0.0.1);
#   - two `engine status` at once both attach (one pipe instance per window);
#   - `engine pause` pauses all polling and it lands in the settings file; `resume` undoes it;
#   - `engine stop` stops the engine: its process ends and `engine status` then exits 3.
# Wine runs in a private prefix under a temp dir, with WINEDEBUG=-all, and is stopped at
# the end. Wine is not Windows: the pipe's access list (owner and SYSTEM only) is not
# enforced the same way, and there is no second user here to be refused.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
exe=${1:-${CARGO_TARGET_DIR:-$repo/target}/x86_64-pc-windows-gnu/debug/standby.exe}
[ -f "$exe" ] || {
    echo "no $exe: cross-build it first (cargo build --target x86_64-pc-windows-gnu --bins)" >&2
    exit 2
}
command -v wine >/dev/null || {
    echo "wine is not installed (scripts/install-deps.sh installs wine64)" >&2
    exit 2
}

work=$(mktemp -d)
export WINEDEBUG=-all
# No X server: Wine's console programs need none, and none must be reached.
unset DISPLAY WAYLAND_DISPLAY
engine_pid=""
listener_pid=""
cleanup() {
    # Each by its id (the engine has usually ended by then: not an error).
    for pid in $engine_pid $listener_pid; do kill "$pid" 2>/dev/null || true; done
    WINEPREFIX=$work/prefix wineserver -k 2>/dev/null || true
    rm -rf "$work"
    return 0
}
trap cleanup EXIT

# shellcheck source=lib/wine.sh
source "$repo/scripts/lib/wine.sh"
started=$(date +%s)
wine_prefix "$work/prefix" "$work"
echo "== Wine prefix ready in $(($(date +%s) - started)) s ($(wine --version 2>/dev/null))"

# shellcheck source=lib/check.sh
source "$repo/scripts/lib/check.sh"
until_true() { # until_true SECONDS COMMAND...: retries COMMAND every 0.2 s
    local n=$(($1 * 5))
    shift
    for _ in $(seq "$n"); do
        "$@" && return 0
        sleep 0.2
    done
    return 1
}

# A TCP server for the set to poll: it accepts and closes, which the TCP method counts as up.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# It writes its own process id: `python3` may be a shim (pyenv) whose id is not the server's.
python3 -c '
import os, socket, sys
open(sys.argv[2], "w").write(str(os.getpid()))
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(16)
while True:
    c, _ = s.accept()
    c.close()
' "$port" "$work/listener.pid" &
until_true 10 test -s "$work/listener.pid"
listener_pid=$(cat "$work/listener.pid")

settings=$work/standby.ron
cat >"$settings" <<EOF
(
    server_sets: [(
        name: "pipe-web",
        servers: [(public_ip: "127.0.0.1")],
        polling: Tcp(port: $port),
        frequency: (retries: 0, interval_secs: 1, failed_interval_secs: 1),
    )],
)
EOF
settings_win=$(winepath -w "$settings")
engine_log=$work/engine.log
out=$work/out.txt

standby() { # standby ARGS...: the exe's output in $out, its exit code returned
    local code=0
    timeout 60 wine "$exe" "$@" --config "$settings_win" >"$out" 2>&1 </dev/null || code=$?
    return $code
}
shows() { grep -aq "$1" "$out"; }
status_shows() { standby engine status && shows "$1"; }
log_shows() { sed 's/\x1b\[[0-9;]*m//g' "$engine_log" | grep -aq "$1"; }

echo "== the engine: standby.exe --headless"
wine "$exe" --headless --config "$settings_win" >"$engine_log" 2>&1 </dev/null &
engine_pid=$!
check "it serves its named pipe" until_true 60 log_shows 'windows attach on \\\\.\\pipe\\standby-engine-'

echo "== standby.exe engine status, over the pipe"
check "it attaches and names the engine's settings" until_true 30 status_shows "engine: process"
check "it shows the set" shows "set pipe-web"
check "the set's server is polled OK" until_true 30 status_shows "server 127.0.0.1: OK"
check "polling runs" shows "polling: running"

echo "== two at once"
two_at_once() {
    local a=0 b=0
    timeout 60 wine "$exe" engine status --config "$settings_win" >"$work/a.txt" 2>&1 </dev/null &
    local pa=$!
    timeout 60 wine "$exe" engine status --config "$settings_win" >"$work/b.txt" 2>&1 </dev/null &
    local pb=$!
    wait $pa || a=$?
    wait $pb || b=$?
    [ $a -eq 0 ] && [ $b -eq 0 ] && grep -q "set pipe-web" "$work/a.txt" \
        && grep -q "set pipe-web" "$work/b.txt"
}
check "both attach" two_at_once

echo "== standby.exe engine pause / resume"
answers() { standby engine "$1" && shows "$2"; } # answers ACTION TEXT
check "pause answers paused" answers pause "polling: paused"
check "the pause is in the settings file" grep -q "paused: true" "$settings"
check "status says paused" status_shows "polling: paused"
check "resume answers running" answers resume "polling: running"

echo "== standby.exe engine stop"
check "stop says stopped" answers stop "stopped"
engine_gone() { ! kill -0 "$engine_pid" 2>/dev/null || [ "$(ps -o stat= -p "$engine_pid")" = Z ]; }
check "the engine process ended" until_true 30 engine_gone
no_engine() {
    local code=0
    standby engine status || code=$?
    [ $code -eq 3 ] && shows "no engine runs"
}
check "status then exits 3 (no engine)" no_engine

if [ "$failed" -ne 0 ]; then
    echo "-- engine log:"
    sed 's/\x1b\[[0-9;]*m//g' "$engine_log" | tail -40
    echo "-- last output:"
    cat "$out"
fi
echo "named pipe check under Wine: $passed ok, $failed failed"
[ "$failed" -eq 0 ]
