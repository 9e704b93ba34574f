#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# bench.sh: `make bench`. Boots ONE x86_64-6.1 guest (TCG, -smp 2) and runs
# pmbench there, so that partmob and its peers (iperf3, CRIU and QEMU, the
# host's own programs reached through /host) are measured side by side in
# the same boot (see the benchmark contract in the project's design notes).
# Prints a table, writes every figure to build/bench/results-TIME.json and
# prints that path on its last line as "results: PATH".
#
#   BENCH_ARCH=ppc64le  (make bench ARCH=ppc64le) the partmob scenarios in
#                       the ppc64le-6.1 guest, for information: the peers
#                       are x86_64 programs and are left out there
#   BENCH_SCALE=small   smaller sizes, for a quick look
#   BENCH_ONLY=peers    iperf3, CRIU and QEMU only (a look at the peers)
#   BENCH_ONLY=tracking the dirty-tracking figures only, no migration (a
#                       look at first writes, re-arms, hot set and harvest)
#   BENCH_PROFILE=1     no figures: perf profiles (the host's linux-perf,
#                       through /host) of first writes and re-arms
#                       (partmob, soft-dirty), of a bulk and a sparse
#                       migration and of iperf3, printed and kept in
#                       build/bench/profile-TIME.txt
#   BENCH_MEM=6G        guest memory
#   DEPS=0              skip deps.sh
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

case "${BENCH_ARCH:-x86_64}" in
x86_64 | x86 | "") target=x86_64-6.1 ;;
ppc64le | powerpc | ppc64el) target=ppc64le-6.1 ;;
*) pm_die "BENCH_ARCH must be x86_64 or ppc64le" ;;
esac
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
# CRIU wants nf_tables (its network lock; libcrc32c needs crc32c) and the
# socket diag modules; the TLS scenario wants the AES-GCM modules that init
# loads (without them setting the kTLS key fails with ENOENT).
PARTMOB_GUEST_MODULES="veth tls gcm ghash_generic ctr aesni_intel ghash_clmulni_intel zram 9p 9pnet_virtio virtio_pci crc32c_generic nfnetlink nf_tables unix_diag inet_diag tcp_diag netlink_diag af_packet_diag" \
	bash "$PM_QEMU_DIR/mkinitramfs.sh" "$target" "$initrd" bench
log="$bdir/bench-console.log"
args=
[ "${BENCH_SCALE:-}" = small ] && args=small
case "${BENCH_ONLY:-}" in
"") ;;
peers | tracking) args=${args:+$args,}$BENCH_ONLY ;;
*) pm_die "BENCH_ONLY must be empty, 'peers' or 'tracking'" ;;
esac
[ "${BENCH_PROFILE:-0}" = 1 ] && args=profile${args:+,$args}
pm_load_env "$target"
echo "== bench: one $target guest (kernel $KREL, $(pm_accel "$target"), -smp 2, ${BENCH_MEM:-6G})"
rc=0
PARTMOB_GUEST_MEM=${BENCH_MEM:-6G} PARTMOB_TIMEOUT=${PARTMOB_TIMEOUT:-3000} \
	bash "$PM_QEMU_DIR/run-guest.sh" "$target" "$initrd" "$log" \
	${args:+partmob_bench_args=$args} || rc=$?
[ "$rc" = 0 ] || pm_die "bench guest failed (rc=$rc, console: $log)"

if [ "${BENCH_PROFILE:-0}" = 1 ]; then
	prof="$out/profile-$(date -u +%Y%m%dT%H%M%SZ).txt"
	awk '/### partmob-profile-end/ { on = 0 } on { print } /### partmob-profile-begin/ { on = 1; print "== " $3 }' \
		"$log" >"$prof"
	grep -h 'pmbench:' "$log" | tail -n 4
	[ -s "$prof" ] || pm_die "no profile in the console ($log)"
	cat "$prof"
	echo "profile: $prof"
	exit 0
fi

