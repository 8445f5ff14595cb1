#!/usr/bin/env bash
# Runs a command inside the network namespace it was started in (scripts/test-all.sh starts
# it with `unshare --net`): brings loopback up — the only interface there — runs the
# command, then fails if anything tried to send a packet off this machine. Such a packet
# cannot leave (there is no route: it fails at once with ENETUNREACH), and the kernel counts
# it (`OutNoRoutes` in /proc/net/snmp, `Ip6OutNoRoutes` in /proc/net/snmp6, both per
# namespace), so a test that tolerates the failure is still caught.
#
#   unshare --net bash scripts/loopback-only.sh cargo test --offline --all-targets
set -uo pipefail

ip link set lo up || exit 1
no_routes() {
    local v4 v6
    v4=$(awk '/^Ip: [0-9]/ { print $13 }' /proc/net/snmp)
    v6=$(awk '$1 == "Ip6OutNoRoutes" { print $2 }' /proc/net/snmp6 2>/dev/null)
    echo $((v4 + ${v6:-0}))
}
before=$(no_routes)
"$@"
status=$?
tried=$(($(no_routes) - before))
if [ "$tried" -ne 0 ]; then
    cat >&2 <<WARN
############################################################################
# $tried packet(s) tried to leave this machine during the tests (no route in
# their loopback-only namespace). Tests send only to 127.0.0.0/8 and ::1:
# find the test (RELIABILITY.md, "Tests never leave the machine").
############################################################################
WARN
    exit 1
fi
exit "$status"
