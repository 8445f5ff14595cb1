#!/usr/bin/env bash
# moto's server mode, a Route 53 emulator (PyPI moto[server]), in a venv of its own.
#
#   moto.sh --install      make the venv if it is missing (scripts/install-deps.sh runs this)
#   moto.sh ADDR PORT      run the server in the foreground on ADDR:PORT (127.0.0.x)
#
# The venv lives in $STANDBY_MOTO_VENV (default ~/.cache/standby/moto-venv): Debian's pip
# refuses system installs. moto routes a request by its SigV4 credential scope, so clients
# must sign as service route53, region us-east-1 (any key and secret). The script execs
# moto_server, so its PID is the server's: kill it to stop.
set -euo pipefail

venv=${STANDBY_MOTO_VENV:-$HOME/.cache/standby/moto-venv}

install() {
    if [ -x "$venv/bin/moto_server" ]; then
        return
    fi
    mkdir -p "$(dirname "$venv")"
    /usr/bin/python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "moto[server]"
}

if [ "${1:-}" = "--install" ]; then
    install
    exit 0
fi
if [ $# -ne 2 ]; then
    echo "usage: $0 --install | ADDR PORT" >&2
    exit 2
fi
install
# Python's http.server names itself by socket.getfqdn(ADDR), a reverse lookup of 127.0.0.x
# through the system resolver: a packet that would leave the machine (RELIABILITY.md). The
# server needs no name, so it is started with getfqdn answering the address itself.
exec "$venv/bin/python" -c '
import socket, sys
socket.getfqdn = lambda name="": name
from moto.server import main
sys.argv = ["moto_server", "-H", sys.argv[1], "-p", sys.argv[2]]
main()
' "$1" "$2"