json="$out/results-$(date -u +%Y%m%dT%H%M%SZ).json"
awk '/### partmob-bench-end/ { on = 0 } on { print } /### partmob-bench-begin/ { on = 1 }' \
	"$log" >"$json.tmp"
grep -q '### partmob-bench-rc rc=0' "$log" && [ -s "$json.tmp" ] ||
	{ grep -i 'pmbench' "$log" | tail -n 5 >&2; pm_die "pmbench failed (console: $log)"; }
problems=$(bash "$PM_QEMU_DIR/tap.sh" "$log" | grep -A 9 "^  FAIL.*kernel" || true)
[ -z "$problems" ] || { echo "$problems" >&2; pm_die "kernel problems during bench (console: $log)"; }
mv "$json.tmp" "$json"

python3 - "$json" "${BENCH_SCALE:-}" "$target" "${BENCH_ONLY:-}" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
tracking_only = sys.argv[4] == "tracking"
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
    print("%-44s" % head[0] + "".join("%11s" % h for h in head[1:-2]) +
          " %7s  %s" % tuple(head[-2:]))
    for row in rows:
        name, keys, unit, target = row[0], row[1:-2], row[-2], row[-1]
        print("%-44s" % name + "".join("%11s" % cell(k) for k in keys) +
              " %7s  %s" % (unit, target))
    print()
table(("figure", "partmob", "soft-dirty", "unit", "target"), [
    ("tracked first write (write-notify fault)", "track_fault_us", "softdirty_fault_us", "us/page", "<= soft-dirty"),
    ("re-arm (harvest + write-protect)", "rearm_us", "softdirty_rearm_us", "us/page", "<= soft-dirty"),
    ("hot-set writer, tracked / untracked", "tracking_ratio_hot", "softdirty_tracking_ratio_hot", "ratio", ">= 0.8"),
    ("harvest cost, 4 GiB / 256 MiB region", "harvest_scale_ratio", None, "ratio", "<= 1.2"),
])
if tracking_only:
    print("BENCH_ONLY=tracking: no migration; medians of 3 runs, every run in the JSON under KEY_runs")
    print("guest: %s" % sys.argv[3])
    sys.exit(0)
table(("migration over the veth", "partmob", "link", "QEMU", "CRIU", "unit", ""), [
    ("1 GiB random, no writer: throughput", "partmob_bulk_mbps", "link_iperf3_mbps", "qemu_bulk_mbps", "criu_bulk_mbps", "MB/s", "link: iperf3; CRIU: first pre-dump"),
    ("  the same, QEMU multifd (2 channels)", None, None, "qemu_multifd_mbps", None, "MB/s", "partmob: --streams 2, the default"),
    ("  partmob --streams 1", "partmob_one_stream_bulk_mbps", None, None, None, "MB/s", ""),
    ("  CPU, source + destination", "partmob_cpu_s_per_gib", "iperf3_cpu_s_per_gib", "qemu_cpu_s_per_gib", "criu_cpu_s_per_gib", "s/GiB", ""),
    ("  CPU, partmob --streams 1", "partmob_one_stream_cpu_s_per_gib", None, None, None, "s/GiB", ""),
    ("  downtime", "partmob_idle_downtime_ms", None, "qemu_downtime_ms", None, "ms", "QEMU's own, device state included"),
    ("writer at 25% of bulk, 64 MiB hot: downtime", "partmob_downtime_ms", None, None, "criu_downtime_ms", "ms", "partmob --downtime-limit 50"),
    ("  total time", "partmob_total_s", None, None, "criu_total_s", "s", ""),
    ("16 GiB sparse (256 MiB touched) / 256 MiB", "sparse_ratio", None, None, None, "ratio", "time, ~1 is ideal"),
    ("1 GiB random / 1 GiB written zero pages", "zero_speedup", None, None, None, "ratio", "time, > 1"),
    ("  the same over TLS (kTLS, AES-128-GCM)", "partmob_tls_bulk_mbps", None, None, None, "MB/s", ""),
    ("  kTLS over the veth alone, 2 connections", None, "ktls_link_mbps", None, None, "MB/s", "no partmob: the ceiling"),
    ("with kTLS / without", "tls_ratio", None, None, None, "ratio", ">= 0.7"),
    ("AES-128-GCM, openssl speed (16 KiB)", None, "openssl_aes128gcm_mbps", None, None, "MB/s", "userspace, emulated"),
    ("memcpy in page-size chunks (one host)", None, "memcpy_mbps", None, None, "MB/s", "physical limit"),
])
def ratio(a, b):
    x, y = r.get(a), r.get(b)
    return "%.2f" % (x / y) if x is not None and y else "-"
