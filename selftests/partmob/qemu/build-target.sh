#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# build-target.sh TARGET [extra kbuild args, e.g. W=1 C=1]
#
# Builds everything one target of the test matrix needs into build/TARGET/
# (see CONTRACT.md):
#   partmob.ko      module built against the target's KDIR, from a copy of
#                   Kbuild, kernel/ and include/ in build/TARGET/kmod
#   partmobctl      static
#   tests/          static selftest programs + tests/list (run order)
#
# Environment:
#   PARTMOB_CACHE        cache made by deps.sh (default ~/.cache/partmob)
#   PARTMOB_BUILD_PARTS  subset of "module user tests" (default: all three)
#
# Extra arguments go to the module build only.  With extra arguments the
# module is rebuilt from scratch, so that W=1 / C=1 see every file.

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
CACHE=${PARTMOB_CACHE:-$HOME/.cache/partmob}
PARTS=${PARTMOB_BUILD_PARTS:-module user tests}

die() { echo "build-target: ERROR: $*" >&2; exit 1; }
log() { echo "build-target: $*" >&2; }

(($# >= 1)) || die "usage: $0 TARGET [kbuild args...]"
TARGET=$1
shift
ENVF=$CACHE/targets/$TARGET/env
[[ -f $ENVF ]] || die "no $ENVF: unknown target '$TARGET' or deps missing; run 'make deps'"

# Variables from an outer make (make check ARCH=... KDIR=...) must not
# leak into the builds of other targets.
unset MAKEFLAGS MFLAGS MAKEOVERRIDES MAKELEVEL GNUMAKEFLAGS
unset TARGET KREL KARCH CROSS_COMPILE KDIR KIMAGE MODROOT QEMU CC SYSROOT BUSYBOX
# shellcheck disable=SC1090
. "$ENVF"
[[ -d $KDIR/ ]] || die "$TARGET: KDIR $KDIR missing; run 'make deps'"

OUT=$REPO/build/$TARGET
JOBS=-j$(nproc)
mkdir -p "$OUT"

case $KARCH in
x86)
	triplet=x86_64-linux-gnu
	elf_re='x86-64'
	LIBNL_CFLAGS=$(pkg-config --cflags libnl-genl-3.0) ||
		die "pkg-config libnl-genl-3.0 failed; run 'make deps'"
	LIBNL_LIBS="-lnl-genl-3 -lnl-3 -lpthread -lm"
	SSL_CFLAGS=""
	SSL_LIBS="-lssl -lcrypto"
	;;
powerpc)
	triplet=powerpc64le-linux-gnu
	elf_re='64-bit LSB .*PowerPC'
	[[ -f $SYSROOT/usr/lib/$triplet/libnl-genl-3.a ]] ||
		die "$TARGET: no libnl in $SYSROOT; run 'make deps'"
	LIBNL_CFLAGS="-I$SYSROOT/usr/include/libnl3"
	LIBNL_LIBS="-L$SYSROOT/usr/lib/$triplet -lnl-genl-3 -lnl-3 -lpthread -lm"
	[[ -f $SYSROOT/usr/lib/$triplet/libssl.a ]] ||
		die "$TARGET: no libssl.a in $SYSROOT; run 'make deps'"
	SSL_CFLAGS="-I$SYSROOT/usr/include/$triplet -I$SYSROOT/usr/include"
	SSL_LIBS="-L$SYSROOT/usr/lib/$triplet -lssl -lcrypto"
	;;
*) die "$TARGET: unknown KARCH '$KARCH'" ;;
esac
command -v "$CC" >/dev/null || die "$TARGET: compiler $CC missing; run 'make deps'"

check_static() {	# check_static FILE...
	local f d
	for f in "$@"; do
		d=$(file -b "$f")
		[[ $d =~ $elf_re ]] || die "$f: not a $TARGET binary: $d"
		[[ $d == *"statically linked"* || $d == *"static-pie linked"* ]] ||
			die "$f: not statically linked: $d"
	done
}

