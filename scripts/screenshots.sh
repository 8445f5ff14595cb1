#!/usr/bin/env bash
# Every screenshot README.md shows, taken under Xvfb from the running program:
#   1. `--standalone` on an empty settings file: the first-run screen (first-run.png), then
#      *Open an example* clicked and the window after the example's first polls
#      (main-window.png), in the dark and (main-window-light.png) the light theme;
#   2. a "Web site" set of three servers polled over HTTP (two python3 http.server on
#      127.0.0.1 and 127.0.0.2, nothing on 127.0.0.3) whose host names are updated on a
#      real BIND (tests/peers/bind.sh on 127.0.0.1, RFC 2136 with TSIG): the set with its
#      DNS pairs, the Problems and Log tabs, the polling history, What if, the set's and
#      its DNS server's properties, the options. Every poll and update goes to 127.0.0.x.
#
# The theme is the desktop's: a D-Bus session bus of the script's own with
# tests/peers/portal.py on it (the XDG portal's `color-scheme`, 1 = dark, 2 = light),
# which the window follows (src/ui/desktop/system_theme.rs). Clicks are at fixed points of
# the window (at 0,0, 1100x700), as the layout puts the buttons; after a layout change,
# look at each picture.
#
# Usage: bash scripts/screenshots.sh [BINARY] [OUT_DIR]
#   BINARY  default target/release/standby (or $CARGO_TARGET_DIR/release/standby)
#   OUT_DIR default docs/
# Needs Xvfb, imagemagick (import), xdotool, dbus-daemon, python3-dbus/python3-gi and
# named (scripts/install-deps.sh installs them). Every process it starts is stopped by PID.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
binary="${1:-${CARGO_TARGET_DIR:-$here/target}/release/standby}"
out="${2:-$here/docs}"
wait_s="${SHOT_WAIT:-14}"
# Where *Open an example* is on the first-run screen (the window at 0,0, 1100x700).
example_at="${SHOT_CLICK:-294 213}"
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

# A port free on 127.0.0.1 and 127.0.0.2 (TCP) and, for BIND, UDP too.
free_port() {
    python3 - <<'PY'
import socket
for _ in range(100):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    try:
        for ip in ("127.0.0.1", "127.0.0.2"):
            for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                with socket.socket(socket.AF_INET, kind) as s:
                    s.bind((ip, port))
    except OSError:
        continue
    print(port)
    break
PY
}

app_pid="" portal_pid="" bus_pid="" hold=""
# start SCHEME CONFIG: the program on CONFIG with the desktop preferring SCHEME, its
# window at 0,0 in 1100x700.
start() {
    local scheme="$1" config="$2" run
    run="$(mktemp -d "$work/run-XXXX")"
    mkdir -p "$run/home"
    dbus-daemon --session --nofork --print-address=1 >"$run/bus" 2>/dev/null &
    bus_pid=$!
    pids+=("$bus_pid")
    for _ in $(seq 100); do [ -s "$run/bus" ] && break; sleep 0.1; done
    export DBUS_SESSION_BUS_ADDRESS="$(head -n1 "$run/bus")"
    # The portal ends when its stdin closes: hold it open with a fifo.
    mkfifo "$run/portal-in"
    /usr/bin/python3 "$here/tests/peers/portal.py" --color-scheme "$scheme" \
        <"$run/portal-in" >"$run/portal-out" &
    portal_pid=$!
    pids+=("$portal_pid")
    exec {hold}>"$run/portal-in"
    for _ in $(seq 100); do grep -q ready "$run/portal-out" 2>/dev/null && break; sleep 0.1; done
    HOME="$run/home" XDG_CONFIG_HOME="$run/home/.config" \
        "$binary" --standalone --config "$config" >"$run/log" 2>&1 &
    app_pid=$!
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
}

stop() {
    kill "$app_pid" "$portal_pid" "$bus_pid" 2>/dev/null || true
    wait "$app_pid" "$portal_pid" "$bus_pid" 2>/dev/null || true
    exec {hold}>&-
}

