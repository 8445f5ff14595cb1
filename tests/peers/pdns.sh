#!/usr/bin/env bash
# Runs a PowerDNS Authoritative server (sqlite backend, HTTP API on) in the foreground.
#
#   pdns.sh [--dnsupdate] DIR ADDR DNS_PORT API_PORT API_KEY
#
# --dnsupdate  also takes RFC 2136 updates, as README's guide sets it up: `dnsupdate=yes`,
#          `allow-dnsupdate-from=127.0.0.0/8`, and a TSIG key standby-key (hmac-sha256)
#          imported with pdnsutil and required by the zone's TSIG-ALLOW-DNSUPDATE; the
#          first run writes it to DIR/keys.txt as "ALGORITHM KEY-NAME BASE64-SECRET".
# DIR      a directory of its own (created): database, pdns.conf, control socket.
# ADDR     a 127.0.0.x address (pdns binds any loopback address directly).
# DNS_PORT the DNS port (UDP and TCP); API_PORT the web server with the API on ADDR.
# API_KEY  the key the API wants in X-API-Key.
#
# The first run makes the zone example.test (SOA, NS ns1 = ADDR, www A 192.0.2.10) with
# pdnsutil; a later run in the same DIR keeps the data. The script execs pdns_server, so
# its PID is the server's: kill it to stop.
set -euo pipefail

dnsupdate=""
if [ "${1:-}" = --dnsupdate ]; then
    dnsupdate=yes
    shift
fi
if [ $# -ne 5 ]; then
    echo "usage: $0 [--dnsupdate] DIR ADDR DNS_PORT API_PORT API_KEY" >&2
    exit 2
fi
dir=$(realpath -m "$1")
addr=$2
dns_port=$3
api_port=$4
key=$5
mkdir -p "$dir"

cat >"$dir/pdns.conf" <<CONF
launch=gsqlite3
gsqlite3-database=$dir/pdns.db
local-address=$addr
local-port=$dns_port
api=yes
api-key=$key
webserver=yes
webserver-address=$addr
webserver-port=$api_port
webserver-allow-from=127.0.0.0/8
socket-dir=$dir
# No security-status poll: it asks secpoll.powerdns.com through the system resolver, a
# packet off this machine (tests never leave it).
security-poll-suffix=
# Answers straight from the database: a test reads right after an update.
cache-ttl=0
negquery-cache-ttl=0
query-cache-ttl=0
zone-cache-refresh-interval=0
CONF
if [ -n "$dnsupdate" ]; then
    printf 'dnsupdate=yes\nallow-dnsupdate-from=127.0.0.0/8\n' >>"$dir/pdns.conf"
fi

if [ ! -f "$dir/pdns.db" ]; then
    sqlite3 "$dir/pdns.db" </usr/share/doc/pdns-backend-sqlite3/schema.sqlite3.sql
    pdnsutil --config-dir="$dir" create-zone example.test ns1.example.test >/dev/null
    pdnsutil --config-dir="$dir" add-record example.test ns1 A 60 "$addr" >/dev/null
    pdnsutil --config-dir="$dir" add-record example.test www A 60 192.0.2.10 >/dev/null
    if [ -n "$dnsupdate" ]; then
        secret=$(head -c 32 /dev/urandom | base64 -w0)
        pdnsutil --config-dir="$dir" import-tsig-key standby-key hmac-sha256 "$secret" >/dev/null
        pdnsutil --config-dir="$dir" set-meta example.test TSIG-ALLOW-DNSUPDATE standby-key >/dev/null
        echo "hmac-sha256 standby-key $secret" >"$dir/keys.txt"
    fi
fi

exec pdns_server --config-dir="$dir" --daemon=no --guardian=no --disable-syslog --write-pid=no
