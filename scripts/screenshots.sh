#!/usr/bin/env bash
# The README's main-window screenshot in the dark and the light theme, taken from the
# running program under Xvfb: `--standalone` on an empty settings file, *Open an example*
# clicked, then the window as it is after the example's first polls.
#
# The theme is the desktop's: a D-Bus session bus of the script's own with
# tests/peers/portal.py on it (the XDG portal's `color-scheme`, 1 = dark, 2 = light),
# which the window follows (src/ui/desktop/system_theme.rs).
#
# Usage: bash scripts/screenshots.sh [BINARY] [OUT_DIR]
#   BINARY  default target/release/standby (or $CARGO_TARGET_DIR/release/standby)
#   OUT_DIR default docs/ (writes main-window.png and main-window-light.png)
# Needs Xvfb, imagemagick (import), xdotool, dbus-daemon and python3-dbus/python3-gi
# (scripts/install-deps.sh installs them). Every process it starts is stopped by PID.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
binary="${1:-${CARGO_TARGET_DIR:-$here/target}/release/standby}"
out="${2:-$here/docs}"
wait_s="${SHOT_WAIT:-14}"
# Where *Open an example* is on the first-run screen (the window at 0,0, 1100x700).
click="${SHOT_CLICK:-294 213}"
mkdir -p "$out"
work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

# An X display of its own (Xvfb picks a free number and writes it on fd 1).
Xvfb -displayfd 1 -screen 0 1280x800x24 -nolisten tcp -noreset >"$work/display" 2>/dev/null &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/display" ] && break; sleep 0.1; done
export DISPLAY=":$(head -n1 "$work/display")"

shot() { # shot SCHEME FILE: the window with the desktop preferring SCHEME
    local scheme="$1" file="$2" run="$work/run-$1"
    mkdir -p "$run/home"
    dbus-daemon --session --nofork --print-address=1 >"$run/bus" 2>/dev/null &
    local bus_pid=$!
    pids+=("$bus_pid")
    for _ in $(seq 100); do [ -s "$run/bus" ] && break; sleep 0.1; done
    export DBUS_SESSION_BUS_ADDRESS="$(head -n1 "$run/bus")"
    # The portal ends when its stdin closes: hold it open with a fifo.
    mkfifo "$run/portal-in"
    /usr/bin/python3 "$here/tests/peers/portal.py" --color-scheme "$scheme" \
        <"$run/portal-in" >"$run/portal-out" &
    local portal_pid=$!
    pids+=("$portal_pid")
    exec {hold}>"$run/portal-in"
    for _ in $(seq 100); do grep -q ready "$run/portal-out" 2>/dev/null && break; sleep 0.1; done
    # No settings file yet: the embedded defaults, as on a first start.
    HOME="$run/home" XDG_CONFIG_HOME="$run/home/.config" \
        "$binary" --standalone --config "$run/standby.ron" >"$run/log" 2>&1 &
    local app_pid=$!
    pids+=("$app_pid")
    local window=""
    for _ in $(seq 200); do
        window="$(xdotool search --name '^Standby$' 2>/dev/null | head -n1 || true)"
        [ -n "$window" ] && break
        sleep 0.1
    done
    [ -n "$window" ] || { echo "no window; its log:" >&2; cat "$run/log" >&2; exit 1; }
    sleep 2
    xdotool windowmove "$window" 0 0 windowsize "$window" 1100 700
    sleep 1
    # shellcheck disable=SC2086 # "X Y"
    xdotool mousemove $click click 1
    sleep "$wait_s"
    xdotool mousemove 1200 780
    sleep 0.5
    import -window root -crop 1100x700+0+0 "$file"
    echo "   screenshot $file"
    kill "$app_pid" "$portal_pid" "$bus_pid" 2>/dev/null || true
    wait "$app_pid" "$portal_pid" "$bus_pid" 2>/dev/null || true
    exec {hold}>&-
}

shot 1 "$out/main-window.png"
shot 2 "$out/main-window-light.png"