# click X Y [SECONDS]: a click, then that long (default 1 s) for the window to follow.
click() {
    xdotool mousemove "$1" "$2" click 1
    sleep "${3:-1}"
}

# snap FILE: the window, the pointer moved off it (no hover highlight).
snap() {
    xdotool mousemove 1200 780
    sleep 0.5
    import -window root -crop 1100x700+0+0 "$1"
    echo "   screenshot $1"
}

# 1. The first start and the example, dark and light.
for scheme in 1 2; do
    start "$scheme" "$work/empty-$scheme.ron"
    [ "$scheme" = 1 ] && snap "$out/first-run.png"
    # shellcheck disable=SC2086 # "X Y"
    click $example_at "$wait_s"
    if [ "$scheme" = 1 ]; then snap "$out/main-window.png"; else snap "$out/main-window-light.png"; fi
    stop
done

# 2. A web site on three servers, its host names on a real BIND.
http_port="$(free_port)"
dns_port="$(free_port)"
bash "$here/tests/peers/bind.sh" "$work/bind" 127.0.0.1 "$dns_port" >"$work/bind.log" 2>&1 &
pids+=($!)
for ip in 127.0.0.1 127.0.0.2; do
    mkdir -p "$work/www-$ip"
    echo OK >"$work/www-$ip/index.html"
    (cd "$work/www-$ip" && exec python3 -m http.server "$http_port" --bind "$ip") >/dev/null 2>&1 &
    pids+=($!)
done
for _ in $(seq 100); do
    dig @127.0.0.1 -p "$dns_port" example.test SOA +short +time=1 +tries=1 2>/dev/null | grep -q . && break
    sleep 0.2
done
secret="$(awk '$1 == "hmac-sha256" { print $3 }' "$work/bind/keys.txt")"
# No desktop notifications: the script's session bus has no notification daemon, and the
# log would show that failure.
cat >"$work/web.ron" <<RON
(
    options: (user_interface: (desktop_notification: false)),
    server_sets: [
        (
            name: "Web site",
            servers: [
                (public_ip: "192.0.2.10", poll_ip: "127.0.0.1", name: "web-a (primary)"),
                (public_ip: "198.51.100.20", poll_ip: "127.0.0.2", name: "web-b (standby)"),
                (public_ip: "203.0.113.30", poll_ip: "127.0.0.3", name: "web-c (down)"),
            ],
            polling: Http(url: "http://www.example.test:$http_port/", criteria: (status_codes: [200], body: [Contains("OK")])),
            frequency: (interval: "5s", failed_interval: "5s", retries: 0, recover_after: 1),
            dns: (host_names: ["www.example.test", "shop.example.test"], ttl: 60, addresses_of: AllFunctional),
            update_dns: (enabled: true, use_default_servers: false, dns_servers: [
                (address: "127.0.0.1", port: $dns_port, update: Rfc2136(tsig: (name: "key-hmac-sha256", algorithm: HmacSha256, secret: "$secret"))),
            ]),
            notes: "Failover for the public web site.",
        ),
    ],
)
RON
start 1 "$work/web.ron"
# The uptime figures come from the rollups, written a minute after the polls.
sleep "${SHOT_WEB_WAIT:-75}"
snap "$out/server-sets-dns.png"
click 177 69 # Problems
snap "$out/problems-tab.png"
click 115 69 # Log
snap "$out/log-tab.png"
click 47 69  # Server Sets
click 247 270 # + of web-a
click 320 297 3 # Polling history...
snap "$out/history-dialog.png"
click 555 474 # Close
click 759 39 2 # What if...
click 570 538 2 # web-a fails
snap "$out/what-if.png"
click 586 643 # Close
click 680 39 2 # Properties
click 213 141 # Servers
snap "$out/set-dialog.png"
click 227 256 # Update DNS
click 500 191 0.7 # the DNS server
click 735 207 2 # Edit DNS server...
snap "$out/dns-server-dialog.png"
click 387 623 # Cancel
click 290 341 # Cancel
click 39 39 2 # Options
click 231 141 # Server polling
snap "$out/options-dialog.png"
stop
