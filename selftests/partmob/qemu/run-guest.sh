#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# run-guest.sh TARGET INITRD LOG [KERNEL ARGS...]
#
# Boots TARGET's kernel (from its env, see CONTRACT.md) with INITRD under
# QEMU and writes the serial console to LOG (carriage returns removed).
# The guest powers itself off; after $PARTMOB_TIMEOUT seconds (default 600)
# QEMU is killed and the exit status is 124.
#
#   PARTMOB_SHOW=1      also copy the console to stdout as it comes
#   PARTMOB_ACCEL=      tcg | kvm | auto (default auto, see lib.sh)
#   PARTMOB_INTERACTIVE=1  keep stdin attached (with partmob_mode=shell)
#
# The QEMU command line used is saved next to LOG as LOG.cmd.
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ $# -ge 3 ] || pm_die "usage: run-guest.sh TARGET INITRD LOG [KERNEL ARGS...]"
target=$1 initrd=$2 log=$3
shift 3

pm_load_env "$target"
accel=$(pm_accel "$target")
timeout=$(( ${PARTMOB_TIMEOUT:-600} * TIMEOUT_FACTOR ))

pm_qemu_args "$accel" "$initrd" "quiet loglevel=1 $*"
mkdir -p "$(dirname "$log")"
printf '%q ' "${PM_QEMU_ARGS[@]}" >"$log.cmd"
echo >>"$log.cmd"

start=$(date +%s.%N)
rc=0
if [ "${PARTMOB_INTERACTIVE:-0}" = 1 ]; then
	timeout --foreground -k 10 "$timeout" "${PM_QEMU_ARGS[@]}" 2>&1 |
		tee >(tr -d '\r' >"$log") || rc=${PIPESTATUS[0]}
elif [ "${PARTMOB_SHOW:-0}" = 1 ]; then
	timeout -k 10 "$timeout" "${PM_QEMU_ARGS[@]}" </dev/null 2>&1 |
		tr -d '\r' | tee "$log" || rc=${PIPESTATUS[0]}
else
	timeout -k 10 "$timeout" "${PM_QEMU_ARGS[@]}" </dev/null 2>&1 |
		tr -d '\r' >"$log" || rc=${PIPESTATUS[0]}
fi
end=$(date +%s.%N)
secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
echo "$accel $secs $rc" >"$log.time"
if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
	echo "partmob: $target guest timed out after ${timeout}s (log: $log)" >&2
	exit 124
fi
exit "$rc"
