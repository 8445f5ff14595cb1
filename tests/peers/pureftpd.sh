#!/usr/bin/env bash
# Starts Pure-FTPd in the foreground for the probe tests.
#   tests/peers/pureftpd.sh DIR IP PORT
# DIR is an empty temp dir that receives the virtual-user database, a self-signed
# certificate for ftp.example.test (explicit FTPS, AUTH TLS) and the user's home; the
# process is replaced by pure-ftpd, so the caller stops it by the PID it started.
# Virtual user `standby`, password `secret`, mapped to nobody (pure-ftpd starts as root,
# as CI does, and drops to that user per session).
set -euo pipefail
dir=$1 ip=$2 port=$3
mkdir -p "$dir/home"
chown nobody:nogroup "$dir/home"
printf 'secret\nsecret\n' | pure-pw useradd standby -u nobody -g nogroup -d "$dir/home" \
    -f "$dir/passwd" >/dev/null
pure-pw mkdb "$dir/pureftpd.pdb" -f "$dir/passwd"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$dir/key.pem" -out "$dir/cert.pem" \
    -subj /CN=ftp.example.test -addext subjectAltName=DNS:ftp.example.test -days 30 \
    2>/dev/null
# -E: no anonymous logins; -A: chroot every user; -H: no reverse DNS; -Y 1: plain and TLS.
exec pure-ftpd -S "$ip,$port" -l "puredb:$dir/pureftpd.pdb" -Y 1 \
    -2 "$dir/cert.pem,$dir/key.pem" -p 40000:40999 -E -A -H
