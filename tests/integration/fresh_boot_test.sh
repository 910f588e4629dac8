#!/bin/sh
# fresh_boot_test: the API tests (api_test) on a machine that booted 40 seconds ago, as a CI
# machine may have. The fault shim (tests/fault/fault.c) makes CLOCK_BOOTTIME read as if the
# machine came up 40 s ago, for the test and for every memberlinkd it starts (the trusted
# clock keeps its anchor on that clock). No test may depend on how long the machine is up.
set -u
bin=${ML_BIN:-build}
up_ms=$(awk '{ printf "%d", $1 * 1000 }' /proc/uptime)
shift_ms=$((up_ms - 40000))
[ "$shift_ms" -lt 0 ] && shift_ms=0
echo "fresh_boot: api tests with the boot clock at $(((up_ms - shift_ms) / 1000)) s"
LD_PRELOAD="$bin/tests/libfault.so" ML_BOOT_SHIFT_MS=$shift_ms \
    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" exec "$bin/tests/api_test"
