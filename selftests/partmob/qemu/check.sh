#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# check.sh: `make check`. Lint, then for every target kernel: build, pack an
# initramfs, boot it in QEMU, run the selftests there and judge the console.
#
# Selectors (make variables or environment):
#   TARGET=x86_64-6.1[,ppc64le-6.12...]   targets (default: all four)
#   T=info[,other]                        test programs (default: all)
#   LINT=0                                skip lint.sh
#   HOST=0                                skip host-tests.sh (run when T=
#                                         is not given, or names "host")
#   BUILD=0                               reuse build/<target>/ as it is
#   DEPS=0                                do not run deps.sh first
#   JOBS=N                                guests booted at once (default 1; 2 measured no faster)
#   TIMEOUT=S      (or PARTMOB_TIMEOUT)   seconds per guest (default 1500)
#   TEST_TIMEOUT=S (or PARTMOB_TEST_TIMEOUT) seconds per test program in
#                                         the guest (default 300)
#   PARTMOB_ACCEL=tcg|kvm|auto            see lib.sh
#   PARTMOB_INNER_ACCEL=tcg|kvm|auto      the QEMU guests the tests run in
#                                         the test guest (lib.sh pm_inner_accel)
#
# Per target, build/<target>/ gets console.log (serial console),
# console.log.cmd (the QEMU command line, to rerun by hand), initramfs.cpio.gz
# and failures.txt; build/logs/ gets lint.log and build-<target>.log;
# build/summary gets the last line.
#
# The last line printed is "N passed, N failed, N skipped" (lint checks
# included); the exit status is non-zero if anything failed.
set -euo pipefail

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

export PARTMOB_TIMEOUT=${TIMEOUT:-${PARTMOB_TIMEOUT:-1500}}
export PARTMOB_TEST_TIMEOUT=${TEST_TIMEOUT:-${PARTMOB_TEST_TIMEOUT:-300}}
jobs=${JOBS:-1}
targets=$(pm_select_targets | tr '\n' ' ')
tsel=${T:-}
tsel=${tsel//,/ }
logs="$PM_ROOT/build/logs"

total_pass=0 total_fail=0 total_skip=0
declare -A t_pass t_fail t_skip t_note

now() { date +%s; }

# ---- dependencies --------------------------------------------------------
# deps.sh is the setup step; it is idempotent and takes about a second when
# everything is there, so `make check` runs it too (DEPS=0 skips it), and a
# fresh machine needs nothing but `make check` (or `make demo` first).
mkdir -p "$logs"
if [ "${DEPS:-1}" != 0 ]; then
	echo "== deps (cache: $PARTMOB_CACHE)"
	# The debug target's kernel is built only when asked for.
	deps_targets=
	case " $targets " in *-debug" "*) deps_targets=$targets ;; esac
	if ! PARTMOB_TARGETS=${deps_targets:-${PARTMOB_TARGETS:-}} \
		bash "$PM_QEMU_DIR/deps.sh" >"$logs/deps.log" 2>&1; then
		tail -n 20 "$logs/deps.log" >&2
		pm_die "deps.sh failed (build/logs/deps.log)"
	fi
fi
missing=()
for t in $targets; do
	[ -r "$(pm_env_file "$t")" ] || missing+=("$(pm_env_file "$t")")
done
[ -r "$PARTMOB_CACHE/ksft/kselftest_harness.h" ] ||
	missing+=("$PARTMOB_CACHE/ksft/kselftest_harness.h")