print("%-44s%10s%10s%10s  %s" % ("ratios (same boot)", "iperf3", "QEMU", "CRIU", "targets"))
print("%-44s%10s%10s%10s  %s" % ("partmob bulk MB/s / peer's",
      ratio("partmob_bulk_mbps", "link_iperf3_mbps"),
      ratio("partmob_bulk_mbps", "qemu_bulk_mbps"),
      ratio("partmob_bulk_mbps", "criu_bulk_mbps"), ">= 1.0, 1.9, 2.5"))
print("%-44s%10s%10s%10s  %s" % ("  the same, --streams 1",
      ratio("partmob_one_stream_bulk_mbps", "link_iperf3_mbps"),
      ratio("partmob_one_stream_bulk_mbps", "qemu_bulk_mbps"),
      ratio("partmob_one_stream_bulk_mbps", "criu_bulk_mbps"), ""))
print("%-44s%10s%10s%10s  %s" % ("partmob CPU s/GiB / peer's",
      ratio("partmob_cpu_s_per_gib", "iperf3_cpu_s_per_gib"),
      ratio("partmob_cpu_s_per_gib", "qemu_cpu_s_per_gib"),
      ratio("partmob_cpu_s_per_gib", "criu_cpu_s_per_gib"), "<= 1.0, 0.5"))
print("%-44s%10s%10s%10s  %s" % ("partmob downtime / peer's", "",
      ratio("partmob_idle_downtime_ms", "qemu_downtime_ms"),
      ratio("partmob_downtime_ms", "criu_downtime_ms"), "<= 0.2 (idle), 0.02 (writer)"))
print("%-44s%10s%10s%10s  %s" % ("partmob over kTLS / kTLS link alone",
      ratio("partmob_tls_bulk_mbps", "ktls_link_mbps"), "", "",
      "kTLS link alone / partmob plain: " +
      ratio("ktls_link_mbps", "partmob_bulk_mbps")))
print()
keys = ["criu_bulk_mbps", "criu_downtime_ms", "criu_total_s", "criu_cpu_s_per_gib",
        "qemu_bulk_mbps", "qemu_multifd_mbps", "qemu_downtime_ms", "qemu_cpu_s_per_gib"]
missing = [k for k in keys if k not in r and k + "_skipped" not in r]
for i, why in enumerate(notes):
    print("[%d] %s" % (i + 1, why))
if missing:
    print("-  neither measured nor said why: %s" % ", ".join(missing))
print("downtime: partmob's covers memory only (freeze to resume); QEMU's is its own figure and")
print("  includes device state; CRIU's is how long the process stood still (final dump, image")
print("  copy, restore); CRIU's total time runs from its first pre-dump")
print("MB/s = 10^6 bytes/s; CPU = user+sys of the whole guest (both ends, kernel threads included)")
print("medians of 3 runs; every run is in the JSON under KEY_runs")
if len(sys.argv) > 2 and sys.argv[2] == "small":
    print("BENCH_SCALE=small: 256 MiB instead of 1 GiB, 4 GiB sparse with 64 MiB touched, iperf3 3 s")
print("guest: %s" % sys.argv[3])
PY
echo "results: $json"
