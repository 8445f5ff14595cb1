#!/usr/bin/env bash
# Benchmarks Standby's built-in DNS server against Knot and BIND serving the same zone on
# this machine (issue 15, item 6), with dnsperf, runs interleaved S K B F S K B F ... (F:
# Standby again, every query carrying an EDNS option, so that it takes the full path).
#
#   scripts/bench-dnsserve.sh [ROUNDS] [SECONDS] [LATENCY_QPS]
#
# ROUNDS (default 3) rounds of one throughput run (SECONDS, default 10, as fast as dnsperf
# can) per server; then the same rounds of a latency run at a fixed LATENCY_QPS (default
# 20000) with every reply's latency (-v) for p50/p99. Each run records the server's CPU
# time (utime+stime from /proc) and the 1-minute load average before it. Prints one line
# per run and the medians as Markdown. Needs dnsperf, knotd, named, dig, python3, and the
# release binary (STANDBY=path, default $CARGO_TARGET_DIR/release/standby).
#
# Everything listens on 127.0.0.1 (ports 5391-5393) and nothing leaves the machine; run it
# in a network namespace of its own to be sure no other test holds the ports:
#   unshare --net bash -c 'ip link set lo up && scripts/bench-dnsserve.sh'
# Every server gets 2 UDP threads (the machine has 2 cores; dnsperf takes 1 thread).
set -euo pipefail

rounds=${1:-3}
secs=${2:-10}
latency_qps=${3:-20000}
standby=${STANDBY:-${CARGO_TARGET_DIR:-target}/release/standby}
threads=2
names=10
dir=$(mktemp -d /tmp/bench-dnsserve.XXXXXX)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT

zone=failover.bench.test
declare -A port=([standby]=5391 [knot]=5392 [bind]=5393)

# The zone: SOA, NS with glue, www0..www9 each with one address; the query file asks A.
{
    echo "\$TTL 60"
    echo "@ 3600 IN SOA ns1.$zone. hostmaster.$zone. 1 3600 600 604800 60"
    echo "@ 3600 IN NS ns1.$zone."
    echo "ns1 3600 IN A 127.0.0.1"
    for i in $(seq 0 $((names - 1))); do echo "www$i 60 IN A 192.0.2.$((10 + i))"; done
} >"$dir/zone.db"
for i in $(seq 0 $((names - 1))); do echo "www$i.$zone A"; done >"$dir/queries"

# Standby: the same zone, a set per name whose one server is polled by running `true`
# (its public address is only served, never contacted).
{
    echo "(options: (dns_serving: (enabled: true, listen_address: \"127.0.0.1\", port: ${port[standby]},"
    echo "  udp_workers: $threads, zones: [(name: \"$zone\", primary: \"ns1.$zone\","
    echo "  contact: \"hostmaster@$zone\", minimum_secs: 60, ttl: 3600,"
    echo "  name_servers: [(name: \"ns1.$zone\", addresses: [\"127.0.0.1\"])])])),"
    echo " server_sets: ["
    for i in $(seq 0 $((names - 1))); do
        echo "  (name: \"s$i\", servers: [(public_ip: \"192.0.2.$((10 + i))\", poll_ip: \"127.0.0.1\")],"
        echo "   polling: Command(program: \"true\"), dns: (host_names: [\"www$i.$zone\"], ttl: 60)),"
    done
    echo "])"
} >"$dir/standby.ron"

mkdir -p "$dir/knot"
cat >"$dir/knot.conf" <<CONF
server:
    rundir: "$dir/knot"
    listen: 127.0.0.1@${port[knot]}
    udp-workers: $threads
    tcp-workers: 1
    background-workers: 1
log:
  - target: stderr
    any: warning
database:
    storage: "$dir/knot"
zone:
  - domain: $zone
    storage: "$dir"
    file: "zone.db"
CONF

# minimal-responses: like Standby and Knot, no NS in the authority section of answers.
cat >"$dir/named.conf" <<CONF
options { directory "$dir"; pid-file "$dir/named.pid"; listen-on port ${port[bind]} { 127.0.0.1; };
          listen-on-v6 { none; }; recursion no; minimal-responses yes; dnssec-validation no; };
controls { };
zone "$zone" { type primary; file "$dir/zone.db"; };
CONF

