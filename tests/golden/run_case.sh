#!/bin/sh
# run_case.sh TRAILHOUND CASEDIR - runs one golden engine case through the real binary.
#
# A case directory holds: rules/ (or rule.yaml), input (a file or a directory, any format),
# expected.jsonl (the exact output), optional `args` (extra flags for `trailhound run`, one
# line) and optional `exit` (the expected exit status, default 0). The case passes when the
# output is byte-identical to expected.jsonl, twice in a row (determinism).
set -eu
bin=$1
dir=$2
rules="$dir/rules"
[ -e "$rules" ] || rules="$dir/rule.yaml"
args=""
[ -f "$dir/args" ] && args=$(cat "$dir/args")
want_exit=0
[ -f "$dir/exit" ] && want_exit=$(cat "$dir/exit")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for run in 1 2; do
    status=0
    # shellcheck disable=SC2086 # args holds several flags on purpose
    (cd "$dir" && "$bin" run --no-progress -r "$rules" $args input) >"$tmp/out$run" 2>"$tmp/err$run" || status=$?
    if [ "$status" != "$want_exit" ]; then
        echo "run $run: exit status $status, expected $want_exit; stderr:" >&2
        cat "$tmp/err$run" >&2
        exit 1
    fi
done
if ! cmp -s "$tmp/out1" "$tmp/out2"; then
    echo "output differs between two runs of the same input" >&2
    diff "$tmp/out1" "$tmp/out2" >&2 || true
    exit 1
fi
if ! diff -u "$dir/expected.jsonl" "$tmp/out1" >&2; then
    echo "FAIL: output differs from $dir/expected.jsonl (to accept: cp the output over it after review)" >&2
    exit 1
fi
echo "ok: $(wc -l <"$tmp/out1") signal line(s) as expected"
