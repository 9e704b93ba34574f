#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# demo.sh: `make demo`. Fetches the dependencies (deps.sh), builds the
# x86_64-6.1 target, boots it in QEMU and shows partmob at work: the guest
# loads partmob.ko, runs `partmobctl info`, then pmdemo
# (selftests/partmob/demo/): a workload migrated live between two hosts
# (network namespaces) and checked at the end.
#
#   DEPS=0           skip deps.sh (already run); deps.sh prepares only the
#                    demo's target unless PARTMOB_TARGETS says otherwise
#   TARGET=...       another target (default x86_64-6.1)
#   PARTMOB_ACCEL=   tcg | kvm | auto (see lib.sh)
#   PARTMOB_TIMEOUT= seconds before the guest is killed (default 600)
#
# The guest's side is printed as it happens, each line prefixed "guest| ".
# partmobctl start's progress line is redrawn in place on a terminal and
# printed about once a second otherwise. The whole console is kept in
# build/<target>/demo-console.log.
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

target=${TARGET:-x86_64-6.1}
case "$target" in *,*|*" "*) pm_die "demo runs one TARGET" ;; esac
pm_select_targets >/dev/null
TARGET=$target
bdir="$PM_ROOT/build/$target"
logs="$PM_ROOT/build/logs"
log="$bdir/demo-console.log"

if [ "${DEPS:-1}" != 0 ]; then
	echo "== deps (kernels, headers, cross tools; cached in $PARTMOB_CACHE)"
	PARTMOB_TARGETS=${PARTMOB_TARGETS:-$target} bash "$PM_QEMU_DIR/deps.sh"
fi

mkdir -p "$logs"
echo "== build $target"
if ! bash "$PM_QEMU_DIR/build-target.sh" "$target" >"$logs/build-$target.log" 2>&1; then
	tail -n 30 "$logs/build-$target.log" >&2
	pm_die "build of $target failed (build/logs/build-$target.log)"
fi

initrd="$bdir/demo.cpio.gz"
bash "$PM_QEMU_DIR/mkinitramfs.sh" "$target" "$initrd" demo

# The console filter: stdin is QEMU's serial console. All of it goes to
# LOG (carriage returns removed, as run-guest.sh writes it); the lines
# between the demo markers go to stdout as they come, prefixed. A line the
# guest draws again after a lone "\r" (a progress line) is redrawn in
# place on a terminal; otherwise it is printed at most once a second.
show_py=$(cat <<'PY'
import os, re, shutil, sys, time

log = open(sys.argv[1], "wb")
tty = sys.stdout.isatty()
cols = shutil.get_terminal_size((100, 24)).columns
pfx = "  guest| "
# Escape sequences, and one cut short at the end of what has come so far.
esc = re.compile(rb"\x1b\[[0-9;?]*[@-~]|\x1b(\[[0-9;?]*)?$")
ctl = re.compile(rb"[\x00-\x08\x0b-\x1f\x7f]")
on = False          # between the markers
cur = b""           # the console line so far
cr = False          # a "\r" whose meaning the next byte tells
drawn = False       # a partial line is on the terminal
snap, snap_t = None, 0.0


def text(b):
    return ctl.sub(b"", esc.sub(b"", b)).decode("utf-8", "replace").rstrip()


def put(s):
    sys.stdout.write(s)


def full_line(b):
    global on, drawn
    t = text(b)
    if "### partmob-demo-begin" in t:
        on = True
        return
    if "### partmob-demo-end" in t:
        on = False
    if not on:
        return
    if drawn:
        put("\r\033[K")
        drawn = False
    put((pfx + t) if t else pfx.rstrip())
    put("\n")


def replaced(b):
    # A partial line that the guest is about to draw again.
    global snap, snap_t
    t = text(b)
    if tty or not on or not t:
        return
    now = time.monotonic()
    if t != snap and now - snap_t >= 1.0:
        put(pfx + t + "\n")
        snap, snap_t = t, now


while True:
    data = os.read(0, 65536)
    if not data:
        break
    log.write(data.replace(b"\r", b""))
    log.flush()
    for c in data:
        if cr:
            cr = False
            if c != 10:
                replaced(cur)
                cur = b""
        if c == 13:
            cr = True
        elif c == 10:
            full_line(cur)
            cur = b""
        else:
            cur += bytes((c,))
    if tty and on:
        t = text(cur)
        if t or drawn:
            put("\r\033[K" + (pfx + t)[:cols - 1])
            drawn = bool(t)
    sys.stdout.flush()
if cur:
    full_line(cur)
sys.stdout.flush()
PY
)

pm_load_env "$target"
accel=$(pm_accel "$target")
echo "== boot $target guest (kernel $KREL, $accel), load partmob.ko, migrate a running workload"
# As run-guest.sh boots it, with the console shown as it comes.
pm_qemu_args "$accel" "$initrd" "quiet loglevel=1"
printf '%q ' "${PM_QEMU_ARGS[@]}" >"$log.cmd"
echo >>"$log.cmd"
rc=0
timeout -k 10 "${PARTMOB_TIMEOUT:-600}" "${PM_QEMU_ARGS[@]}" </dev/null 2>&1 |
	python3 -c "$show_py" "$log" || rc=${PIPESTATUS[0]}
if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
	echo "partmob: $target guest timed out after ${PARTMOB_TIMEOUT:-600}s" >&2
fi

demo_rc=$(sed -n 's/.*### partmob-demo-end rc=\([0-9]*\).*/\1/p' "$log")
report=$(bash "$PM_QEMU_DIR/tap.sh" "$log" | sed '$d')
[ -z "$report" ] || echo "$report"
problems=$(grep '^  FAIL' <<<"$report" || true)
if [ "$rc" != 0 ] || [ -z "$demo_rc" ] || [ "$demo_rc" != 0 ] || [ -n "$problems" ]; then
	pm_die "demo failed (qemu rc=$rc, demo rc=${demo_rc:-none}); console: $log"
fi
echo "== demo done (console: build/$target/demo-console.log)"