if [ ${#missing[@]} -gt 0 ]; then
	echo "partmob: the kernel test matrix is missing from $PARTMOB_CACHE:" >&2
	printf '  %s\n' "${missing[@]}" >&2
	echo "partmob: run 'make deps' first (it fetches kernels, headers and tools)" >&2
	exit 2
fi
for tool in cpio gzip timeout; do
	command -v $tool >/dev/null || pm_die "$tool not installed; run 'make deps'"
done
mkdir -p "$logs"
rm -f "$PM_ROOT/build/summary"

# ---- steps on the host ---------------------------------------------------
# run_tap_step NAME SCRIPT: run SCRIPT (lint.sh, host-tests.sh), which
# prints "ok N - NAME: ..." / "not ok N - NAME: ..." lines, into
# build/logs/NAME.log; print its failures and add its counts to the totals.
run_tap_step()
{
	local name=$1 script=$2 log="$logs/$1.log" start rc=0 p f s
	echo "== $name"
	start=$(now)
	bash "$PM_QEMU_DIR/$script" >"$log" 2>&1 || rc=$?
	p=$(grep -Ec "^ok [0-9]+ - $name:" "$log" || true)
	s=$(grep -E "^(not )?ok [0-9]+ - $name:" "$log" | grep -Eic '#[[:space:]]*skip' || true)
	f=$(grep -Ec "^not ok [0-9]+ - $name:" "$log" || true)
	p=$((p - s))
	grep -E "^not ok [0-9]+ - $name:" "$log" | sed 's/^/  FAIL /' || true
	if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
		echo "  FAIL $script exited rc=$rc without a failing check; last lines:"
		tail -n 15 "$log" | sed 's/^/      /'
		f=1
	fi
	echo "$name: $p passed, $f failed, $s skipped ($(( $(now) - start )) s, log: build/logs/$name.log)"
	total_pass=$((total_pass + p)) total_fail=$((total_fail + f)) total_skip=$((total_skip + s))
	[ "$f" = 0 ] || t_note[$name]="$name: $f failed (build/logs/$name.log)"
}

# ---- lint ----------------------------------------------------------------
[ "${LINT:-1}" = 0 ] || run_tap_step lint lint.sh

# ---- host tests ----------------------------------------------------------
# Userspace parsers on the build host, a few seconds: the handshake's unit
# test and the frame parser's fuzz corpus (host-tests.sh). They run when
# T= is not given or names "host"; T=host alone boots no guest.
run_host=0
if [ "${HOST:-1}" != 0 ]; then
	case " $tsel " in
	"  ") run_host=1 ;;
	*" host "*) run_host=1 ;;
	esac
fi
tsel=$(echo " $tsel " | sed 's/ host / /g')
tsel=$(echo $tsel)
[ -z "${T:-}" ] || [ -n "$tsel" ] || targets=""
[ "$run_host" = 0 ] || run_tap_step host host-tests.sh

# ---- build and pack ------------------------------------------------------
ready=()
declare -A t_tests
for t in $targets; do
	bdir="$PM_ROOT/build/$t"
	t_pass[$t]=0 t_fail[$t]=0 t_skip[$t]=0
	if [ "${BUILD:-1}" != 0 ]; then
		echo "== $t: build"
		start=$(now)
		if ! bash "$PM_QEMU_DIR/build-target.sh" "$t" >"$logs/build-$t.log" 2>&1; then
			echo "  FAIL $t: build failed; last lines of build/logs/build-$t.log:"
			tail -n 30 "$logs/build-$t.log" | sed 's/^/      /'
			t_fail[$t]=1 t_note[$t]="build failed"
			continue
		fi
		echo "   built in $(( $(now) - start )) s"
	fi
	all=""
	[ -f "$bdir/tests/list" ] &&
		all=$(grep -v '^[[:space:]]*\(#\|$\)' "$bdir/tests/list" | tr '\n' ' ')
	run="$all"
	# Programs a target leaves out of its default run (its env's SKIP_TESTS).
	skipped=$(. "$(pm_env_file "$t")" && echo "${SKIP_TESTS:-}")
	if [ -z "$tsel" ] && [ -n "$skipped" ]; then
		run=$(for p in $all; do case " $skipped " in *" $p "*) ;; *) echo "$p" ;; esac; done | tr '\n' ' ')
		echo "   $t leaves out: $skipped (its env's SKIP_TESTS; T= runs them)"
	fi
	if [ -n "$tsel" ]; then
		run=""
		for p in $tsel; do
			case " $all " in
			*" $p "*) run="${run:+$run }$p" ;;
			*)
				# A program built but left out of the default run
				# (TEST_GEN_PROGS_EXTENDED in the Makefile).
				if [ -x "$bdir/tests/$p" ]; then
					run="${run:+$run }$p"
				else
					echo "  FAIL $t: no test program '$p' (build/$t/tests/list: ${all:-empty})"
					t_fail[$t]=$(( ${t_fail[$t]} + 1 ))
				fi ;;
			esac
		done
	fi
	[ -n "$all" ] || echo "   note: build/$t/tests/list is missing or empty; the guest only loads and unloads the module"
	run=$(echo $run)
	t_tests[$t]="$run"
	if ! bash "$PM_QEMU_DIR/mkinitramfs.sh" "$t" "$bdir/initramfs.cpio.gz" check $run \
			>"$logs/initramfs-$t.log" 2>&1; then
		echo "  FAIL $t: initramfs: $(tail -n 3 "$logs/initramfs-$t.log")"
		t_fail[$t]=$(( ${t_fail[$t]} + 1 )) t_note[$t]="initramfs failed"
		continue
	fi
	ready+=("$t")
