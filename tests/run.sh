#!/bin/sh
# Runs cmocka test binaries and sums their results.
#
#   sh tests/run.sh LABEL BIN...
#
# Each binary runs in turn with its output passed through. The test counts come from
# cmocka's summary lines ("[  PASSED  ] N test(s)." and "[  FAILED  ] N test(s)"), summed
# over every group of every binary. A binary that exits non-zero without reporting a
# failed test (a crash, a failed group fixture, a missing file) counts as one failed test,
# so it can never pass silently. The last line is exactly "LABEL: N passed, M failed";
# the exit status is 0 only if every binary passed and at least one test ran: a suite
# with no tests is an error.

if [ $# -lt 1 ]; then
    echo "usage: sh tests/run.sh LABEL BIN..." >&2
    exit 2
fi
label=$1
shift

# The summary lines are parsed, so pin cmocka to its standard format even if the
# environment asks for TAP, subunit or XML.
CMOCKA_MESSAGE_OUTPUT=stdout
export CMOCKA_MESSAGE_OUTPUT

tmp=$(mktemp "${TMPDIR:-/tmp}/ml-run.XXXXXX") || exit 2
trap 'rm -f "$tmp" "$tmp.rc"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

passed=0
failed=0
bins_ok=0
bins_bad=0

for bin in "$@"; do
    # Stream the output while keeping a copy to parse; the pipeline's status is tee's,
    # so the binary's own status travels through a file.
    rm -f "$tmp.rc"
    { "$bin"; echo $? >"$tmp.rc"; } 2>&1 | tee "$tmp"
    rc=$(cat "$tmp.rc" 2>/dev/null)
    [ -n "$rc" ] || rc=1

    # Test names are C identifiers, so "[  FAILED  ] name" never matches "N test(s)".
    p=$(sed -n 's/^\[  PASSED  \] \([0-9][0-9]*\) test(s)\..*$/\1/p' "$tmp" |
        awk '{ s += $1 } END { print s + 0 }')
    f=$(sed -n 's/^\[  FAILED  \] \([0-9][0-9]*\) test(s).*$/\1/p' "$tmp" |
        awk '{ s += $1 } END { print s + 0 }')

    # cmocka's exit status is the failure count, which wraps at 256; trust either signal.
    if [ "$rc" -ne 0 ] || [ "$f" -gt 0 ]; then
        if [ "$f" -eq 0 ]; then
            f=1
            echo "$label: $bin exited with status $rc without reporting a failed test" >&2
        fi
        bins_bad=$((bins_bad + 1))
    else
        bins_ok=$((bins_ok + 1))
    fi
    passed=$((passed + p))
    failed=$((failed + f))
done

if [ $# -gt 0 ]; then
    echo "$label: $bins_ok of $# binaries passed" >&2
fi
if [ $((passed + failed)) -eq 0 ]; then
    echo "$label: no tests ran" >&2
fi
echo "$label: $passed passed, $failed failed"

if [ "$bins_bad" -ne 0 ] || [ $((passed + failed)) -eq 0 ]; then
    exit 1
fi
exit 0
