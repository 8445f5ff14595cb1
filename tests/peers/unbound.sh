#!/usr/bin/env bash
# Runs unbound in the foreground as a resolver on loopback that never leaves the machine:
# no root hints are used (every name it can resolve comes from DIR/extra.conf: stub zones
# pointing at a test's server, or local data), no DNSSEC trust anchor (unless
# --trust-anchor), no remote control.
#
#   unbound.sh [--trust-anchor FILE] DIR ADDR PORT
#
# --trust-anchor  validate (module-config "validator iterator") with the DNSKEY or DS
#       records in FILE as the only trust anchor (e.g. a test zone's key); answers that
#       validate get the AD flag, others SERVFAIL.
# DIR   a directory of its own (created). A test may write DIR/extra.conf (included inside
#       the server: clause: local-data, and a `local-zone: "ZONE." transparent` for each
#       zone it resolves) and DIR/zones.conf (stub-zone: clauses) before the start.
#       It always answers the TXT of ready.test. (for a readiness check).
# ADDR  a 127.0.0.x address, PORT an unprivileged port, UDP and TCP.
#
# The script execs unbound, so its PID is unbound's: kill it to stop.
set -euo pipefail

modules="iterator"
anchor=""
if [ "${1:-}" = --trust-anchor ]; then
    modules="validator iterator"
    anchor="trust-anchor-file: \"$(realpath -m "$2")\""
    shift 2
fi
if [ $# -ne 3 ]; then
    echo "usage: $0 [--trust-anchor FILE] DIR ADDR PORT" >&2
    exit 2
fi
dir=$(realpath -m "$1")
addr=$2
port=$3
mkdir -p "$dir"
touch "$dir/extra.conf" "$dir/zones.conf"

cat >"$dir/unbound.conf" <<CONF
server:
    directory: "$dir"
    chroot: ""
    username: ""
    pidfile: "$dir/unbound.pid"
    use-syslog: no
    logfile: ""
    verbosity: 1
    interface: $addr@$port
    port: $port
    do-ip6: no
    access-control: 127.0.0.0/8 allow
    # Tests point it at servers on loopback.
    do-not-query-localhost: no
    # The iterator alone unless --trust-anchor: then the validator with that anchor only
    # (no root key, nothing fetched).
    module-config: "$modules"
    $anchor
    # Only what the test configures is resolvable: everything else fails at once.
    local-zone: "." refuse
    local-zone: "ready.test." static
    local-data: "ready.test. 60 IN TXT ok"
    include: "$dir/extra.conf"
remote-control:
    control-enable: no
include: "$dir/zones.conf"
# Anything else would go to the root servers: send it to a closed port on loopback.
forward-zone:
    name: "."
    forward-addr: 127.0.0.1@9
CONF

exec unbound -d -c "$dir/unbound.conf"
