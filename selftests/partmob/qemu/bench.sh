#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# bench.sh: `make bench`. Boots ONE x86_64-6.1 guest (TCG, -smp 2) and runs
# pmbench there, so that partmob and its peers are measured side by side in
# the same boot (see the benchmark contract in the project's design notes).
# Prints a table, writes every figure to build/bench/results-TIME.json and
# prints that path on its last line as "results: PATH".
#
#   BENCH_SCALE=small   smaller sizes, for a quick look
#   BENCH_MEM=4G        guest memory
#   DEPS=0              skip deps.sh
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

target=x86_64-6.1
bdir="$PM_ROOT/build/$target"
out="$PM_ROOT/build/bench"
logs="$PM_ROOT/build/logs"
mkdir -p "$out" "$logs"

if [ "${DEPS:-1}" != 0 ]; then
	PARTMOB_TARGETS=$target bash "$PM_QEMU_DIR/deps.sh" >"$logs/bench-deps.log" 2>&1 ||
		{ tail -n 20 "$logs/bench-deps.log" >&2; pm_die "deps.sh failed"; }
fi
bash "$PM_QEMU_DIR/build-target.sh" "$target" >"$logs/build-$target.log" 2>&1 ||
	{ tail -n 30 "$logs/build-$target.log" >&2; pm_die "build of $target failed"; }
[ -x "$bdir/tests/pmbench" ] || pm_die "$bdir/tests/pmbench was not built"

initrd="$bdir/bench.cpio.gz"
bash "$PM_QEMU_DIR/mkinitramfs.sh" "$target" "$initrd" bench
log="$bdir/bench-console.log"
args=
[ "${BENCH_SCALE:-}" = small ] && args=small
pm_load_env "$target"
echo "== bench: one $target guest (kernel $KREL, $(pm_accel "$target"), -smp 2, ${BENCH_MEM:-4G})"
rc=0
PARTMOB_GUEST_MEM=${BENCH_MEM:-4G} PARTMOB_TIMEOUT=${PARTMOB_TIMEOUT:-3000} \
	bash "$PM_QEMU_DIR/run-guest.sh" "$target" "$initrd" "$log" \
	${args:+partmob_bench_args=$args} || rc=$?
[ "$rc" = 0 ] || pm_die "bench guest failed (rc=$rc, console: $log)"

json="$out/results-$(date -u +%Y%m%dT%H%M%SZ).json"
awk '/### partmob-bench-end/ { on = 0 } on { print } /### partmob-bench-begin/ { on = 1 }' \
	"$log" >"$json.tmp"
grep -q '### partmob-bench-rc rc=0' "$log" && [ -s "$json.tmp" ] ||
	{ grep -i 'pmbench' "$log" | tail -n 5 >&2; pm_die "pmbench failed (console: $log)"; }
problems=$(bash "$PM_QEMU_DIR/tap.sh" "$log" | sed '$d' | grep -i 'kernel' || true)
[ -z "$problems" ] || { echo "$problems" >&2; pm_die "kernel problems during bench (console: $log)"; }
mv "$json.tmp" "$json"

python3 - "$json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
def v(k):
    return r.get(k)
rows = [
    ("tracked first write (write-notify fault)", "track_fault_us", "softdirty_fault_us", "us/page", "<= soft-dirty"),
    ("re-arm (harvest + write-protect)", "rearm_us", "softdirty_rearm_us", "us/page", "<= soft-dirty"),
    ("hot-set writer, tracked / untracked", "tracking_ratio_hot", "softdirty_tracking_ratio_hot", "ratio", ">= 0.8"),
    ("harvest cost, 4 GiB / 256 MiB region", "harvest_scale_ratio", None, "ratio", "<= 1.2"),
]
print("%-42s %12s %12s %8s  %s" % ("figure", "partmob", "soft-dirty", "unit", "target"))
for name, k, peer, unit, target in rows:
    a = v(k); b = v(peer) if peer else None
    fa = "%.3f" % a if a is not None else r.get(k + "_skipped", "-")
    fb = "%.3f" % b if b is not None else (r.get(peer + "_skipped", "-") if peer else "")
    print("%-42s %12s %12s %8s  %s" % (name, fa, fb, unit, target))
print()
print("not measured yet (need live migration, later issues): link_iperf3_mbps, memcpy_mbps,")
print("  partmob_bulk_mbps, criu_bulk_mbps, qemu_bulk_mbps, qemu_multifd_mbps, *_downtime_ms,")
print("  *_total_s, sparse_ratio, zero_speedup, tls_ratio, *_cpu_s_per_gib")
print("medians of 3 runs; every run is in the JSON under KEY_runs")
PY
echo "results: $json"
