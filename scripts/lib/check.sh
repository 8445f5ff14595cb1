# Sourced by the check scripts (check-windows-pipe.sh, check-windows-tray.sh): one counted,
# printed outcome per check, so that a script ends with "N ok, M failed".
passed=0
failed=0
check() { # check NAME COMMAND...: runs COMMAND, counts and prints the outcome
    local name=$1
    shift
    if "$@"; then
        echo "  ok: $name"
        passed=$((passed + 1))
    else
        echo "  FAILED: $name"
        failed=$((failed + 1))
    fi
}
