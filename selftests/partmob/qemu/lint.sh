#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# lint.sh (`make lint`): static checks, printed as TAP lines
#
#   ok N - lint: <what>        /   not ok N - lint: <what>
#
#   - checkpatch.pl --strict --no-tree on Kbuild, kernel/*.[ch] and the uapi
#     header;
#   - for every target: the module built with W=1 C=1 (gcc extra warnings +
#     sparse) must print no warning at all;
#   - for every target: partmobctl and the selftests build (their Makefiles
#     use -Werror);
#   - Documentation/*.rst parse with docutils without a warning (a broken
#     table or list loses text when the documents are rendered).
#
# Exits non-zero if any check failed.  Logs: build/lint/.
#
# Environment:
#   LINT_TARGETS        targets to check (default: all five; the debug one
#                       only where make deps has built it)
#   CHECKPATCH_IGNORE   comma-separated checkpatch types to ignore (default none)
#   PARTMOB_CACHE       cache made by deps.sh (default ~/.cache/partmob)

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
CACHE=${PARTMOB_CACHE:-$HOME/.cache/partmob}
export PARTMOB_CACHE=$CACHE
TARGETS=${LINT_TARGETS:-x86_64-6.1 x86_64-6.12 ppc64le-6.1 ppc64le-6.12 x86_64-6.1-debug}
LOGS=$REPO/build/lint
mkdir -p "$LOGS"
cd "$REPO"

N=0 PASS=0 FAIL=0 SKIP=0

ok() { N=$((N + 1)); PASS=$((PASS + 1)); echo "ok $N - lint: $1"; }
not_ok() { N=$((N + 1)); FAIL=$((FAIL + 1)); echo "not ok $N - lint: $1"; }
skip() { N=$((N + 1)); SKIP=$((SKIP + 1)); echo "ok $N - lint: $1 # SKIP $2"; }
diag() { awk 'NR <= 60 { print "# " $0 }'; }	# reads all input: no SIGPIPE

# deps.sh never ran at all: skip what needs its cache, and say so.
deps_missing() { [[ ! -d $CACHE/targets && ! -d $CACHE/checkpatch ]]; }

# Lines that are not warnings of our code:
#  - glibc's note about getaddrinfo & co. in static binaries (libnl.a uses them)
benign() { grep -v -E "in statically linked applications requires at runtime"; }

# ---------------------------------------------------------- checkpatch ----

CP=$CACHE/checkpatch/checkpatch.pl
files=(Kbuild kernel/*.[ch] include/uapi/linux/partmob.h)
if [[ ! -x $CP ]]; then
	if deps_missing; then
		skip "checkpatch" "no $CP: run make deps"
	else
		not_ok "checkpatch: $CP missing (run make deps)"
	fi
else
	cp_args=(--no-tree --strict --show-types --no-summary --quiet -f)
	[[ -z ${CHECKPATCH_IGNORE:-} ]] || cp_args+=(--ignore "$CHECKPATCH_IGNORE")
	for f in "${files[@]}"; do
		if [[ ! -f $f ]]; then
			not_ok "checkpatch $f (missing)"
			continue
		fi
		log=$LOGS/checkpatch-${f//\//_}.log
		extra=()
		# compat.h is the one place that compares kernel versions (see its
		# header comment): those two checks cannot apply to it.
		[[ $f == kernel/compat.h ]] &&
			extra=(--ignore LINUX_VERSION_CODE,CONSTANT_COMPARISON)
		if "$CP" "${cp_args[@]}" "${extra[@]}" "$f" >"$log" 2>&1 && [[ ! -s $log ]]; then
			ok "checkpatch $f"
		else
			not_ok "checkpatch $f"
			diag <"$log"
		fi
	done
fi

# ------------------------------------------------------ per-target builds ----

for t in $TARGETS; do
	if [[ ! -f $CACHE/targets/$t/env ]]; then
		if deps_missing || [[ $t == *-debug && -z ${LINT_TARGETS:-} ]]; then
			skip "module W=1 C=1 $t" "target not prepared: run make deps"
			skip "userspace -Werror $t" "target not prepared: run make deps"
		else
			not_ok "module W=1 C=1 $t: no $CACHE/targets/$t/env (run make deps)"
			not_ok "userspace -Werror $t: no $CACHE/targets/$t/env (run make deps)"
		fi
		continue
	fi

	# Module: W=1 (extra gcc warnings) + C=1 (sparse), from scratch.
	log=$LOGS/module-$t.log
	if PARTMOB_BUILD_PARTS=module bash "$HERE/build-target.sh" "$t" W=1 C=1 >"$log" 2>&1; then
		if grep -i -E 'warning|error:' "$log" | benign >"$log.warn"; then
			not_ok "module W=1 C=1 $t ($(wc -l <"$log.warn") warning lines)"
			diag <"$log.warn"
		else
			ok "module W=1 C=1 $t"
		fi
	else
		not_ok "module W=1 C=1 $t (build failed)"
		tail -n 40 "$log" | diag
	fi

	# Userspace: partmobctl + selftests, static, -Werror in their Makefiles.
	log=$LOGS/user-$t.log
	if PARTMOB_BUILD_PARTS="user tests" bash "$HERE/build-target.sh" "$t" >"$log" 2>&1; then
		if grep -i -E 'warning:|error:' "$log" | benign >"$log.warn"; then
			not_ok "userspace -Werror $t ($(wc -l <"$log.warn") warning lines)"
			diag <"$log.warn"
		else
			ok "userspace -Werror $t"
		fi
	else
		not_ok "userspace -Werror $t (build failed)"
		tail -n 40 "$log" | diag
	fi
done

# ------------------------------------------------------------- the docs ----

# Debian's python3 with python3-docutils (deps.sh installs it), not
# whatever python3 comes first in PATH.
RST_CHECK='
import io, sys, docutils.core
err = io.StringIO()
docutils.core.publish_doctree(open(sys.argv[1]).read(), source_path=sys.argv[1],
	settings_overrides={"report_level": 2, "halt_level": 5,
			    "warning_stream": err})
sys.stdout.write(err.getvalue())
'
have_docutils=0
/usr/bin/python3 -c 'import docutils' 2>/dev/null && have_docutils=1
for f in Documentation/*.rst; do
	if ((!have_docutils)); then
		if deps_missing; then
			skip "rst $f" "no python3-docutils: run make deps"
		else
			not_ok "rst $f: python3-docutils missing (run make deps)"
		fi
		continue
	fi
	out=$(/usr/bin/python3 -c "$RST_CHECK" "$f" 2>&1) || out="docutils failed: $out"
	if [[ -z $out ]]; then
		ok "rst $f"
	else
		not_ok "rst $f"
		diag <<<"$out"
	fi
done

echo "1..$N"
echo "# lint: $PASS ok, $FAIL not ok, $SKIP skipped (logs: $LOGS)"
if deps_missing; then
	echo "# lint: the kernel test matrix is not prepared: run make deps"
fi
((FAIL == 0))
