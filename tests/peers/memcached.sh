#!/usr/bin/env bash
# Starts memcached in the foreground for the Memcached preset (its text protocol).
#   tests/peers/memcached.sh DIR IP PORT
# TCP only (-U 0), 16 MB, as nobody when started by root (memcached refuses root). DIR is
# unused (memcached keeps nothing on disk). The process is replaced by memcached, so the
# caller stops it by the PID it started.
set -euo pipefail
ip=$2 port=$3
user=()
if [ "$(id -u)" -eq 0 ]; then user=(-u nobody); fi
exec memcached -l "$ip" -p "$port" -U 0 -m 16 "${user[@]}"
