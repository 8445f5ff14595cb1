#!/usr/bin/env bash
# Starts redis-server in the foreground for the TCP send/expect tests.
#   tests/peers/redis.sh DIR IP PORT [PASSWORD]
# No persistence (no RDB snapshots, no AOF), no unix socket, working dir DIR; with a
# PASSWORD every command but AUTH answers -NOAUTH. The process is replaced by redis-server,
# so the caller stops it by the PID it started.
set -euo pipefail
dir=$1 ip=$2 port=$3 password=${4:-}
args=(--bind "$ip" --port "$port" --dir "$dir" --save "" --appendonly no
      --daemonize no --protected-mode no --logfile "" --loglevel warning)
if [ -n "$password" ]; then args+=(--requirepass "$password"); fi
exec redis-server "${args[@]}"