"$standby" --headless --config "$dir/standby.ron" >"$dir/standby.log" 2>&1 &
spid=$!
pids+=("$spid")
knotd -c "$dir/knot.conf" >"$dir/knot.log" 2>&1 &
kpid=$!
pids+=("$kpid")
named -g -n "$threads" -U "$threads" -c "$dir/named.conf" >"$dir/named.log" 2>&1 &
bpid=$!
pids+=("$bpid")
# standby-full: the same server, asked with an EDNS option (65001) in every query, which
# the fast path leaves to the full path (parse, answer, encode per query).
declare -A pid=([standby]=$spid [standby-full]=$spid [knot]=$kpid [bind]=$bpid)
port[standby-full]=${port[standby]}
declare -A extra=([standby]="" [standby-full]="-E 65001:00" [knot]="" [bind]="")

for server in standby knot bind; do
    ok=
    for _ in $(seq 100); do
        if dig +short +time=1 +tries=1 @127.0.0.1 -p "${port[$server]}" "www0.$zone" A | grep -q 192.0.2.10; then
            ok=1
            break
        fi
        sleep 0.2
    done
    if [ -z "$ok" ]; then
        echo "$server does not answer www0.$zone" >&2
        cat "$dir"/*.log >&2
        exit 1
    fi
done

ticks=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# One run: prints "server kind load qps lost cpu_cores p50_ms p99_ms".
run() {
    local server=$1 kind=$2 load before after out qps lost cores p50=- p99=-
    load=$(cut -d' ' -f1 /proc/loadavg)
    before=$(cpu_ticks "${pid[$server]}")
    if [ "$kind" = throughput ]; then
        # shellcheck disable=SC2086
        out=$(dnsperf -s 127.0.0.1 -p "${port[$server]}" -d "$dir/queries" -l "$secs" -c 10 -T 1 -q 200 \
            ${extra[$server]} 2>&1)
    else
        # shellcheck disable=SC2086
        dnsperf -s 127.0.0.1 -p "${port[$server]}" -d "$dir/queries" -l "$secs" -c 10 -T 1 -q 200 \
            -Q "$latency_qps" -v ${extra[$server]} >"$dir/verbose" 2>&1
        out=$(cat "$dir/verbose")
        read -r p50 p99 < <(python3 - "$dir/verbose" <<'PY'
import sys
lat = sorted(float(l.split()[-1]) for l in open(sys.argv[1]) if l.startswith("> "))
pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000
print(f"{pick(0.5):.3f} {pick(0.99):.3f}" if lat else "- -")
PY
        )
    fi
    after=$(cpu_ticks "${pid[$server]}")
    qps=$(awk '/Queries per second:/ {print $4}' <<<"$out")
    lost=$(awk '/Queries lost:/ {print $3}' <<<"$out")
    cores=$(awk -v t=$((after - before)) -v hz="$ticks" -v s="$secs" 'BEGIN {printf "%.3f", t / hz / s}')
    echo "$server $kind $load $qps $lost $cores $p50 $p99"
}

results="$dir/results"
: >"$results"
for kind in throughput latency; do
    for round in $(seq "$rounds"); do
        for server in standby knot bind standby-full; do
            line=$(run "$server" "$kind")
            echo "round $round: $line"
            echo "$line" >>"$results"
        done
    done
done

python3 - "$results" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
med = lambda xs: statistics.median(xs) if xs else float("nan")
print()
print("| server | q/s (median) | lost | CPU cores | CPU per 100k q/s | p50 ms @fixed rate | p99 ms @fixed rate | load avg (runs) |")
print("|---|---|---|---|---|---|---|---|")
for server in ["standby", "knot", "bind", "standby-full"]:
    t = [r for r in rows if r[0] == server and r[1] == "throughput"]
    l = [r for r in rows if r[0] == server and r[1] == "latency"]
    qps = med([float(r[3]) for r in t])
    cores = med([float(r[5]) for r in t])
    per100k = med([float(r[5]) / float(r[3]) * 100000 for r in t if float(r[3]) > 0])
    lost = sum(int(r[4]) for r in t)
    p50 = med([float(r[6]) for r in l if r[6] != "-"])
    p99 = med([float(r[7]) for r in l if r[7] != "-"])
    loads = ", ".join(r[2] for r in t + l)
    print(f"| {server} | {qps:,.0f} | {lost} | {cores:.2f} | {per100k:.2f} | {p50:.3f} | {p99:.3f} | {loads} |")
PY
