# lib.sh - assertions for the CLI tests, which drive the real trailhound binary.
# Each check prints what it compared on failure; finish prints "N passed, N failed" and
# exits non-zero on any failure. Needs TRAILHOUND (the binary) and TH_SRC (the tree).
set -u
: "${TRAILHOUND:?set TRAILHOUND to the trailhound binary}"
: "${TH_SRC:?set TH_SRC to the source tree}"
pass=0
fail=0
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }

# run_th ARGS...: runs trailhound, capturing stdout, stderr and the status.
run_th() {
    status=0
    "$TRAILHOUND" "$@" >"$TMP/out" 2>"$TMP/err" || status=$?
    out=$(cat "$TMP/out")
    err=$(cat "$TMP/err")
}

expect_status() { # WANT DESCRIPTION
    if [ "$status" = "$1" ]; then ok; else bad "$2: exit $status, want $1; stderr: $err"; fi
}
expect_out_has() { # TEXT DESCRIPTION
    case "$out" in *"$1"*) ok ;; *) bad "$2: stdout lacks '$1'; stdout: $(printf %s "$out" | head -c 600)" ;; esac
}
expect_err_has() { # TEXT DESCRIPTION
    case "$err" in *"$1"*) ok ;; *) bad "$2: stderr lacks '$1'; stderr: $(printf %s "$err" | head -c 600)" ;; esac
}
expect_eq() { # GOT WANT DESCRIPTION
    if [ "$1" = "$2" ]; then ok; else bad "$3: got '$1', want '$2'"; fi
}
expect_one_line_err() { # DESCRIPTION: stderr is exactly one line
    n=$(printf '%s\n' "$err" | grep -c .)
    if [ "$n" = 1 ]; then ok; else bad "$1: want a one-line error, got $n lines: $err"; fi
}
finish() {
    echo "$pass passed, $fail failed"
    [ "$fail" = 0 ]
}
