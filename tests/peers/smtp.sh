#!/usr/bin/env bash
# Starts an SMTP server (aiosmtpd, Debian's python3-aiosmtpd) in the foreground for the
# probe tests.
#   tests/peers/smtp.sh IP PORT
# The process is replaced by the server, so the caller stops it by the PID it started.
# -n: don't switch to user nobody (CI runs as root; nothing here needs dropping).
set -euo pipefail
ip=$1 port=$2
# Debian's interpreter, where python3-aiosmtpd is installed (a pyenv `python3` lacks it).
exec /usr/bin/python3 -m aiosmtpd -n -l "$ip:$port"