build_module() {
	local K=$OUT/kmod
	# A build with extra arguments (W=1, C=1) starts from scratch so that
	# every file is compiled and checked again.
	(($# == 0)) || rm -rf "$K"
	mkdir -p "$K"
	[[ -f $REPO/Kbuild ]] || die "no $REPO/Kbuild"
	# Copy the sources, never objects of an in-tree build; keep our own
	# objects for incremental builds.
	rsync -a --delete \
		--exclude='*.o' --exclude='*.ko' --exclude='*.mod' --exclude='*.mod.c' \
		--exclude='.*.cmd' --exclude='*.a' --exclude='.*.d' --exclude='*.symvers' \
		--exclude='modules.order' --exclude='.tmp_versions' \
		"$REPO/Kbuild" "$REPO/kernel" "$REPO/include" "$K/"
	log "$TARGET: module ($KREL)${*:+ $*}"
	make "$JOBS" -C "$KDIR" M="$K" ARCH="$KARCH" CROSS_COMPILE="$CROSS_COMPILE" "$@" modules
	[[ -f $K/partmob.ko ]] || die "$TARGET: $K/partmob.ko not built"
	local vm
	vm=$(modinfo -F vermagic "$K/partmob.ko")
	[[ $vm == "$KREL "* ]] || die "$TARGET: partmob.ko vermagic '$vm' is not for $KREL"
	cp "$K/partmob.ko" "$OUT/partmob.ko"
}

build_user() {
	[[ -f $REPO/user/Makefile ]] || die "no $REPO/user/Makefile"
	log "$TARGET: partmobctl (static, $CC)"
	make "$JOBS" --no-print-directory -C "$REPO/user" CC="$CC" STATIC=1 OUTPUT="$OUT" \
		LIBNL_CFLAGS="$LIBNL_CFLAGS" LIBNL_LIBS="$LIBNL_LIBS" \
		SSL_CFLAGS="$SSL_CFLAGS" SSL_LIBS="$SSL_LIBS"
	[[ -x $OUT/partmobctl ]] || die "$TARGET: $OUT/partmobctl not built"
	check_static "$OUT/partmobctl"
}

build_tests() {
	local S=$REPO/selftests/partmob T=$OUT/tests t list=()
	[[ -f $S/Makefile ]] || die "no $S/Makefile"
	[[ -f $CACHE/ksft/kselftest_harness.h ]] || die "no kselftest headers in $CACHE/ksft; run 'make deps'"
	mkdir -p "$T"
	log "$TARGET: selftests (static, $CC)"
	make "$JOBS" --no-print-directory -C "$S" CC="$CC" STATIC=1 OUTPUT="$T" \
		KSFT_INC="$CACHE/ksft" LIBNL_CFLAGS="$LIBNL_CFLAGS" LIBNL_LIBS="$LIBNL_LIBS" \
		SSL_CFLAGS="$SSL_CFLAGS" SSL_LIBS="$SSL_LIBS"
	make -s --no-print-directory -C "$S" OUTPUT="$T" print-tests | tr -s ' \t' '\n' >"$T/list.new"
	while read -r t; do
		[[ -n $t ]] || continue
		[[ -x $T/$t ]] || die "$TARGET: test '$t' from print-tests not built in $T"
		list+=("$T/$t")
	done <"$T/list.new"
	((${#list[@]} > 0)) || die "$TARGET: print-tests listed no tests"
	check_static "${list[@]}"
	mv "$T/list.new" "$T/list"
}

for p in $PARTS; do
	case $p in
	module) build_module "$@" ;;
	user) build_user ;;
	tests) build_tests ;;
	*) die "unknown part '$p' in PARTMOB_BUILD_PARTS (module user tests)" ;;
	esac
done
log "$TARGET: done -> $OUT"
