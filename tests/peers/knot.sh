#!/usr/bin/env bash
# Runs Knot DNS (knotd) in the foreground for the zone example.test, as a primary that takes
# dynamic updates, or as a secondary of another server.
#
#   knot.sh DIR ADDR PORT                          primary
#   knot.sh DIR ADDR PORT PRIMARY_ADDR PRIMARY_PORT secondary (AXFR/IXFR, NOTIFY accepted)
#
# DIR   a directory of its own (created): configuration, zone, journal, control socket, log.
# ADDR  any 127.0.0.x address (knotd binds it without an interface carrying it).
# PORT  an unprivileged port, UDP and TCP.
#
# A primary's first run writes DIR/keys.txt, one "ALGORITHM KEY-NAME BASE64-SECRET" line per
# TSIG key (one per algorithm Knot supports: all six; each may update the zone, nothing is
# allowed without a key), and the zone file. A later run in the same DIR keeps them. The
# script execs knotd, so its PID is knotd's: kill it to stop.
set -euo pipefail

if [ $# -ne 3 ] && [ $# -ne 5 ]; then
    echo "usage: $0 DIR ADDR PORT [PRIMARY_ADDR PRIMARY_PORT]" >&2
    exit 2
fi
dir=$(realpath -m "$1")
addr=$2
port=$3
primary_addr=${4:-}
primary_port=${5:-}
mkdir -p "$dir/db"

if [ ! -f "$dir/knot.conf" ]; then
    common="server:
    rundir: \"$dir\"
    pidfile: \"$dir/knot.pid\"
    listen: $addr@$port

log:
  - target: stderr
    any: info

database:
    storage: \"$dir/db\"

control:
    listen: \"$dir/knot.sock\"

template:
  - id: default
    storage: \"$dir\"
    # Keep changes in the journal only: the test's zone file stays as written.
    zonefile-sync: -1
    journal-content: all
"
    if [ -z "$primary_addr" ]; then
        : >"$dir/keys.txt"
        keys=""
        ids=""
        for alg in hmac-md5 hmac-sha1 hmac-sha224 hmac-sha256 hmac-sha384 hmac-sha512; do
            case $alg in
                hmac-md5) len=16 ;; hmac-sha1) len=20 ;; hmac-sha224) len=28 ;;
                hmac-sha256) len=32 ;; hmac-sha384) len=48 ;; hmac-sha512) len=64 ;;
            esac
            secret=$(head -c "$len" /dev/urandom | base64 -w0)
            name="key-$alg"
            echo "$alg $name $secret" >>"$dir/keys.txt"
            keys="$keys  - id: $name
    algorithm: $alg
    secret: $secret
"
            ids="$ids${ids:+, }$name"
        done
        cat >"$dir/example.test.zone" <<ZONE
\$TTL 60
@       IN SOA  ns1 hostmaster 1 3600 600 86400 60
        IN NS   ns1
ns1     IN A    $addr
www     IN A    192.0.2.10
www     IN AAAA 2001:db8::10
*.wild  IN A    192.0.2.20
; a child zone served elsewhere (a referral)
sub     IN NS   ns.elsewhere.test.
ZONE
        cat >"$dir/knot.conf" <<CONF
$common
key:
$keys
acl:
  - id: update
    key: [$ids]
    action: update

zone:
  - domain: example.test
    file: "$dir/example.test.zone"
    acl: update
CONF
    else
        cat >"$dir/knot.conf" <<CONF
$common
remote:
  - id: primary
    address: $primary_addr@$primary_port

acl:
  - id: notify-from-loopback
    address: 127.0.0.0/8
    action: notify

zone:
  - domain: example.test
    file: "$dir/example.test.zone"
    master: primary
    acl: notify-from-loopback
CONF
    fi
fi

exec knotd -c "$dir/knot.conf"
