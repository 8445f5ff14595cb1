#!/usr/bin/env bash
# A Standby cluster on this machine, on loopback only (issue 13): one etcd member, three
# `standby --headless` instances (berlin, paris, tokyo) and two small web servers for them to
# poll, all on 127.0.0.71-77, in a temporary directory. Prints how to attach a window to each
# instance and how to see the shared settings follow an edit. Ctrl-C stops everything.
#
#   scripts/cluster-demo.sh [--check]
#
# STANDBY  the program (default: target/debug/standby, else `standby` on the PATH).
# --check  start everything, wait until the three instances share the settings, make an
#          edit through berlin's API, wait until paris and tokyo show it, then stop (exit 0
#          when it worked): what CI or a reviewer runs.
#
# Needs etcd (Debian's etcd-server), curl and python3. Nothing listens beyond 127.0.0.0/8.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
check=false
[ "${1:-}" = "--check" ] && check=true

standby=${STANDBY:-}
if [ -z "$standby" ]; then
    if [ -x "$here/target/debug/standby" ]; then
        standby="$here/target/debug/standby"
    elif [ -n "${CARGO_TARGET_DIR:-}" ] && [ -x "$CARGO_TARGET_DIR/debug/standby" ]; then
        standby="$CARGO_TARGET_DIR/debug/standby"
    else
        standby=$(command -v standby || true)
    fi
fi
if [ -z "$standby" ] || [ ! -x "$standby" ]; then
    echo "no standby program: build it (cargo build) or set STANDBY=/path/to/standby" >&2
    exit 2
fi
for tool in etcd curl python3; do
    command -v "$tool" >/dev/null || { echo "$tool is missing (scripts/install-deps.sh)" >&2; exit 2; }
done

dir=$(mktemp -d /tmp/standby-cluster-demo.XXXXXX)
pids=()
stop() {
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$dir"
}
trap stop EXIT
trap 'exit 130' INT TERM

etcd_addr=127.0.0.71
etcd_url="http://$etcd_addr:2379"
names=(berlin paris tokyo)
apis=(127.0.0.72:8100 127.0.0.73:8100 127.0.0.74:8100)
webs=(127.0.0.76 127.0.0.77)

# The web servers the set polls, each serving a directory of its own. Not `python3 -m
# http.server`: its HTTPServer looks its own name up (getfqdn), a DNS query off loopback.
for ip in "${webs[@]}"; do
    mkdir -p "$dir/web-$ip"
    echo "OK from $ip" > "$dir/web-$ip/index.html"
    python3 -c '
import functools, http.server, socketserver, sys
socketserver.ThreadingTCPServer.allow_reuse_address = True
handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[2])
socketserver.ThreadingTCPServer((sys.argv[1], 8080), handler).serve_forever()
' "$ip" "$dir/web-$ip" >"$dir/web-$ip.log" 2>&1 &
    pids+=($!)
done

bash "$here/tests/peers/etcd.sh" "$dir/etcd" e1 "$etcd_addr" 2379 2380 >"$dir/etcd.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
    curl -sf "$etcd_url/health" >/dev/null && break
    sleep 0.1
done
curl -sf "$etcd_url/health" >/dev/null || { echo "etcd did not start: $dir/etcd.log" >&2; exit 1; }

# Each instance's settings: the same cluster section but its own name and API; only berlin
# has the server set (it publishes it into the empty cluster, the others take it).
settings() {
    local name=$1 api=$2 sets=$3
    cat <<EOF
(
    options: (
        http_api: (enabled: true, listen: "$api"),
    ),
    server_sets: [$sets],
    cluster: (
        endpoints: ["$etcd_url"],
        name: "demo",
        instance: "$name",
        quorum: Majority,
        lease_secs: 5,
    ),
)
EOF
}
web_set='
        (
            name: "web",
            servers: [(public_ip: "127.0.0.76"), (public_ip: "127.0.0.77")],
            polling: Http(url: "http://www.demo.test:8080/"),
            frequency: (interval: "5s", failed_interval: "2s", retries: 1, retry_interval: "1s"),
            dns: (host_names: ["www.demo.test"]),
        ),
    '

