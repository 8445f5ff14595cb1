#!/usr/bin/env bash
# Runs one etcd member in the foreground on loopback (Debian's etcd-server, 3.4), its data in
# a directory of its own. The v3 JSON gateway answers at http://ADDR:CLIENT_PORT/v3/...
#
#   etcd.sh DIR NAME ADDR CLIENT_PORT PEER_PORT [INITIAL_CLUSTER] [-- ETCD_FLAG...]
#
# DIR              a directory of its own (created); data in DIR/data.
# NAME             the member's name (e1).
# ADDR             a 127.0.0.x address; CLIENT_PORT and PEER_PORT free ports on it.
# INITIAL_CLUSTER  for a cluster of several members: name=http://addr:peer_port,...
#                  (default: this member alone; "" for that default before flags).
# ETCD_FLAG        passed to etcd as they are (--cert-file, --client-cert-auth,
#                  --auth-token-ttl...). With --cert-file the client URL is https://.
#
# Every member of a cluster must have the same --initial-cluster-token: it is fixed here
# (clusters of different tests differ by their peer URLs, which make the cluster's ID).
#
# The script execs etcd, so its PID is etcd's: kill it to stop.
set -euo pipefail

usage="usage: $0 DIR NAME ADDR CLIENT_PORT PEER_PORT [INITIAL_CLUSTER] [-- ETCD_FLAG...]"
if [ $# -lt 5 ]; then
    echo "$usage" >&2
    exit 2
fi
dir=$(realpath -m "$1")
name=$2
addr=$3
client_port=$4
peer="http://$addr:$5"
shift 5
initial=
if [ $# -gt 0 ] && [ "$1" != "--" ]; then
    initial=$1
    shift
fi
if [ $# -gt 0 ]; then
    if [ "$1" != "--" ]; then
        echo "$usage" >&2
        exit 2
    fi
    shift
fi
initial=${initial:-$name=$peer}
scheme=http
for flag in "$@"; do
    if [ "$flag" = "--cert-file" ]; then scheme=https; fi
done
client="$scheme://$addr:$client_port"
mkdir -p "$dir"

exec etcd --name "$name" --data-dir "$dir/data" \
    --listen-client-urls "$client" --advertise-client-urls "$client" \
    --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" \
    --initial-cluster "$initial" --initial-cluster-state new \
    --initial-cluster-token standby-test \
    --log-outputs stderr "$@"
