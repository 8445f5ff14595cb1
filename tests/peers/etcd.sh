#!/usr/bin/env bash
# Runs one etcd member in the foreground on loopback (Debian's etcd-server, 3.4), its data in
# a directory of its own. The v3 JSON gateway answers at http://ADDR:CLIENT_PORT/v3/...
#
#   etcd.sh DIR NAME ADDR CLIENT_PORT PEER_PORT [INITIAL_CLUSTER]
#
# DIR              a directory of its own (created); data in DIR/data.
# NAME             the member's name (e1).
# ADDR             a 127.0.0.x address; CLIENT_PORT and PEER_PORT free ports on it.
# INITIAL_CLUSTER  for a cluster of several members: name=http://addr:peer_port,...
#                  (default: this member alone).
#
# Every member of a cluster must have the same --initial-cluster-token: it is fixed here
# (clusters of different tests differ by their peer URLs, which make the cluster's ID).
#
# The script execs etcd, so its PID is etcd's: kill it to stop.
set -euo pipefail

if [ $# -lt 5 ] || [ $# -gt 6 ]; then
    echo "usage: $0 DIR NAME ADDR CLIENT_PORT PEER_PORT [INITIAL_CLUSTER]" >&2
    exit 2
fi
dir=$(realpath -m "$1")
name=$2
addr=$3
client="http://$addr:$4"
peer="http://$addr:$5"
initial=${6:-$name=$peer}
mkdir -p "$dir"

exec etcd --name "$name" --data-dir "$dir/data" \
    --listen-client-urls "$client" --advertise-client-urls "$client" \
    --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" \
    --initial-cluster "$initial" --initial-cluster-state new \
    --initial-cluster-token standby-test \
    --log-outputs stderr
