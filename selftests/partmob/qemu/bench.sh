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

python3 - "$json" "${BENCH_SCALE:-}" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
notes = []
def cell(k):
    if k is None:
        return ""
    a = r.get(k)
    if a is not None:
        return "%.3f" % a if abs(a) < 100 else "%.0f" % a
    why = r.get(k + "_skipped")
    if why is None:
        return "-"
    if why not in notes:
        notes.append(why)
    return "[%d]" % (notes.index(why) + 1)
def table(head, rows):
    print("%-42s" % head[0] + "".join("%12s" % h for h in head[1:-2]) +
          " %8s  %s" % tuple(head[-2:]))
    for row in rows:
        name, keys, unit, target = row[0], row[1:-2], row[-2], row[-1]
        print("%-42s" % name + "".join("%12s" % cell(k) for k in keys) +
              " %8s  %s" % (unit, target))
    print()
table(("figure", "partmob", "soft-dirty", "unit", "target"), [
    ("tracked first write (write-notify fault)", "track_fault_us", "softdirty_fault_us", "us/page", "<= soft-dirty"),
    ("re-arm (harvest + write-protect)", "rearm_us", "softdirty_rearm_us", "us/page", "<= soft-dirty"),
    ("hot-set writer, tracked / untracked", "tracking_ratio_hot", "softdirty_tracking_ratio_hot", "ratio", ">= 0.8"),
    ("harvest cost, 4 GiB / 256 MiB region", "harvest_scale_ratio", None, "ratio", "<= 1.2"),
])
table(("migration over the veth", "partmob", "link", "CRIU", "QEMU", "unit", ""), [
    ("1 GiB random, no writer: throughput", "partmob_bulk_mbps", "link_iperf3_mbps", "criu_bulk_mbps", "qemu_bulk_mbps", "MB/s", "link: iperf3 one stream"),
    ("  the same, QEMU multifd (2 channels)", None, None, None, "qemu_multifd_mbps", "MB/s", ""),
    ("  CPU, source + destination", "partmob_cpu_s_per_gib", "iperf3_cpu_s_per_gib", "criu_cpu_s_per_gib", "qemu_cpu_s_per_gib", "s/GiB", ""),
    ("  downtime", "partmob_idle_downtime_ms", None, None, "qemu_downtime_ms", "ms", ""),
    ("writer at 25% of bulk, 64 MiB hot: downtime", "partmob_downtime_ms", None, "criu_downtime_ms", None, "ms", "--downtime-limit 50"),
    ("  total time", "partmob_total_s", None, "criu_total_s", None, "s", ""),
    ("16 GiB sparse (256 MiB touched) / 256 MiB", "sparse_ratio", None, None, None, "ratio", "time, ~1 is ideal"),
    ("1 GiB random / 1 GiB written zero pages", "zero_speedup", None, None, None, "ratio", "time, > 1"),
    ("  the same over TLS (kTLS, AES-128-GCM)", "partmob_tls_bulk_mbps", None, None, None, "MB/s", ""),
    ("with kTLS / without", "tls_ratio", None, None, None, "ratio", ">= 0.7"),
    ("AES-128-GCM, openssl speed (16 KiB)", None, "openssl_aes128gcm_mbps", None, None, "MB/s", "userspace, emulated"),
    ("memcpy in page-size chunks (one host)", None, "memcpy_mbps", None, None, "MB/s", "physical limit"),
])
b, l = r.get("partmob_bulk_mbps"), r.get("link_iperf3_mbps")
if b and l:
    print("partmob bulk / link: %.2f" % (b / l))
peers = {
    "criu_bulk_mbps": "CRIU", "criu_downtime_ms": "CRIU", "criu_total_s": "CRIU",
    "criu_cpu_s_per_gib": "CRIU", "qemu_bulk_mbps": "QEMU", "qemu_multifd_mbps": "QEMU",
    "qemu_downtime_ms": "QEMU", "qemu_cpu_s_per_gib": "QEMU",
}
missing = [k for k in peers if k not in r and k + "_skipped" not in r]
for i, why in enumerate(notes):
    print("[%d] %s" % (i + 1, why))
print("-  not measured yet: the CRIU and QEMU peers (%s) are a later issue;" % ", ".join(missing))
print("MB/s = 10^6 bytes/s; CPU = user+sys of the whole guest (both ends, kernel threads included)")
print("medians of 3 runs; every run is in the JSON under KEY_runs")
if len(sys.argv) > 2 and sys.argv[2] == "small":
    print("BENCH_SCALE=small: 256 MiB instead of 1 GiB, 4 GiB sparse with 64 MiB touched, iperf3 3 s")
PY
echo "results: $json"
