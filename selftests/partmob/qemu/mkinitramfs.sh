#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# mkinitramfs.sh TARGET OUT.cpio.gz [MODE [TESTS...]]
#
# Builds the guest initramfs of TARGET from build/TARGET/ (see CONTRACT.md):
#   /bin/busybox                  $BUSYBOX of the target env (applets are
#                                 linked at boot by /init)
#   /init                         init.sh
#   /lib/partmob/partmob.ko       build/TARGET/partmob.ko
#   /usr/sbin/partmobctl          build/TARGET/partmobctl (if built)
#   /usr/lib/partmob/tests/       build/TARGET/tests/* (programs + list;
#                                 pmdemo and pmcounter for the demo)
#   /lib/modules/KREL/            $PARTMOB_GUEST_MODULES (default: veth tls gcm
#                                 ghash_generic ctr xts aesni_intel ghash_clmulni_intel
#                                 vmx_crypto zram 9p 9pnet_virtio virtio_pci kvm
#                                 kvm_amd kvm_hv virtio_net ibmveth: the last
#                                 two for vm_linux's source host)
#                                 and their dependencies, for modprobe
#   /etc/passwd, /etc/group       root and nobody (65534)
#   /etc/partmob.conf             MODE (check | demo | shell, default check),
#                                 TESTS (default: all, list order) and the
#                                 inner guests' accelerator (lib.sh
#                                 pm_inner_accel)
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[ $# -ge 2 ] || pm_die "usage: mkinitramfs.sh TARGET OUT.cpio.gz [MODE [TESTS...]]"
target=$1
out=$2
mode=${3:-check}
shift $(( $# < 3 ? $# : 3 ))
tests="$*"

pm_load_env "$target"
bdir="$PM_ROOT/build/$target"

[ -f "$bdir/partmob.ko" ] || pm_die "$bdir/partmob.ko missing; run build-target.sh $target"

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
chmod 0755 "$root"	# mktemp's 0700 would become the guest's / (unprivileged tests)
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,usr/lib/partmob/tests,lib/partmob,etc,root,proc,sys,dev,tmp,run}
chmod 0700 "$root/root"

# Static binaries only: the guest has no C library.
check_static()
{
	if file -L "$1" 2>/dev/null | grep -q 'dynamically linked'; then
		pm_die "$1 is dynamically linked; the guest needs static binaries"
	fi
}

check_static "$BUSYBOX"
cp "$BUSYBOX" "$root/bin/busybox"
install -m 0755 "$PM_QEMU_DIR/init.sh" "$root/init"
cp "$bdir/partmob.ko" "$root/lib/partmob/partmob.ko"
if [ -f "$bdir/partmobctl" ]; then
	check_static "$bdir/partmobctl"
	install -m 0755 "$bdir/partmobctl" "$root/usr/sbin/partmobctl"
elif [ "$mode" = demo ]; then
	pm_die "$bdir/partmobctl missing"
fi

if [ -d "$bdir/tests" ]; then
	for f in "$bdir"/tests/*; do
		[ -f "$f" ] || continue
		case "$f" in
		*/list) cp "$f" "$root/usr/lib/partmob/tests/list" ;;
		*) [ -x "$f" ] || continue
		   check_static "$f"
		   install -m 0755 "$f" "$root/usr/lib/partmob/tests/" ;;
		esac
	done
fi
if [ "$mode" = demo ] && [ ! -x "$root/usr/lib/partmob/tests/pmdemo" ]; then
	pm_die "$bdir/tests/pmdemo missing (the demo's guest side)"
fi
if [ -z "$tests" ] && [ -f "$bdir/tests/list" ]; then
	tests=$(grep -v '^[[:space:]]*\(#\|$\)' "$bdir/tests/list" | tr '\n' ' ')
fi

# Kernel modules the tests may modprobe, with their dependencies; compressed
# ones are unpacked so that busybox modprobe needs no decompressor.
moddir="${MODROOT:-/}/lib/modules/$KREL"
if [ -f "$moddir/modules.dep" ] && [ -n "${PARTMOB_GUEST_MODULES-veth tls gcm ghash_generic ctr xts aesni_intel ghash_clmulni_intel vmx_crypto zram 9p 9pnet_virtio virtio_pci kvm kvm_amd kvm_hv virtio_net ibmveth}" ]; then
	mods=$(awk -v want="${PARTMOB_GUEST_MODULES-veth tls gcm ghash_generic ctr xts aesni_intel ghash_clmulni_intel vmx_crypto zram 9p 9pnet_virtio virtio_pci kvm kvm_amd kvm_hv virtio_net ibmveth}" '
		BEGIN { n = split(want, w, " "); for (i = 1; i <= n; i++) wanted[w[i]] = 1 }
		{
			sub(":", "", $1)
			name = $1; sub(".*/", "", name); sub("\\.ko.*", "", name)
			gsub("-", "_", name)
			if (name in wanted)
				for (i = 1; i <= NF; i++) print $i
		}' "$moddir/modules.dep" | sort -u)
	dst="$root/lib/modules/$KREL"
	mkdir -p "$dst"
	: >"$dst/modules.dep"
	for m in $mods; do
		ko=${m%.xz}; ko=${ko%.zst}; ko=${ko%.gz}
		mkdir -p "$dst/$(dirname "$ko")"
		case "$m" in
		*.xz) xz -dc "$moddir/$m" >"$dst/$ko" ;;
		*.zst) zstd -qdc "$moddir/$m" >"$dst/$ko" ;;
		*.gz) gzip -dc "$moddir/$m" >"$dst/$ko" ;;
		*) cp "$moddir/$m" "$dst/$ko" ;;
		esac
	done
	# modules.dep for just these modules, with the unpacked names.
	awk -v have="$mods" '
		BEGIN { n = split(have, h, " "); for (i = 1; i <= n; i++) ok[h[i]] = 1 }
		{ key = $1; sub(":", "", key) }
		key in ok {
			line = ""
			for (i = 1; i <= NF; i++) {
				f = $i; sub("\\.ko(\\.xz|\\.zst|\\.gz)", ".ko", f)
				line = line (i > 1 ? " " : "") f
			}
			print line
		}' "$moddir/modules.dep" >"$dst/modules.dep"
fi

cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$root/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
EOF
cat >"$root/etc/partmob.conf" <<EOF
PARTMOB_MODE=$mode
PARTMOB_TESTS="$tests"
PARTMOB_TEST_TIMEOUT=$(( ${PARTMOB_TEST_TIMEOUT:-300} * TIMEOUT_FACTOR ))
PARTMOB_INNER_ACCEL=$(pm_inner_accel "$target")
EOF

mkdir -p "$(dirname "$out")"
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | gzip -1) >"$out.tmp"
mv "$out.tmp" "$out"
