#!/usr/bin/env bash
# Runs a PowerDNS Authoritative server (sqlite backend, HTTP API on) in the foreground.
#
#   pdns.sh DIR ADDR DNS_PORT API_PORT API_KEY
#
# DIR      a directory of its own (created): database, pdns.conf, control socket.
# ADDR     a 127.0.0.x address (pdns binds any loopback address directly).
# DNS_PORT the DNS port (UDP and TCP); API_PORT the web server with the API on ADDR.
# API_KEY  the key the API wants in X-API-Key.
#
# The first run makes the zone example.test (SOA, NS ns1 = ADDR, www A 192.0.2.10) with
# pdnsutil; a later run in the same DIR keeps the data. The script execs pdns_server, so
# its PID is the server's: kill it to stop.
set -euo pipefail

if [ $# -ne 5 ]; then
    echo "usage: $0 DIR ADDR DNS_PORT API_PORT API_KEY" >&2
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

if [ ! -f "$dir/pdns.db" ]; then
    sqlite3 "$dir/pdns.db" </usr/share/doc/pdns-backend-sqlite3/schema.sqlite3.sql
    pdnsutil --config-dir="$dir" create-zone example.test ns1.example.test >/dev/null
    pdnsutil --config-dir="$dir" add-record example.test ns1 A 60 "$addr" >/dev/null
    pdnsutil --config-dir="$dir" add-record example.test www A 60 192.0.2.10 >/dev/null
fi

exec pdns_server --config-dir="$dir" --daemon=no --guardian=no --disable-syslog --write-pid=no
