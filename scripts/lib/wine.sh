# Sourced by the Wine checks (scripts/check-windows-pipe.sh, check-windows-tray.sh).
#
#   wine_prefix PREFIX SCRATCH: makes the Wine prefix PREFIX (wineboot) if it is not there,
#   and gives it what Wine 8.0 lacks for a Rust program to start (below); exports
#   WINEPREFIX and WINEDLLOVERRIDES. SCRATCH takes the stand-in's sources and wineboot.log.
#
# Wine 8.0 (Debian bookworm) has no bcryptprimitives.dll, from which Rust's std takes
# random bytes (ProcessPrng): without it the exe does not start. A stand-in DLL is built
# with mingw into the prefix (only there: nothing of it is shipped), serving them from
# advapi32's RtlGenRandom.
wine_prefix() {
    local prefix=$1 scratch=$2
    export WINEPREFIX=$prefix
    mkdir -p "$scratch"
    if [ ! -d "$WINEPREFIX/drive_c" ]; then
        # No Mono or Gecko: their installers would try to download them.
        WINEDLLOVERRIDES="mscoree,mshtml=" wineboot -i >"$scratch/wineboot.log" 2>&1 || true
    fi
    [ -d "$WINEPREFIX/drive_c/windows/system32" ] || {
        echo "wineboot made no prefix in $WINEPREFIX: see $scratch/wineboot.log" >&2
        return 1
    }
    local wine_dlls
    wine_dlls=$(dirname "$(command -v wine)")/../lib/x86_64-linux-gnu/wine/x86_64-windows
    if [ -e "$wine_dlls/bcryptprimitives.dll" ]; then
        export WINEDLLOVERRIDES="mscoree,mshtml="
        return 0
    fi
    echo "   this Wine has no bcryptprimitives.dll: building a stand-in (ProcessPrng)"
    cat >"$scratch/bcryptprimitives.c" <<'C'
/* For the Wine checks only: Rust's std takes random bytes from ProcessPrng, which this
   Wine lacks; serve them from advapi32's RtlGenRandom. */
#include <windows.h>
#include <ntsecapi.h>

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!RtlGenRandom(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
C
    printf 'LIBRARY bcryptprimitives\nEXPORTS\n    ProcessPrng\n' >"$scratch/bcryptprimitives.def"
    x86_64-w64-mingw32-gcc -O2 -shared \
        -o "$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll" \
        "$scratch/bcryptprimitives.c" "$scratch/bcryptprimitives.def" -ladvapi32
    export WINEDLLOVERRIDES="mscoree,mshtml=;bcryptprimitives=n"
}
