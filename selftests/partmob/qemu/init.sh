#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0
#
# /init of the partmob test guest (busybox sh). mkinitramfs.sh installs it.
#
# /etc/partmob.conf (written by mkinitramfs.sh) sets the defaults:
#   PARTMOB_MODE          check | demo | bench | shell
#   PARTMOB_TESTS         test programs to run, in order (check mode)
#   PARTMOB_TEST_TIMEOUT  seconds per test program (0 = none)
#   PARTMOB_INNER_ACCEL   kvm | tcg | auto: QEMU guests run by the tests
# and the kernel command line may override them with partmob_mode=,
# partmob_tests= (comma list), partmob_test_timeout= and
# partmob_bench_args= (arguments of pmbench in bench mode).
#
# Everything the host parses is framed by lines starting with "### partmob-":
#   ### partmob-guest-begin kernel=REL arch=ARCH
#   ### partmob-insmod rc=N
#   ### partmob-test-begin NAME
#   ... TAP of NAME ...
#   ### partmob-test-end NAME rc=N
#   ### partmob-dmesg-begin NAME   (kernel log written while NAME ran)
#   ### partmob-dmesg-end NAME
#   ### partmob-rmmod rc=N
#   ### partmob-guest-end
# The kernel console is kept quiet (loglevel 1) so that printk never
# interleaves with TAP; the kernel log is read with dmesg instead.

/bin/busybox mkdir -p /proc /sys /dev /tmp /run /root /bin /sbin /usr/bin /usr/sbin
/bin/busybox --install -s

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs tmpfs /run
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null

export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root
export PARTMOB_KO=/lib/partmob/partmob.ko
export PARTMOBCTL=/usr/sbin/partmobctl
TESTDIR=/usr/lib/partmob/tests

dmesg -n 1
hostname partmob-guest

# The host's root over 9p, read-only, where the harness offers it (x86_64
# guests; ppc64le guests get a root holding Debian's ppc64el QEMU): tests
# that need the host's programs (QEMU) look in /host.
for m in virtio_pci 9pnet_virtio 9p; do modprobe -q "$m" 2>/dev/null; done
mkdir -p /host
mount -t 9p -o trans=virtio,version=9p2000.L,ro host /host 2>/dev/null || rmdir /host
# ppc64le: the target's kernel image, for vm_linux's inner Linux guest.
mkdir -p /kboot
mount -t 9p -o trans=virtio,version=9p2000.L,ro kboot /kboot 2>/dev/null || rmdir /kboot
ip link set lo up 2>/dev/null
# Kernel TLS and the AES-GCM it encrypts with (accelerated where the CPU
# model has it). Loaded here: the guest has no modules.alias, so the
# crypto API could not load "gcm(aes)" on demand.
for m in tls gcm ghash_generic ctr xts aesni_intel ghash_clmulni_intel vmx_crypto; do
	modprobe -q "$m" 2>/dev/null
done

PARTMOB_MODE=check
PARTMOB_TESTS=
PARTMOB_TEST_TIMEOUT=300
[ -r /etc/partmob.conf ] && . /etc/partmob.conf
for arg in $(cat /proc/cmdline); do
	case "$arg" in
	partmob_mode=*) PARTMOB_MODE=${arg#*=} ;;
	partmob_tests=*) PARTMOB_TESTS=$(echo "${arg#*=}" | tr , ' ') ;;
	partmob_test_timeout=*) PARTMOB_TEST_TIMEOUT=${arg#*=} ;;
	partmob_bench_args=*) PARTMOB_BENCH_ARGS=${arg#*=} ;;
	esac
done
export PARTMOB_INNER_ACCEL

# Nested KVM for the tests' inner guests (kvm_amd on x86_64, kvm_hv on
# ppc64le): load it now, while the guest is quiet, and hold one VM until
# power-off, so that no test creates the first or destroys the last VM
# (see guest/pmkvmhold.c).
case "$(uname -m)" in
x86_64) kvm_mod=kvm_amd ;;
ppc64le) kvm_mod=kvm_hv ;;
*) kvm_mod= ;;
esac
if [ -n "$kvm_mod" ] && [ "$PARTMOB_INNER_ACCEL" != tcg ] &&
   [ -x "$TESTDIR/pmkvmhold" ] && modprobe -q "$kvm_mod" 2>/dev/null &&
   [ -c /dev/kvm ]; then
	"$TESTDIR/pmkvmhold" </dev/null &
fi

# dmesg_section NAME: print and clear the kernel log between markers.
dmesg_section()
{
	echo "### partmob-dmesg-begin $1"
	dmesg -c
	echo "### partmob-dmesg-end $1"
}

