#!/usr/bin/env bash
# Builds Standby's packages: a Debian package (.deb) and a Windows zip.
#
#   scripts/package.sh [--deb] [--zip] [--out DIR] [--binary PATH] [--windows-binary PATH]
#
# Without --deb/--zip it makes both. By default it builds the release binaries
# (`cargo build --release`, and for the zip `--target x86_64-pc-windows-gnu`); --binary /
# --windows-binary package a binary built already instead (the tests package their debug
# build: no release build in a test run). Packages go to DIR (default target/package).
#
# The .deb is laid out by hand and built with dpkg-deb, not with cargo-deb: the layout is
# eight files and three maintainer scripts, while `cargo install cargo-deb` compiles a few
# hundred crates (minutes of CI time on every fresh machine) to write the same thing.
#
# .deb contents:
#   /usr/bin/standby                              the program (stripped)
#   /lib/systemd/system/standby.service           assets/standby.service (not enabled)
#   /usr/share/applications/standby.desktop       the window's menu entry
#   /usr/share/icons/hicolor/128x128/apps/standby.png
#   /usr/share/standby/default.ron, example.ron   the documented default settings, an example
#   /usr/share/doc/standby/README.md, copyright
set -euo pipefail
cd "$(dirname "$0")/.."

want_deb="" want_zip="" out="" binary="" windows_binary=""
while [ $# -gt 0 ]; do
    case "$1" in
        --deb) want_deb=yes ;;
        --zip) want_zip=yes ;;
        --out) out=$2; shift ;;
        --binary) binary=$2; shift ;;
        --windows-binary) windows_binary=$2; shift ;;
        *) echo "package.sh: unknown argument $1 (see the header of $0)" >&2; exit 2 ;;
    esac
    shift
done
if [ -z "$want_deb" ] && [ -z "$want_zip" ]; then want_deb=yes want_zip=yes; fi
target_dir=${CARGO_TARGET_DIR:-target}
out=${out:-$target_dir/package}
mkdir -p "$out"
out=$(cd "$out" && pwd)

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
[ -n "$version" ] || { echo "package.sh: no version in Cargo.toml" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

make_deb() {
    if [ -z "$binary" ]; then
        cargo build --release --bin standby
        binary=$target_dir/release/standby
    fi
    [ -x "$binary" ] || { echo "package.sh: $binary is not an executable" >&2; exit 1; }
    local arch root deb
    arch=$(dpkg --print-architecture)
    root=$work/deb
    install -D -m 0755 "$binary" "$root/usr/bin/standby"
    strip "$root/usr/bin/standby"
    install -D -m 0644 assets/standby.service "$root/lib/systemd/system/standby.service"
    install -D -m 0644 assets/standby.desktop "$root/usr/share/applications/standby.desktop"
    install -D -m 0644 assets/standby.png "$root/usr/share/icons/hicolor/128x128/apps/standby.png"
    install -D -m 0644 settings/default.ron "$root/usr/share/standby/default.ron"
    install -D -m 0644 settings/example.ron "$root/usr/share/standby/example.ron"
    install -D -m 0644 README.md "$root/usr/share/doc/standby/README.md"
    install -D -m 0644 LICENSE "$root/usr/share/doc/standby/copyright"

    # The shared libraries the program links (libc, libgcc); the window's GL, X11 and
    # Wayland libraries are loaded at run time, so they are recommended, not required.
    local depends
    mkdir -p "$work/shlibs/debian"
    printf 'Source: standby\n\nPackage: standby\nArchitecture: any\n' > "$work/shlibs/debian/control"
    depends=$(cd "$work/shlibs" && dpkg-shlibdeps -O -e "$root/usr/bin/standby" 2>/dev/null \
        | sed -n 's/^shlibs:Depends=//p')
    [ -n "$depends" ] || { echo "package.sh: dpkg-shlibdeps found no dependencies" >&2; exit 1; }

    mkdir -p "$root/DEBIAN"
    cat > "$root/DEBIAN/control" <<EOF
Package: standby
Version: $version
Architecture: $arch
Maintainer: Standby developers <standby@example.invalid>
Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)
Depends: $depends
Recommends: libgl1, libegl1, libxkbcommon-x11-0, libxcursor1, libxrandr2, libxi6
Section: net
Priority: optional
Homepage: https://github.com/standby/standby
Description: DNS failover: keeps host names pointing at servers that work
 Standby polls every server of a server set (ping, HTTP(S), TCP, DNS, a command),
 decides which are functional and rewrites the DNS records of the set's host names
 (RFC 2136 with TSIG, HTTP, provider APIs) or answers DNS itself, and notifies.
 The same program is a desktop window and, as the systemd unit standby.service,
 a headless engine (settings: /var/lib/standby/standby.ron).
EOF
    # systemd learns of the unit; it is neither enabled nor started: an engine without
    # settings has nothing to do (`systemctl enable --now standby` when they are there).
    cat > "$root/DEBIAN/postinst" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = configure ] && [ -d /run/systemd/system ]; then
    systemctl daemon-reload || true
fi
exit 0
EOF
    cat > "$root/DEBIAN/prerm" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
    systemctl disable --now standby.service >/dev/null 2>&1 || true
fi
exit 0
EOF
    # No postrm: a package with one stays known to dpkg ("config-files") after `dpkg -r`
    # until purged; this one leaves nothing. The service's state (settings, history) is
    # the operator's: /var/lib/private/standby stays until removed by hand.
    chmod 0755 "$root/DEBIAN/postinst" "$root/DEBIAN/prerm"
    deb=$out/standby_${version}_${arch}.deb
    # gzip: a debug build is large and xz would take most of a minute on it.
    dpkg-deb --root-owner-group -Zgzip --build "$root" "$deb" >/dev/null
    echo "package.sh: $deb"
}

make_zip() {
    if [ -z "$windows_binary" ]; then
        cargo build --release --target x86_64-pc-windows-gnu --bin standby
        windows_binary=$target_dir/x86_64-pc-windows-gnu/release/standby.exe
    fi
    [ -f "$windows_binary" ] || { echo "package.sh: $windows_binary not found" >&2; exit 1; }
    local dir=$work/zip/standby-$version-windows-x86_64 zip
    mkdir -p "$dir/settings"
    cp "$windows_binary" "$dir/standby.exe"
    x86_64-w64-mingw32-strip "$dir/standby.exe" 2>/dev/null || strip "$dir/standby.exe" 2>/dev/null || true
    cp README.md "$dir/README.md"
    cp LICENSE "$dir/LICENSE.txt"
    cp settings/default.ron settings/example.ron "$dir/settings/"
    zip=$out/standby-$version-windows-x86_64.zip
    rm -f "$zip"
    # Python's zipfile: no zip program needed.
    (cd "$work/zip" && python3 -m zipfile -c "$zip" "standby-$version-windows-x86_64")
    echo "package.sh: $zip"
}

[ -z "$want_deb" ] || make_deb
[ -z "$want_zip" ] || make_zip
