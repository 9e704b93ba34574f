#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# demo.sh: `make demo`. Fetches the dependencies (deps.sh), builds the
# x86_64-6.1 target, boots it in QEMU and shows partmob at work: the guest
# loads partmob.ko and runs `partmobctl info` and `partmobctl info --json`.
#
#   DEPS=0           skip deps.sh (already run); deps.sh prepares only the
#                    demo's target unless PARTMOB_TARGETS says otherwise
#   TARGET=...       another target (default x86_64-6.1)
#   PARTMOB_ACCEL=   tcg | kvm | auto (see lib.sh)
#
# The whole console is kept in build/<target>/demo-console.log.
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

pm_load_env "$target"
echo "== boot $target guest (kernel $KREL, $(pm_accel "$target")), load partmob.ko, run partmobctl"
rc=0
bash "$PM_QEMU_DIR/run-guest.sh" "$target" "$initrd" "$log" || rc=$?

# The guest's side of the story, without the boot log.
awk '/### partmob-demo-begin/ { on = 1; next }
     /### partmob-demo-end/ { on = 0 }
     on && NF' "$log" | sed 's/^/  guest| /'

demo_rc=$(sed -n 's/.*### partmob-demo-end rc=\([0-9]*\).*/\1/p' "$log")
problems=$(bash "$PM_QEMU_DIR/tap.sh" "$log" | sed '$d')
if [ -n "$problems" ]; then
	echo "$problems"
fi
if [ "$rc" != 0 ] || [ -z "$demo_rc" ] || [ "$demo_rc" != 0 ] || [ -n "$problems" ]; then
	pm_die "demo failed (qemu rc=$rc, demo rc=${demo_rc:-none}); console: $log"
fi
echo "== demo done (console: build/$target/demo-console.log)"