for i in 0 1 2; do
    name=${names[$i]}
    mkdir -p "$dir/$name"
    sets=""
    [ "$i" -eq 0 ] && sets=$web_set
    settings "$name" "${apis[$i]}" "$sets" > "$dir/$name/standby.ron"
    "$standby" check-config "$dir/$name/standby.ron" >/dev/null
    "$standby" --headless --config "$dir/$name/standby.ron" >"$dir/$name/engine.log" 2>&1 &
    pids+=($!)
    # berlin first, so that its sets are the cluster's.
    for _ in $(seq 100); do
        curl -sf "http://${apis[$i]}/serversets" >/dev/null && break
        sleep 0.1
    done
    if [ "$i" -eq 0 ]; then
        for _ in $(seq 100); do
            ETCDCTL_API=3 etcdctl --endpoints "$etcd_url" get --keys-only /standby/demo/settings \
                | grep -q settings && break
            sleep 0.1
        done
    fi
done

# The three share the set.
sets_of() { curl -sf "http://$1/serversets" || true; }
for i in 0 1 2; do
    for _ in $(seq 100); do
        sets_of "${apis[$i]}" | grep -q '"name":"web"' && break
        sleep 0.1
    done
    sets_of "${apis[$i]}" | grep -q '"name":"web"' \
        || { echo "${names[$i]} did not take the cluster's settings: $dir/${names[$i]}/engine.log" >&2; exit 1; }
done

if $check; then
    # Each instance polls the web servers itself.
    for i in 0 1 2; do
        for _ in $(seq 150); do
            curl -sf "http://${apis[$i]}/serversets/web/status" | grep -q '"successes":[1-9]' && break
            sleep 0.1
        done
        curl -sf "http://${apis[$i]}/serversets/web/status" | grep -q '"successes":[1-9]' \
            || { echo "${names[$i]} has not polled the web servers" >&2; exit 1; }
    done
    # An edit through berlin's API reaches paris and tokyo.
    set_json=$(curl -sf "http://${apis[0]}/serversets/web/config")
    set_json=${set_json/\"name\":\"web\"/\"name\":\"web2\"}
    set_json=${set_json//www.demo.test/www2.demo.test}
    curl -sS --fail-with-body -X POST -H 'Content-Type: application/json' \
        --data "$set_json" "http://${apis[0]}/serversets" >/dev/null
    for i in 1 2; do
        for _ in $(seq 100); do
            sets_of "${apis[$i]}" | grep -q '"name":"web2"' && break
            sleep 0.1
        done
        sets_of "${apis[$i]}" | grep -q '"name":"web2"' \
            || { echo "the edit did not reach ${names[$i]}" >&2; exit 1; }
    done
    echo "cluster-demo: berlin, paris and tokyo poll the web servers and share the settings; an edit on berlin reached the others"
    exit 0
fi

cat <<EOF

A Standby cluster runs on loopback, files in $dir:
  etcd     $etcd_url              (etcd.log)
  web      http://127.0.0.76:8080/ and http://127.0.0.77:8080/  (the set "web" polls them)
EOF
for i in 0 1 2; do
    printf '  %-8s API http://%s/   settings %s\n' "${names[$i]}" "${apis[$i]}" "$dir/${names[$i]}/standby.ron"
done
cat <<EOF

Attach a window to an instance (over its local socket, beside its settings file):
EOF
for i in 0 1 2; do
    echo "  $standby --config $dir/${names[$i]}/standby.ron"
done
cat <<EOF

See the cluster and the shared settings:
  curl -s http://${apis[1]}/cluster
  ETCDCTL_API=3 etcdctl --endpoints $etcd_url get /standby/demo/settings --print-value-only
Edit in one window (or API) and watch the others follow:
  curl -s http://${apis[2]}/serversets
Stop a web server and each instance sees it fail:  kill ${pids[0]}   (127.0.0.76)

Ctrl-C stops everything and removes $dir.
EOF
wait