done

# ---- boot ----------------------------------------------------------------
# A kernel that dies before it runs /init never saw partmob (seen about
# one boot in ten: an int3 text-patching oops of Debian's 6.12 at boot
# under multi-threaded TCG): boot such a guest again, up to twice, keeping
# each failed console as console.log.boot-failure.N and saying so. A
# failure after /init is never retried.
boot()
{
	local t=$1 bdir="$PM_ROOT/build/$1" rc=0 try
	: >"$logs/qemu-$t.log"
	rm -f "$bdir"/console.log.boot-failure*
	for try in 1 2 3; do
		rc=0
		bash "$PM_QEMU_DIR/run-guest.sh" "$t" "$bdir/initramfs.cpio.gz" \
			"$bdir/console.log" >>"$logs/qemu-$t.log" 2>&1 || rc=$?
		grep -q '### partmob-guest-begin' "$bdir/console.log" && break
		[ "$try" = 3 ] && break
		mv "$bdir/console.log" "$bdir/console.log.boot-failure.$try"
		echo "   $t: the kernel died before /init (build/$t/console.log.boot-failure.$try); booting it again" |
			tee -a "$logs/qemu-$t.log"
	done
	echo "$rc" >"$bdir/console.log.rc"
}

pids=()
for t in "${ready[@]}"; do
	if [ ${#pids[@]} -ge "$jobs" ]; then
		wait "${pids[0]}" || true
		pids=("${pids[@]:1}")
	fi
	echo "== $t: boot ($(pm_load_env "$t"; pm_accel "$t"), tests: ${t_tests[$t]:-none})"
	boot "$t" &
	pids+=($!)
	[ "$jobs" -gt 1 ] || { wait "${pids[0]}" || true; pids=(); }
done
for p in "${pids[@]}"; do wait "$p" || true; done

# ---- judge ---------------------------------------------------------------
echo
for t in $targets; do
	bdir="$PM_ROOT/build/$t"
	case " ${ready[*]} " in *" $t "*) ;; *) continue ;; esac
	read -r accel secs _ <"$bdir/console.log.time" 2>/dev/null || { accel='?'; secs='?'; }
	rc=$(cat "$bdir/console.log.rc" 2>/dev/null || echo 255)
	[ -f "$bdir/console.log" ] || : >"$bdir/console.log"
	# shellcheck disable=SC2086 # t_tests holds a list of names
	out=$(bash "$PM_QEMU_DIR/tap.sh" "$bdir/console.log" ${t_tests[$t]}) ||
		out="  FAIL tap.sh could not read build/$t/console.log
COUNTS 0 1 0"
	read -r _ p f s <<<"$(tail -n 1 <<<"$out")"
	failures=$(sed '$d' <<<"$out")
	if [ "$rc" = 124 ]; then
		failures="${failures:+$failures
}  FAIL guest timed out after ${PARTMOB_TIMEOUT}s"
		f=$((f + 1))
	elif [ "$rc" != 0 ]; then
		failures="${failures:+$failures
}  FAIL qemu exited rc=$rc: $(grep -v '^$' "$logs/qemu-$t.log" | tail -n 3 | tr '\n' ' ')"
		f=$((f + 1))
	fi
	t_pass[$t]=$(( ${t_pass[$t]} + p )) t_fail[$t]=$(( ${t_fail[$t]} + f ))
	t_skip[$t]=$(( ${t_skip[$t]} + s ))
	printf '%s\n' "$failures" | grep -v '^$' >"$bdir/failures.txt" || true
	echo "$t: ${t_pass[$t]} passed, ${t_fail[$t]} failed, ${t_skip[$t]} skipped" \
		"(guest $accel ${secs}s, log: build/$t/console.log)"
	[ -z "$failures" ] || printf '%s\n' "$failures"
done
for t in $targets; do
	case " ${ready[*]} " in *" $t "*) continue ;; esac
	echo "$t: ${t_pass[$t]} passed, ${t_fail[$t]} failed, ${t_skip[$t]} skipped (${t_note[$t]:-not run})"
done

for t in $targets; do
	total_pass=$((total_pass + ${t_pass[$t]}))
	total_fail=$((total_fail + ${t_fail[$t]}))
	total_skip=$((total_skip + ${t_skip[$t]}))
done
summary="$total_pass passed, $total_fail failed, $total_skip skipped"
echo "$summary" >"$PM_ROOT/build/summary"
echo "$summary"
[ "$total_fail" = 0 ]
