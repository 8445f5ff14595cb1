#!/usr/bin/env bash
# Runs Knot DNS (knotd) in the foreground for the zone example.test, as a primary that takes
# dynamic updates, or as a secondary of another server.
#
#   knot.sh [--dnssec] DIR ADDR PORT               primary
#   knot.sh DIR ADDR PORT PRIMARY_ADDR PRIMARY_PORT secondary (AXFR/IXFR, NOTIFY accepted)
#   knot.sh DIR ADDR PORT PRIMARY_ADDR PRIMARY_PORT ZONE [ALGORITHM KEY-NAME SECRET]
#           secondary of ZONE; with a key it signs all it asks the primary and wants
#           signed answers
#
# --dnssec  the primary signs the zone automatically (`dnssec-signing: on`, the default
#           policy: keys made in DIR/db at the first start, each update signed at once).
# DIR   a directory of its own (created): configuration, zone, journal, control socket, log.
# ADDR  any 127.0.0.x address (knotd binds it without an interface carrying it).
# PORT  an unprivileged port, UDP and TCP.
#
# A primary's first run writes DIR/keys.txt, one "ALGORITHM KEY-NAME BASE64-SECRET" line per
# TSIG key (one per algorithm Knot supports: all six; each may update the zone, nothing is
# allowed without a key), and the zone file. A later run in the same DIR keeps them. The
# script execs knotd, so its PID is knotd's: kill it to stop.
set -euo pipefail
# shellcheck source=tsig_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/tsig_common.sh"

signing=""
if [ "${1:-}" = --dnssec ]; then
    signing="    dnssec-signing: on"
    shift
fi
if [ $# -ne 3 ] && [ $# -ne 5 ] && [ $# -ne 6 ] && [ $# -ne 9 ]; then
    echo "usage: $0 [--dnssec] DIR ADDR PORT [PRIMARY_ADDR PRIMARY_PORT [ZONE [ALGORITHM KEY-NAME SECRET]]]" >&2
    exit 2
fi
zone=${6:-example.test}
key_section="" key_ref=""
if [ $# -eq 9 ]; then
    key_section="key:
  - id: $8
    algorithm: $7
    secret: $9
"
    key_ref="    key: $8"
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
        keys=""
        ids=""
        add_key() {
            keys="$keys  - id: $2
    algorithm: $1
    secret: $3
"
            ids="$ids${ids:+, }$2"
        }
        make_tsig_keys "$dir/keys.txt" add_key
        write_zone "$dir/example.test.zone" "$addr"
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
$signing
CONF
    else
        cat >"$dir/knot.conf" <<CONF
$common
$key_section
remote:
  - id: primary
    address: $primary_addr@$primary_port
$key_ref

acl:
  - id: notify-from-loopback
    address: 127.0.0.0/8
    action: notify
$key_ref

zone:
  - domain: $zone
    file: "$dir/$zone.zone"
    master: primary
    acl: notify-from-loopback
CONF
    fi
fi

exec knotd -c "$dir/knot.conf"
