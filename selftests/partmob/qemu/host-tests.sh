#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# host-tests.sh: the tests that need no guest, run on the build host by
# `make check` (a few seconds), printed as TAP lines
#
#   ok N - host: <what>        /   not ok N - host: <what>
#
#   - the handshake's unit test (user/test-handshake.c), with ASan + UBSan;
#   - the frame parser (kernel/frame.c) over the fuzz corpus and seeded
#     mutations of it, with ASan + UBSan (selftests/partmob/fuzz, `make
#     replay`; `make fuzz` is the long run).
#
# Exits non-zero if any failed. Logs: build/host/.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
LOGS=$REPO/build/host
mkdir -p "$LOGS"
unset MAKEFLAGS MFLAGS MAKEOVERRIDES MAKELEVEL GNUMAKEFLAGS

N=0 FAIL=0
diag() { awk 'NR <= 40 { print "# " $0 }'; }

run() {
	local what=$1 log=$LOGS/$2
	shift 2
	N=$((N + 1))
	if "$@" >"$log" 2>&1; then
		echo "ok $N - host: $what"
	else
		FAIL=$((FAIL + 1))
		echo "not ok $N - host: $what (build/host/${log##*/})"
		tail -n 40 "$log" | diag
	fi
}

run "handshake unit test (ASan, UBSan)" handshake.log \
	make -C "$REPO/user" test SANITIZE=1 OUTPUT="$LOGS/user"
run "frame parser over the fuzz corpus and its mutations (ASan, UBSan)" \
	frame-replay.log make -C "$REPO/selftests/partmob/fuzz" replay \
	OUTPUT="$LOGS/fuzz"

echo "1..$N"
((FAIL == 0))