finish()
{
	dmesg_section final
	echo "### partmob-guest-end"
	sync
	poweroff -f
	sleep 10
	echo o >/proc/sysrq-trigger
}

echo "### partmob-guest-begin kernel=$(uname -r) arch=$(uname -m) mode=$PARTMOB_MODE"
dmesg_section boot

if [ "$PARTMOB_MODE" = shell ]; then
	echo "partmob: shell; PARTMOB_KO=$PARTMOB_KO PARTMOBCTL=$PARTMOBCTL; exit to power off"
	setsid cttyhack sh
	finish
fi

# kmemleak (debug kernels): forget what boot left, so that a scan after the
# tests and the unload reports only what they leaked.
kmemleak=/sys/kernel/debug/kmemleak
[ -w $kmemleak ] && echo clear >$kmemleak

insmod "$PARTMOB_KO"
rc=$?
echo "### partmob-insmod rc=$rc"
if [ $rc -ne 0 ]; then
	dmesg_section insmod
	finish
fi

case "$PARTMOB_MODE" in
check)
	for t in $PARTMOB_TESTS; do
		echo "### partmob-test-begin $t"
		if [ ! -x "$TESTDIR/$t" ]; then
			echo "not ok 1 $t: no such test program in the guest"
			rc=127
		else
			cd /tmp
			if [ "${PARTMOB_TEST_TIMEOUT:-0}" -gt 0 ]; then
				timeout "$PARTMOB_TEST_TIMEOUT" "$TESTDIR/$t" </dev/null 2>&1
			else
				"$TESTDIR/$t" </dev/null 2>&1
			fi
			rc=$?
			cd /
		fi
		# A test's last line may lack its newline: start the marker afresh.
		echo
		if [ $rc -eq 143 ] && [ "${PARTMOB_TEST_TIMEOUT:-0}" -gt 0 ]; then
			echo "### partmob-test-end $t rc=$rc timed-out=$PARTMOB_TEST_TIMEOUT"
		else
			echo "### partmob-test-end $t rc=$rc"
		fi
		dmesg_section "$t"
	done
	;;
bench)
	# pmbench prints its own ### partmob-bench-begin/end frame.
	cd /tmp
	"$TESTDIR/pmbench" $PARTMOB_BENCH_ARGS 2>&1
	rc=$?
	echo
	echo "### partmob-bench-rc rc=$rc"
	cd /
	dmesg_section bench
	;;
demo)
	echo "### partmob-demo-begin"
	demo_rc=0
	demo()
	{
		echo "# $*"
		"$@" 2>&1 || demo_rc=$?
	}
	echo "# insmod $PARTMOB_KO"
	demo partmobctl info
	echo
	# A live migration between two hosts (network namespaces); pmdemo
	# prints the story and checks it, exit status 0 if all went well.
	cd /tmp
	echo "# pmdemo"
	"$TESTDIR/pmdemo" 2>&1 || demo_rc=$?
	cd /
	echo
	echo "### partmob-demo-end rc=$demo_rc"
	;;
*)
	echo "partmob: unknown mode '$PARTMOB_MODE'"
	;;
esac

# Unloading must work after the tests (references dropped, nothing leaked
# that pins the module). A test may have unloaded it already.
if grep -q '^partmob ' /proc/modules; then
	rmmod partmob
	rc=$?
	if [ $rc != 0 ]; then
		# What still holds it: references, regions, partmob threads.
		echo "# refcnt $(cat /sys/module/partmob/refcnt 2>/dev/null)"
		ls /dev/partmob 2>&1 | sed 's/^/# dev: /'
		for p in /proc/[0-9]*; do
			case "$(cat "$p/comm" 2>/dev/null)" in
			partmob*) echo "# $(cat "$p/comm") ${p#/proc/}:"
				sed 's/^/#   /' "$p/stack" 2>/dev/null ;;
			esac
		done
		# A migration thread drops its module reference as the last
		# thing it does, which can be after partmobctl saw the migration
		# end and the test deleted its regions: give it a moment.
		sleep 2
		rmmod partmob
		rc=$?
		echo "# rmmod again 2 s later: rc=$rc"
	fi
	echo "### partmob-rmmod rc=$rc"
else
	echo "### partmob-rmmod rc=0 (not loaded)"
fi
# Leaks: an object must be older than 5 s and unreferenced in two scans to
# be reported; tap.sh fails the run on any "unreferenced object".
if [ -w $kmemleak ]; then
	sleep 6
	echo scan >$kmemleak
	echo scan >$kmemleak
	echo "### partmob-dmesg-begin kmemleak"
	cat $kmemleak
	echo "### partmob-dmesg-end kmemleak"
fi
finish
