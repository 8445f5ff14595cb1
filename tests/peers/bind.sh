#!/usr/bin/env bash
# Runs BIND 9 (named) in the foreground as the primary of the dynamic zone example.test,
# or as a secondary of any zone.
#
#   bind.sh [--dnssec] [--ns NAME[=ADDR]]... DIR ADDR PORT [NOTIFY_ADDR NOTIFY_PORT]
#   bind.sh DIR ADDR PORT secondary ZONE PRIMARY_ADDR PRIMARY_PORT [ALGORITHM KEY-NAME SECRET]
#
# --dnssec signs the zone: `dnssec-policy default` with inline signing (updates go to the
#          unsigned zone, named serves it signed), keys made in DIR at the first start.
# --ns     an NS record of the zone (NAME relative to it or absolute with a final dot),
#          with an A record NAME -> ADDR when ADDR is given; given at least once, these
#          replace the secondary's ns2 record below.
# DIR      a directory of its own (created); named keeps its zone, journal and log there.
# ADDR     a 127.0.0.x address an interface carries (named binds only those: 127.0.0.1).
# PORT     an unprivileged port, UDP and TCP.
# NOTIFY_* a secondary to NOTIFY after each change (it may transfer from 127.0.0.0/8); it
#          is also listed as the zone's second name server, ns2.
# secondary: transfers ZONE from PRIMARY (IXFR when it has a copy, else AXFR), takes its
#          NOTIFYs, and with a key signs its queries and wants signed answers.
#
# The first run writes DIR/keys.txt, one "ALGORITHM KEY-NAME BASE64-SECRET" line per TSIG key
# (one key per algorithm; each may update any name of the zone, nothing is allowed without
# a key), and the zone file. A later run in the same DIR keeps them (a restart keeps the
# data). The script execs named, so its PID is named's: kill it to stop.
set -euo pipefail
# shellcheck source=tsig_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/tsig_common.sh"

extra_ns=()
dnssec=""
while [ $# -gt 0 ]; do
    case $1 in
        --dnssec) dnssec=yes; shift ;;
        --ns) extra_ns+=("$2"); shift 2 ;;
        *) break ;;
    esac
done
if [ $# -ne 3 ] && [ $# -ne 5 ] && [ $# -ne 7 ] && [ $# -ne 10 ]; then
    echo "usage: $0 [--dnssec] [--ns NAME[=ADDR]]... DIR ADDR PORT [NOTIFY_ADDR NOTIFY_PORT]" >&2
    echo "       $0 DIR ADDR PORT secondary ZONE PRIMARY_ADDR PRIMARY_PORT [ALGORITHM KEY-NAME SECRET]" >&2
    exit 2
fi
dir=$(realpath -m "$1")
addr=$2
port=$3

if [ "${4:-}" = secondary ]; then
    zone=$5
    key="" key_clause=""
    if [ $# -eq 10 ]; then
        key="key \"$9\" { algorithm $8; secret \"${10}\"; };"
        key_clause="key \"$9\""
    fi
    mkdir -p "$dir"
    cat >"$dir/named.conf" <<CONF
$key
options {
    directory "$dir";
    pid-file "$dir/named.pid";
    session-keyfile "$dir/session.key";
    managed-keys-directory "$dir";
    listen-on port $port { $addr; };
    listen-on-v6 { none; };
    recursion no;
    allow-query { any; };
    dnssec-validation no;
    notify no;
};
controls { };
zone "$zone" {
    type secondary;
    primaries port $7 { $6 $key_clause; };
    file "$dir/$zone.db";
    // A failed transfer is tried again soon (the tests wait for the copy, bounded).
    min-retry-time 1;
    max-retry-time 2;
};
CONF
    exec named -g -4 -c "$dir/named.conf"
fi
notify_addr=${4:-}
notify_port=${5:-}
mkdir -p "$dir"

if [ ! -f "$dir/named.conf" ]; then
    : >"$dir/keys.conf"
    grants=""
    add_key() {
        printf 'key "%s" { algorithm %s; secret "%s"; };\n' "$2" "$1" "$3" >>"$dir/keys.conf"
        grants="$grants grant $2 zonesub ANY;"
    }
    make_tsig_keys "$dir/keys.txt" add_key
    write_zone "$dir/example.test.db" "$addr"
    if [ ${#extra_ns[@]} -gt 0 ]; then
        for ns in "${extra_ns[@]}"; do
            printf '@       IN NS   %s\n' "${ns%%=*}" >>"$dir/example.test.db"
            case $ns in
                *=*) printf '%s IN A %s\n' "${ns%%=*}" "${ns#*=}" >>"$dir/example.test.db" ;;
            esac
        done
    elif [ -n "$notify_addr" ]; then
        # The secondary is the zone's second name server, so a propagation check that asks
        # every NS finds both.
        printf '@       IN NS   ns2\nns2     IN A    %s\n' "$notify_addr" >>"$dir/example.test.db"
    fi

    signing=""
    if [ -n "$dnssec" ]; then
        signing="key-directory \"$dir\"; dnssec-policy default; inline-signing yes;"
    fi
    notify="notify no;"
    if [ -n "$notify_addr" ]; then
        notify="notify explicit; also-notify { $notify_addr port $notify_port; };"
    fi
    cat >"$dir/named.conf" <<CONF
include "$dir/keys.conf";
options {
    directory "$dir";
    pid-file "$dir/named.pid";
    session-keyfile "$dir/session.key";
    managed-keys-directory "$dir";
    listen-on port $port { $addr; };
    listen-on-v6 { none; };
    recursion no;
    allow-query { any; };
    allow-transfer { 127.0.0.0/8; };
    dnssec-validation no;
    notify-delay 0;
};
controls { };
zone "example.test" {
    type primary;
    file "$dir/example.test.db";
    $notify
    $signing
    update-policy { $grants };
};
CONF
fi

# -g: foreground, log to stderr; -4: IPv4 only (the peers live on 127.0.0.0/8).
exec named -g -4 -c "$dir/named.conf"
