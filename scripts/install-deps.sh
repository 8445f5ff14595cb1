#!/usr/bin/env bash
# Installs the system packages Standby needs to build, run and test on Debian/Ubuntu, and
# the Rust target for the Windows cross-build. Safe to run again: it skips what is there.
set -euo pipefail

packages=(
    # build
    build-essential pkg-config
    # the window (winit + glow load these at run time)
    libx11-6 libxcursor1 libxrandr2 libxi6 libxkbcommon-x11-0 libgl1 libgl1-mesa-dri libegl1
    # the tray tests: a session bus of their own and the tray host they drive
    # (tests/peers/sni_host.py, /usr/bin/python3 with D-Bus and GLib)
    dbus-daemon python3-dbus python3-gi
    # screenshots of the real window under a virtual display
    xvfb xauth imagemagick xdotool
    # the real SMTP server of the notification tests (tests/peers/smtp_sink.py, run by /usr/bin/python3)
    python3 python3-aiosmtpd
    # the Windows cross-build (C code in ring and SQLite needs a mingw compiler), and Wine
    # to run it (scripts/check-windows-pipe.sh: the named pipe for real; `wine` has the
    # commands, `wine64` the 64-bit loader)
    gcc-mingw-w64-x86-64 wine wine64
    # real DNS peers for the RFC 2136 / TSIG tests (tests/peers/bind.sh, knot.sh)
    bind9 bind9-utils bind9-dnsutils knot knot-dnsutils
    # a real resolver for the DNS-serving tests (tests/peers/unbound.sh): an upstream with
    # answers over 4 KiB, and a resolver with a stub zone pointing at Standby; a validating
    # one for the DNSSEC-signed zones (tests/it/dns_dnssec.rs)
    unbound
    # PowerDNS Authoritative with its HTTP API (tests/peers/pdns.sh: sqlite backend)
    pdns-server pdns-backend-sqlite3 sqlite3
    # the venv of moto, the Route 53 emulator (tests/peers/moto.sh)
    python3-venv
    # real peers of the probe tests (tests/peers/): FTP(S), POP3 + IMAP; the network
    # namespace of the ping test; the HTTP ceiling of the methods benchmark
    pure-ftpd openssl dovecot-pop3d dovecot-imapd iproute2 wrk
    # the TCP send/expect presets against real servers (tests/peers/redis.sh, memcached.sh)
    redis-server memcached
    # cluster mode's coordinator (tests/peers/etcd.sh, tests/it/cluster.rs): etcd 3.4 and etcdctl
    etcd-server etcd-client
    # `standby service`: systemd-analyze checks the units (tests/it/service.rs); the .deb
    # of scripts/package.sh: dpkg-deb and dpkg-shlibdeps (tests/it/package.rs installs it)
    systemd dpkg-dev
    # promtool checks /metrics (tests/it/api_metrics.rs runs `promtool check metrics`)
    prometheus
)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    echo "installing: ${missing[*]}"
    $sudo_cmd apt-get update -qq
    # Debian starts packaged daemons on install (named, knotd, pdns_server all want port 53,
    # and one failing to start fails the install); the tests run their own, so none is
    # started: policy-rc.d answers 101 ("not allowed") for the install's duration.
    policy=/usr/sbin/policy-rc.d
    made_policy=""
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' | $sudo_cmd tee "$policy" >/dev/null
        $sudo_cmd chmod +x "$policy"
        made_policy=yes
    fi
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    if [ -n "$made_policy" ]; then $sudo_cmd rm -f "$policy"; fi
fi

if command -v rustup >/dev/null 2>&1; then
    rustup target list --installed | grep -q x86_64-pc-windows-gnu \
        || rustup target add x86_64-pc-windows-gnu \
        || echo "WARNING: could not install the Rust target x86_64-pc-windows-gnu" >&2
fi

# Fuzzing (scripts/fuzz.sh): a nightly toolchain and cargo-fuzz from crates.io. Without
# them the fuzz step of scripts/test-all.sh is skipped with a banner.
if command -v rustup >/dev/null 2>&1; then
    rustup run nightly rustc --version >/dev/null 2>&1 \
        || rustup toolchain install nightly --profile minimal \
        || echo "WARNING: could not install the nightly toolchain (fuzzing)" >&2
    cargo fuzz --version >/dev/null 2>&1 \
        || cargo install cargo-fuzz --locked \
        || echo "WARNING: could not install cargo-fuzz (fuzzing)" >&2
fi

# moto[server] from PyPI in a venv of its own (Debian's pip refuses system installs).
bash "$(dirname "${BASH_SOURCE[0]}")/../tests/peers/moto.sh" --install \
    || echo "WARNING: could not make the moto venv (tests/peers/moto.sh --install)" >&2
