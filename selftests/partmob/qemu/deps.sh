#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# deps.sh - the project's single setup step (`make deps`).
#
# Installs the host packages the build, the guests and the tests need, then
# fills ${PARTMOB_CACHE:-$HOME/.cache/partmob} (layout: see CONTRACT.md):
#
#   apt/               private apt configuration (amd64 + ppc64el; bookworm,
#                      -updates, -security, -backports).  The host's own apt
#                      state is never touched by it and the host is never
#                      upgraded.  Archive URIs are read from the system's apt
#                      sources at run time.
#   debs/              downloaded .deb files
#   targets/<target>/  env, kdir -> headers, root/ (extracted packages)
#   sysroot/ppc64el/   busybox-static + libnl + libssl-dev (libssl.a,
#                      libcrypto.a) for ppc64el
#   qemu-ppc64el/      Debian's ppc64el qemu-system-ppc (the host's version)
#                      and the shared libraries it needs, plus the host's
#                      vof.bin: the root that ppc64le test guests see at
#                      /host to run an inner QEMU guest (the vm tests)
#   ksft/              kselftest headers from linux-source-6.1
#   checkpatch/        checkpatch.pl + data files from linux-source-6.1
#   targets/x86_64-6.1-debug/src/  a debug kernel built from linux-source-6.1
#                      (debug.config: KASAN, lockdep, kmemleak, UBSAN...);
#                      about 20 minutes on two cores, once per machine,
#                      when PARTMOB_TARGETS names x86_64-6.1-debug (or
#                      CI=true)
#
# Every step leaves a stamp; a second run only checks them and takes a few
# seconds.  PARTMOB_REFRESH=1 re-reads the archive indexes and re-resolves
# the kernel versions (picks up new Debian kernel uploads).
#
# Environment:
#   PARTMOB_CACHE    cache directory (default ~/.cache/partmob)
#   PARTMOB_TARGETS  targets to prepare (default: all but x86_64-6.1-debug,
#                    all with CI=true)
#   PARTMOB_REFRESH  1 = refresh the private apt indexes and re-resolve

set -euo pipefail

CACHE=${PARTMOB_CACHE:-$HOME/.cache/partmob}
T0=$SECONDS
ALL_TARGETS="x86_64-6.1 x86_64-6.12 ppc64le-6.1 ppc64le-6.12 x86_64-6.1-debug"
# The debug target's kernel is built only when asked for by name, or in CI.
if [[ ${CI:-} == true ]]; then
	TARGETS=${PARTMOB_TARGETS:-$ALL_TARGETS}
else
	TARGETS=${PARTMOB_TARGETS:-${ALL_TARGETS% x86_64-6.1-debug}}
fi
REFRESH=${PARTMOB_REFRESH:-0}
CODENAME=bookworm
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
LINUX_SOURCE=/usr/src/linux-source-6.1.tar.xz
# Bump when the layout of the cache changes: every stamp is then redone.
LAYOUT=1

# Host packages: build, cross build, sparse, checkpatch, guests, initramfs,
# clang + its runtime for `make fuzz` (libFuzzer), docutils for lint.sh's
# check of Documentation/*.rst.
HOST_PKGS="
	build-essential gcc-12 make bc rsync kmod cpio flex bison
	gzip xz-utils zstd file perl pkg-config libelf-dev
	dwarves
	linux-image-amd64 linux-headers-amd64 linux-source-6.1
	sparse busybox-static
	libnl-3-dev libnl-genl-3-dev libssl-dev openssl
	gcc-powerpc64le-linux-gnu libc6-dev-ppc64el-cross
	qemu-system-x86 qemu-system-ppc
	debian-archive-keyring apt dpkg-dev iproute2 python3 iperf3 criu
	clang libclang-rt-dev python3-docutils
"

PPC_SYSROOT_PKGS="busybox-static libnl-3-dev libnl-genl-3-dev libnl-3-200 libnl-genl-3-200 libssl-dev"

log() { echo "deps: [$((SECONDS - T0))s] $*" >&2; }
die() { echo "deps: ERROR: $*" >&2; exit 1; }

mkdir -p "$CACHE"
CACHE=$(cd "$CACHE" && pwd)
APTDIR=$CACHE/apt
DEBS=$CACHE/debs

stamp_ok() {	# stamp_ok FILE KEY: stamp exists and holds KEY
	[[ -f $1 ]] && [[ "$(cat "$1")" == "$2" ]]
}

# ---------------------------------------------------------------- host ----

host_packages() {
	local missing=() p st
	for p in $HOST_PKGS; do
		st=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
		[[ $st == ii* ]] || missing+=("$p")
	done
	if ((${#missing[@]} == 0)); then
		log "host packages: all present"
		return
	fi
	[[ $(id -u) == 0 ]] || die "host packages missing (${missing[*]}); run as root or install them"
	log "host packages: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	# Refresh the host's indexes only if they look stale or absent.
	if [[ -z $(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -mmin -1440 2>/dev/null | head -1) ]]; then
		log "host packages: apt-get update"
		apt-get update -qq
	fi
	if ! apt-get install -y -q --no-install-recommends "${missing[@]}"; then
		log "host packages: install failed; retrying after apt-get update"
		apt-get update -qq
		apt-get install -y -q --no-install-recommends "${missing[@]}"
	fi
}

# ----------------------------------------------------------- private apt ----

# Print "main URI" and "security URI" lines from the system's apt sources.
read_system_uris() {
	local f
	{
		for f in /etc/apt/sources.list.d/*.sources; do
			[[ -f $f ]] || continue
			# deb822: one stanza per paragraph
			awk -v RS= '
			{
				types = ""; uris = ""; suites = ""; enabled = "yes"
				n = split($0, L, "\n")
				for (i = 1; i <= n; i++) {
					line = L[i]
					if (line ~ /^#/) continue
					k = line; sub(/:.*/, "", k)
					v = line; sub(/^[^:]*:[ \t]*/, "", v)
					k = tolower(k)
					if (k == "types") types = v
					else if (k == "uris") uris = v
					else if (k == "suites") suites = v
					else if (k == "enabled") enabled = tolower(v)
				}
				if (enabled == "no" || types !~ /(^|[ \t])deb([ \t]|$)/) next
				nu = split(uris, U, /[ \t]+/); ns = split(suites, S, /[ \t]+/)
				for (a = 1; a <= nu; a++) for (b = 1; b <= ns; b++)
					if (U[a] != "" && S[b] != "") print U[a], S[b]
			}' "$f"
		done
		for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
			[[ -f $f ]] || continue
			# one-line: deb [opts] URI suite comp...
			sed -e 's/#.*//' -e 's/\[[^]]*\]//' "$f" |
				awk '$1 == "deb" && NF >= 3 { print $2, $3 }'
		done
	} | awk -v c="$CODENAME" '
		$2 == c || $2 == c "-updates" || $2 == c "-backports" { if (!m) m = $1 }
		$2 == c "-security" || $2 == c "/updates" { if (!s) s = $1 }
		END { print "main", m; print "security", s }'
}

write_sources() {	# write_sources MAIN_URI SECURITY_URI SECURITY_ARCHES
	printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates %s-backports\n' \
		"$1" "$CODENAME" "$CODENAME" "$CODENAME"
	printf 'Components: main\nArchitectures: amd64 ppc64el\nSigned-By: %s\n' "$KEYRING"
	if [[ -n $2 ]]; then
		printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\n' "$2" "$CODENAME"
		printf 'Components: main\nArchitectures: %s\nSigned-By: %s\n' "$3" "$KEYRING"
	fi
}

private_apt() {
	local uris main sec conf=$APTDIR/apt.conf
	uris=$(read_system_uris)
	main=$(awk '$1 == "main" { print $2 }' <<<"$uris")
	sec=$(awk '$1 == "security" { print $2 }' <<<"$uris")
	[[ -n $main ]] || die "no Debian $CODENAME archive found in /etc/apt/sources.list{,.d/*.sources,.d/*.list}"
	[[ -f $KEYRING ]] || die "$KEYRING missing (debian-archive-keyring)"

	mkdir -p "$APTDIR"/etc/{apt.conf.d,preferences.d,sources.list.d,trusted.gpg.d} \
		"$APTDIR"/state/lists/partial "$APTDIR"/cache/archives/partial "$DEBS"
	: >"$APTDIR/etc/sources.list"
	[[ -f $APTDIR/state/status ]] || : >"$APTDIR/state/status"
	cat >"$conf.new" <<-EOF
	// Generated by partmob deps.sh: private apt configuration.
	APT::Architecture "amd64";
	APT::Architectures { "amd64"; "ppc64el"; };
	Dir::State "$APTDIR/state";
	Dir::State::status "$APTDIR/state/status";
	Dir::Cache "$APTDIR/cache";
	Dir::Cache::pkgcache "pkgcache.bin";
	Dir::Cache::srcpkgcache "srcpkgcache.bin";
	Dir::Etc::sourcelist "$APTDIR/etc/sources.list";
	Dir::Etc::sourceparts "$APTDIR/etc/sources.list.d";
	Dir::Etc::preferences "$APTDIR/etc/preferences";
	Dir::Etc::preferencesparts "$APTDIR/etc/preferences.d";
	Dir::Etc::trusted "$KEYRING";
	Dir::Etc::trustedparts "$APTDIR/etc/trusted.gpg.d";
	Acquire::Languages "none";
	Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled "false";
	Acquire::IndexTargets::deb::DEP-11::DefaultEnabled "false";
	Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled "false";
	Acquire::IndexTargets::deb::DEP-11-icons-hidpi::DefaultEnabled "false";
	Acquire::Retries "3";
	APT::Get::AllowUnauthenticated "false";
	EOF
	write_sources "$main" "$sec" "amd64 ppc64el" >"$APTDIR/etc/sources.list.d/partmob.sources.new"

	local changed=0
	cmp -s "$conf.new" "$conf" || changed=1
	cmp -s "$APTDIR/etc/sources.list.d/partmob.sources.new" \
		"$APTDIR/etc/sources.list.d/partmob.sources" || changed=1
	mv "$conf.new" "$conf"
	mv "$APTDIR/etc/sources.list.d/partmob.sources.new" "$APTDIR/etc/sources.list.d/partmob.sources"
	export APT_CONFIG=$conf
	papt_opts

	local st=$APTDIR/updated.stamp
	if ((changed)) || [[ $REFRESH == 1 ]] || [[ ! -f $st ]]; then
		log "private apt: update (main archive${sec:+ + security archive}; amd64 + ppc64el)"
		# The security archive's ppc64el index sometimes fails: tolerate
		# any failure as long as the main suites are there.
		if ! papt update >"$APTDIR/update.log" 2>&1; then
			# apt drops a whole suite when one of its indexes fails:
			# retry with the security suite for amd64 only.
			log "private apt: update reported errors; retrying with $CODENAME-security for amd64 only"
			grep -E '^(E|W):' "$APTDIR/update.log" | sed 's/^/deps:   /' >&2 || true
			write_sources "$main" "$sec" amd64 >"$APTDIR/etc/sources.list.d/partmob.sources"
			papt update >"$APTDIR/update.log" 2>&1 ||
				log "private apt: update reported errors again (see $APTDIR/update.log); checking what we got"
		fi
		local need
		for need in "${CODENAME}_main_binary-amd64" "${CODENAME}_main_binary-ppc64el" \
			"${CODENAME}-backports_main_binary-amd64" "${CODENAME}-backports_main_binary-ppc64el"; do
			compgen -G "$APTDIR/state/lists/*dists_${need}_Packages*" >/dev/null ||
				{ cat "$APTDIR/update.log" >&2; die "private apt: index $need missing"; }
		done
		grep -E '^(W|E):' "$APTDIR/update.log" >&2 || true
		date +%s >"$st"
	else
		log "private apt: indexes present (PARTMOB_REFRESH=1 to refresh)"
	fi
}

# apt through the private configuration (APT_CONFIG, exported by
# private_apt).  The system's apt.conf.d parts are read after APT_CONFIG
# (proxies stay in effect), so settings that some images put there and
# that we must win over go on the command line: a binary cache makes each
# apt-cache call take milliseconds instead of seconds.
papt_opts() {
	APT_OPTS=(-o "Dir::Cache::pkgcache=$APTDIR/cache/pkgcache.bin"
		-o "Dir::Cache::srcpkgcache=$APTDIR/cache/srcpkgcache.bin"
		-o "APT::Sandbox::User=root")
}
papt() { apt-get -q "${APT_OPTS[@]}" "$@"; }
pcache() { apt-cache "${APT_OPTS[@]}" "$@"; }

# highest version of PKG (may carry :arch) among suites matching REGEX
pick_version() {
	local pkg=$1 re=$2 best="" v
	while read -r v; do
		if [[ -z $best ]] || dpkg --compare-versions "$v" gt "$best"; then
			best=$v
		fi
	done < <(pcache madison "$pkg" | awk -F' [|] ' -v re="$re" '$3 ~ re { gsub(/ /, "", $2); print $2 }')
	[[ -n $best ]] || die "no version of $pkg in suites matching '$re'"
	echo "$best"
}

# Depends of PKG=VER (one package name per line, versions stripped)
depends_of() {
	pcache show "$1=$2" | awk '/^Depends:/ { sub(/^Depends: */, ""); print; exit }' |
		tr ',' '\n' | sed -e 's/|.*//' -e 's/(.*//' -e 's/:any//' -e 's/ //g' | sed '/^$/d'
}

deb_path() {	# deb_path NAME[:ARCH]=VER: the .deb in $DEBS, if there
	local spec=$1 name ver
	name=${spec%%[:=]*}
	ver=${spec##*=}
	# file names have an epoch's ':' encoded as %3a
	compgen -G "$DEBS/${name}_${ver//:/%3a}_*.deb" | head -1 || true
}

# Download NAME[:ARCH]=VER... into $DEBS (those not there yet, in one go);
# set DEB_PATHS to their paths.
fetch_debs() {
	local s missing=()
	for s in "$@"; do
		[[ -n $(deb_path "$s") ]] || missing+=("$s")
	done
	if ((${#missing[@]})); then
		log "fetch ${missing[*]}"
		(cd "$DEBS" && papt download "${missing[@]}" >"$APTDIR/download.log" 2>&1) ||
			{ cat "$APTDIR/download.log" >&2; die "apt-get download ${missing[*]} failed"; }
	fi
	DEB_PATHS=()
	for s in "$@"; do
		DEB_PATHS+=("$(deb_path "$s")")
		[[ -n ${DEB_PATHS[-1]} ]] || die "downloaded $s but cannot find its .deb in $DEBS"
	done
}

# ------------------------------------------------------------- targets ----

target_arch() {	# target -> debian arch
	case $1 in
	x86_64-*) echo amd64 ;;
	ppc64le-*) echo ppc64el ;;
	*) die "unknown target $1" ;;
	esac
}

target_flavour() {
	case $1 in
	x86_64-*) echo amd64 ;;
	ppc64le-*) echo powerpc64le ;;
	esac
}

target_suite_re() {
	case $1 in
	*-6.1) echo " ${CODENAME}(-updates|-security)?/" ;;
	*-6.12) echo " ${CODENAME}-backports/" ;;
	*) die "unknown target $1" ;;
	esac
}

write_env() {	# write_env TARGET KREL KDIR KIMAGE MODROOT
	local t=$1 dir=$CACHE/targets/$1 karch cross qemu cc sysroot busybox
	case $t in
	x86_64-*)
		karch=x86 cross="" qemu=qemu-system-x86_64 cc=gcc sysroot=/
		busybox=$(command -v busybox || echo /bin/busybox)
		;;
	ppc64le-*)
		karch=powerpc cross=powerpc64le-linux-gnu- qemu=qemu-system-ppc64
		cc=powerpc64le-linux-gnu-gcc sysroot=$CACHE/sysroot/ppc64el
		busybox=$sysroot/bin/busybox
		;;
	esac
	ln -sfn "$3" "$dir/kdir"
	cat >"$dir/env.new" <<-EOF
	# Generated by partmob deps.sh -- see selftests/partmob/qemu/CONTRACT.md
	TARGET=$t
	KREL=$2
	KARCH=$karch
	CROSS_COMPILE=$cross
	KDIR=$3
	KIMAGE=$4
	MODROOT=$5
	QEMU=$qemu
	CC=$cc
	SYSROOT=$sysroot
	BUSYBOX=$busybox
	EOF
	mv "$dir/env.new" "$dir/env"
}

# Use the kernel that the host's linux-image-amd64 installed.
target_host() {
	local t=$1 dir=$CACHE/targets/$1 img krel
	mkdir -p "$dir"
	img=$(dpkg-query -W -f='${Depends}' linux-image-amd64 | tr ',' '\n' |
		sed -n 's/^ *\(linux-image-[^ ]*\).*/\1/p' | head -1)
	krel=${img#linux-image-}
	[[ -n $krel && -f /boot/vmlinuz-$krel && -d /lib/modules/$krel/build/ ]] ||
		die "$t: host kernel $krel incomplete (need /boot/vmlinuz-$krel and linux-headers-$krel)"
	if [[ ! -f /lib/modules/$krel/modules.dep ]]; then
		log "$t: depmod $krel"
		depmod -a "$krel"
	fi
	write_env "$t" "$krel" "/lib/modules/$krel/build" "/boot/vmlinuz-$krel" /
	log "$t: host kernel $krel"
}

# Download and extract image + headers (+ amd64 kbuild) into targets/T/root.
target_extract() {
	local t=$1 dir=$CACHE/targets/$1 arch flav re meta mver img krel iver
	local hdr deps d kbuild common
	arch=$(target_arch "$t")
	flav=$(target_flavour "$t")
	re=$(target_suite_re "$t")
	meta=linux-image-$flav:$arch
	mver=$(pick_version "$meta" "$re")
	img=$(depends_of "$meta" "$mver" | grep -m1 '^linux-image-') ||
		die "$t: cannot resolve $meta=$mver"
	krel=${img#linux-image-}
	# the signed amd64 image packages have a '-unsigned' twin; use the real one
	krel=${krel%-unsigned}
	img=linux-image-$krel

	local key="$LAYOUT $krel $mver"
	if stamp_ok "$dir/extract.stamp" "$key" && [[ -f $dir/env ]]; then
		log "$t: $krel already extracted"
		return
	fi
	log "$t: $meta $mver -> $krel"
	iver=$(pick_version "$img:$arch" "$re")
	hdr=linux-headers-$krel
	deps=$(depends_of "$hdr:$arch" "$iver")
	common=$(grep -m1 '^linux-headers-.*-common' <<<"$deps") || die "$t: no common headers in $hdr's Depends"
	kbuild=$(grep -m1 '^linux-kbuild-' <<<"$deps") || die "$t: no linux-kbuild in $hdr's Depends"

	local specs=("$img:$arch=$iver" "$hdr:$arch=$iver" "$common=$iver" "$kbuild:amd64=$iver")
	local debs
	fetch_debs "${specs[@]}"
	debs=("${DEB_PATHS[@]}")
	# Unpacking is CPU-bound (xz): run it in the background, in parallel
	# with the next target's downloads; main waits for all of them.
	target_unpack "$t" "$krel" "$img" "$key" "${debs[@]}" &
	UNPACK_PIDS+=("$!")
}

target_unpack() {	# target_unpack TARGET KREL IMGPKG STAMPKEY DEB...
	local t=$1 krel=$2 img=$3 key=$4 dir=$CACHE/targets/$1 d
	shift 4
	rm -rf "$dir/root" "$dir/extract.stamp"
	mkdir -p "$dir/root"
	for d in "$@"; do
		log "$t: extract $(basename "$d")"
		dpkg -x "$d" "$dir/root"
	done
	fixup_headers "$t" "$dir/root" "$krel"
	log "$t: depmod $krel"
	depmod -b "$dir/root" "$krel"

	local kimage
	kimage=$(compgen -G "$dir/root/boot/vmlinu[xz]-$krel" | head -1) || true
	[[ -n $kimage ]] || die "$t: no /boot/vmlinu[xz]-$krel in $img"
	write_env "$t" "$krel" "$dir/root/usr/src/linux-headers-$krel" "$kimage" "$dir/root"
	echo "$key" >"$dir/extract.stamp"
}

fixup_headers() {	# fixup_headers TARGET ROOT KREL
	local t=$1 root=$2 krel=$3 h l dest mk
	h=$root/usr/src/linux-headers-$krel
	[[ -d $h ]] || die "$t: $h missing"
	# scripts/ and tools/ are relative links into /usr/lib/linux-kbuild-*:
	# they must land on the extracted amd64 kbuild.
	for l in scripts tools; do
		[[ -L $h/$l ]] || continue
		dest=$(readlink "$h/$l")
		if [[ $dest == /* ]]; then
			ln -sfn "$root$dest" "$h/$l"
		fi
		[[ -e $h/$l/ ]] || die "$t: $h/$l -> $(readlink "$h/$l") dangles (amd64 linux-kbuild missing?)"
	done
	# The flavour Makefile includes the common one by absolute path.
	mk=$h/Makefile
	sed -i -E "s#^include /usr/src/#include $root/usr/src/#" "$mk"
	grep -q "^include $root/usr/src/" "$mk" || die "$t: unexpected $mk: $(head -3 "$mk")"
	# lib/modules/KREL/build -> absolute /usr/src path: make it relative.
	if [[ -L $root/lib/modules/$krel/build ]]; then
		ln -sfn "../../../usr/src/linux-headers-$krel" "$root/lib/modules/$krel/build"
	fi
	# The kbuild tools must be runnable here (amd64).
	[[ -x $h/scripts/basic/fixdep ]] || die "$t: $h/scripts/basic/fixdep missing"
	"$h/scripts/mod/modpost" -h >/dev/null 2>&1 || [[ $? != 126 && $? != 127 ]] ||
		die "$t: $h/scripts/mod/modpost cannot run on this host"
}

# --------------------------------------------------------- ppc64 sysroot ----

# A tree is built aside (DIR.new) and swapped in: builds of other checkouts
# may be using the old one meanwhile.
extract_aside() {	# extract_aside DIR.new DEB...: a fresh DIR.new
	local nw=$1 d
	shift
	rm -rf "$nw"
	mkdir -p "$nw"
	for d; do
		dpkg -x "$d" "$nw"
	done
}

swap_in() {	# swap_in DIR KEY: DIR.new becomes DIR, stamped with KEY
	rm -rf "$1.old" "$1.stamp"
	[[ ! -e $1 ]] || mv "$1" "$1.old"
	mv "$1.new" "$1"
	rm -rf "$1.old"
	echo "$2" >"$1.stamp"
}

ppc_sysroot() {
	local sr=$CACHE/sysroot/ppc64el p v specs=() key
	for p in $PPC_SYSROOT_PKGS; do
		v=$(pick_version "$p:ppc64el" " ${CODENAME}(-updates|-security)?/")
		specs+=("$p:ppc64el=$v")
	done
	key="$LAYOUT ${specs[*]}"
	if stamp_ok "$sr.stamp" "$key" && [[ -x $sr/bin/busybox ]]; then
		log "ppc64el sysroot: present"
		return
	fi
	log "ppc64el sysroot: ${specs[*]}"
	fetch_debs "${specs[@]}"
	local nw=$sr.new
	extract_aside "$nw" "${DEB_PATHS[@]}"
	# bookworm's libnl lives in /lib/<triplet>: give it the merged-/usr
	# view too (CONTRACT.md: usr/lib/<triplet>/libnl-*.a)
	local f trip=powerpc64le-linux-gnu
	mkdir -p "$nw/usr/lib/$trip"
	for f in "$nw/lib/$trip"/*; do
		[[ -e $nw/usr/lib/$trip/${f##*/} ]] || ln -s "../../../lib/$trip/${f##*/}" "$nw/usr/lib/$trip/${f##*/}"
	done
	[[ -x $nw/bin/busybox ]] || die "ppc64el sysroot: no bin/busybox"
	[[ -f $nw/usr/lib/$trip/libnl-genl-3.a ]] || die "ppc64el sysroot: no libnl-genl-3.a"
	[[ -d $nw/usr/include/libnl3 ]] || die "ppc64el sysroot: no usr/include/libnl3"
	[[ -f $nw/usr/lib/$trip/libssl.a && -f $nw/usr/lib/$trip/libcrypto.a ]] ||
		die "ppc64el sysroot: no libssl.a / libcrypto.a"
	[[ -f $nw/usr/include/$trip/openssl/configuration.h ]] ||
		die "ppc64el sysroot: no usr/include/$trip/openssl/configuration.h"
	swap_in "$sr" "$key"
}

# ----------------------------------------------- ppc64el QEMU (vm tests) ----

# Depends and Pre-Depends of PKG=VER, first alternatives, names only.
all_depends_of() {
	pcache show "$1=$2" | awk '/^(Pre-)?Depends:/ { sub(/^[^:]*: */, ""); print }' |
		tr ',' '\n' | sed -e 's/|.*//' -e 's/(.*//' -e 's/:any//' -e 's/ //g' | sed '/^$/d'
}

# qemu-ppc64el/: a root for the ppc64le test guests (lib.sh offers it over
# 9p at /host, and the vm tests chroot there to run it): Debian's ppc64el
# qemu-system-ppc of the host's version, the shared libraries it needs (the
# closure of its library dependencies: packages named lib* or zlib*), and
# the firmware the pseries machine loads with x-vof=on, vof.bin, taken from
# the host's qemu-system-data (architecture-independent, same version).
ppc_qemu_root() {
	local root=$CACHE/qemu-ppc64el qv specs=() todo=() seen=" " p v key
	local trip=powerpc64le-linux-gnu vof=/usr/share/qemu/vof.bin
	qv=$(dpkg-query -W -f='${Version}' qemu-system-ppc)
	[[ -f $vof ]] || die "ppc64el QEMU: $vof missing (qemu-system-data)"
	key="$LAYOUT qemu-system-ppc:ppc64el=$qv $(sha256sum <"$vof" | cut -c1-16)"
	if stamp_ok "$root.stamp" "$key" && [[ -x $root/usr/bin/qemu-system-ppc64 ]]; then
		log "ppc64el QEMU: present"
		return
	fi
	specs=("qemu-system-ppc:ppc64el=$qv")
	mapfile -t todo < <(all_depends_of "qemu-system-ppc:ppc64el" "$qv" | grep -E '^(lib|zlib)')
	while ((${#todo[@]})); do
		p=${todo[0]}
		todo=("${todo[@]:1}")
		[[ $seen == *" $p "* ]] && continue
		seen+="$p "
		v=$(pick_version "$p:ppc64el" " ${CODENAME}(-updates|-security)?/")
		specs+=("$p:ppc64el=$v")
		mapfile -t -O "${#todo[@]}" todo < <(all_depends_of "$p:ppc64el" "$v" | grep -E '^(lib|zlib)' || true)
	done
	log "ppc64el QEMU: qemu-system-ppc $qv and ${#specs[@]} packages"
	fetch_debs "${specs[@]}"
	local nw=$root.new
	extract_aside "$nw" "${DEB_PATHS[@]}"
	# Only the emulator is needed: drop the docs and the other binaries.
	find "$nw/usr/bin" -mindepth 1 ! -name qemu-system-ppc64 -delete
	rm -rf "$nw/usr/share/doc" "$nw/usr/share/man" "$nw/usr/share/locale"
	mkdir -p "$nw/usr/share/qemu" "$nw"/{dev,proc,sys,tmp}
	cp "$vof" "$nw/usr/share/qemu/"
	# Every library the emulator and the libraries beside it need must
	# be there.
	local need lib absent=""
	need=$(find "$nw/usr/bin" "$nw/lib/$trip" "$nw/usr/lib/$trip" -maxdepth 1 -type f \
		\( -name '*.so*' -o -name qemu-system-ppc64 \) -exec readelf -d {} + 2>/dev/null |
		sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort -u)
	for lib in $need; do
		compgen -G "$nw/lib/$trip/$lib" >/dev/null || compgen -G "$nw/usr/lib/$trip/$lib" >/dev/null ||
			compgen -G "$nw/lib64/$lib" >/dev/null || absent+=" $lib"
	done
	[[ -z $absent ]] || die "ppc64el QEMU: libraries missing from the closure:$absent"
	[[ -e $nw/lib/$trip/ld64.so.2 && -L $nw/lib64/ld64.so.2 ]] || die "ppc64el QEMU: no /lib64/ld64.so.2"
	swap_in "$root" "$key"
}

# --------------------------------------------------- ksft + checkpatch ----

kernel_tools() {
	local key ksft=$CACHE/ksft cp=$CACHE/checkpatch tmp
	key="$LAYOUT $(dpkg-query -W -f='${Version}' linux-source-6.1)"
	if stamp_ok "$CACHE/tools.stamp" "$key" && [[ -f $ksft/kselftest_harness.h && -x $cp/checkpatch.pl ]]; then
		log "kselftest headers + checkpatch: present"
		return
	fi
	log "kselftest headers + checkpatch: extracting from $LINUX_SOURCE"
	[[ -f $LINUX_SOURCE ]] || die "$LINUX_SOURCE missing (linux-source-6.1)"
	tmp=$(mktemp -d "$CACHE/src.XXXXXX")
	local S=linux-source-6.1
	tar -xJf "$LINUX_SOURCE" -C "$tmp" \
		"$S/tools/testing/selftests/kselftest.h" \
		"$S/tools/testing/selftests/kselftest_harness.h" \
		"$S/tools/testing/selftests/kselftest_module.h" \
		"$S/tools/testing/selftests/kselftest" \
		"$S/scripts/checkpatch.pl" \
		"$S/scripts/spelling.txt" \
		"$S/scripts/const_structs.checkpatch"
	rm -rf "$ksft" "$cp"
	mkdir -p "$ksft" "$cp"
	cp -a "$tmp/$S/tools/testing/selftests/"kselftest* "$ksft/"
	cp -a "$tmp/$S/scripts/"{checkpatch.pl,spelling.txt,const_structs.checkpatch} "$cp/"
	rm -rf "$tmp"
	# checkpatch must work out of tree
	printf '// SPDX-License-Identifier: GPL-2.0\nint partmob_x;\n' >"$cp/.probe.c"
	"$cp/checkpatch.pl" --no-tree --strict -q -f "$cp/.probe.c" >/dev/null ||
		die "checkpatch.pl does not run out of tree"
	rm -f "$cp/.probe.c"
	echo "$key" >"$CACHE/tools.stamp"
}

# ---------------------------------------------------- the debug kernel ----

# x86_64-6.1-debug: Debian's 6.1 source, x86_64_defconfig + kvm_guest.config
# + debug.config, built once per machine (rebuilt when one of them changes).
target_debug() {
	local t=$1 dir=$CACHE/targets/$1 key src cfg
	cfg=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/debug.config
	key="$LAYOUT $(dpkg-query -W -f='${Version}' linux-source-6.1) $(sha256sum <"$cfg" | cut -c1-16) $(gcc -dumpfullversion)"
	src=$dir/src
	if stamp_ok "$dir/build.stamp" "$key" && [[ -f $src/arch/x86/boot/bzImage ]]; then
		debug_env "$t"
		log "$t: debug kernel present"
		return
	fi
	[[ -f $LINUX_SOURCE ]] || die "$LINUX_SOURCE missing (linux-source-6.1)"
	log "$t: building the debug kernel (about 15 minutes on two cores; log: $dir/build.log)"
	rm -rf "$dir"
	mkdir -p "$src"
	tar -xJf "$LINUX_SOURCE" -C "$src" --strip-components=1
	(
		cd "$src"
		make -s x86_64_defconfig
		./scripts/kconfig/merge_config.sh -m .config kernel/configs/kvm_guest.config "$cfg"
		make -s olddefconfig
		# Every option of the fragment must have stuck.
		grep -E '^CONFIG_[A-Z0-9_]+=[ym]$' "$cfg" | while read -r want; do
			grep -qx "$want" .config || { echo "debug.config: $want did not stick" >&2; exit 1; }
		done
		make -j"$(nproc)" bzImage modules
	) >"$dir/build.log" 2>&1 || { tail -n 30 "$dir/build.log" >&2; die "$t: debug kernel build failed (see $dir/build.log)"; }
	debug_env "$t"
	echo "$key" >"$dir/build.stamp"
	log "$t: debug kernel $(make -s -C "$src" kernelrelease) built"
}

debug_env() {
	local t=$1 dir=$CACHE/targets/$1
	mkdir -p "$dir/modroot"
	write_env "$t" "$(make -s -C "$dir/src" kernelrelease)" "$dir/src" \
		"$dir/src/arch/x86/boot/bzImage" "$dir/modroot"
	# vm and vm_group run QEMU guests under TCG inside this guest; under
	# KASAN they are too slow for their pre-copy to converge in time.
	# no5lvl: with 5-level paging (TCG's -cpu max has LA57) 6.1's KASAN
	# reports an interrupt that comes while identify_cpu() has cleared
	# the boot CPU's feature bits (LA57 among them) as a wild access: its
	# shadow bounds follow pgtable_l5_enabled(). One boot in three died
	# so at 0.007 s, long before partmob loads.
	printf '%s\n' 'KAPPEND="kmemleak=on panic_on_warn=1 no5lvl"' TIMEOUT_FACTOR=4 \
		'SKIP_TESTS="vm vm_group"' >>"$dir/env"
}

# ----------------------------------------------------- sanity: a module ----

# shellcheck disable=SC2153 # KARCH, KREL come from the env file
hello_check() {	# build a trivial module against every target once
	local t key dir
	for t in $TARGETS; do
		dir=$CACHE/targets/$t
		# shellcheck disable=SC1091
		key="$LAYOUT $(cat "$dir/env")"
		if stamp_ok "$dir/hello.stamp" "$key"; then
			continue
		fi
		log "$t: test build of a trivial module"
		rm -rf "$dir/hello"
		mkdir -p "$dir/hello"
		cat >"$dir/hello/hello.c" <<-'EOF'
		// SPDX-License-Identifier: GPL-2.0
		#include <linux/module.h>
		static int __init hello_init(void) { return 0; }
		static void __exit hello_exit(void) { }
		module_init(hello_init);
		module_exit(hello_exit);
		MODULE_LICENSE("GPL");
		MODULE_DESCRIPTION("partmob deps.sh probe");
		EOF
		echo 'obj-m := hello.o' >"$dir/hello/Kbuild"
		(
			# shellcheck disable=SC1090,SC1091,SC2153
			. "$dir/env"
			make -C "$KDIR" M="$dir/hello" ARCH="$KARCH" \
				${CROSS_COMPILE:+CROSS_COMPILE=$CROSS_COMPILE} modules >"$dir/hello/build.log" 2>&1 ||
				{ cat "$dir/hello/build.log" >&2; die "$t: trivial module does not build against $KDIR"; }
			if grep -i 'warning' "$dir/hello/build.log" >&2; then
				die "$t: trivial module build warns (see $dir/hello/build.log)"
			fi
			vm=$(modinfo -F vermagic "$dir/hello/hello.ko")
			[[ $vm == "$KREL "* ]] || die "$t: vermagic '$vm' does not match $KREL"
		)
		echo "$key" >"$dir/hello.stamp"
	done
}

# ----------------------------------------------------------------- main ----

for t in $TARGETS; do
	case " $ALL_TARGETS " in *" $t "*) ;; *) die "unknown target '$t' (known: $ALL_TARGETS)" ;; esac
done

host_packages

kernel_tools &	# CPU-bound (xz), overlaps with the downloads below
TOOLS_PID=$!

UNPACK_PIDS=()
need_apt=0
[[ $REFRESH == 1 ]] && need_apt=1
for t in $TARGETS; do
	[[ $t == x86_64-6.1 || $t == *-debug ]] && continue
	[[ -f $CACHE/targets/$t/extract.stamp && -f $CACHE/targets/$t/env ]] || need_apt=1
done
[[ -f $CACHE/sysroot/ppc64el.stamp ]] || need_apt=1
# The ppc64el QEMU follows the host's qemu-system-ppc version.
grep -qF " qemu-system-ppc:ppc64el=$(dpkg-query -W -f='${Version}' qemu-system-ppc) " \
	"$CACHE/qemu-ppc64el.stamp" 2>/dev/null || need_apt=1
# A sysroot made before a package joined PPC_SYSROOT_PKGS: redo it.
for p in $PPC_SYSROOT_PKGS; do
	grep -q " $p:ppc64el=" "$CACHE/sysroot/ppc64el.stamp" 2>/dev/null || need_apt=1
done

if ((need_apt)); then
	private_apt
	for t in $TARGETS; do
		if [[ $t == x86_64-6.1 ]]; then
			target_host "$t"
		elif [[ $t != *-debug ]]; then
			target_extract "$t"
		fi
	done
	for pid in "${UNPACK_PIDS[@]}"; do
		wait "$pid" || die "unpacking a kernel target failed (see above)"
	done
	ppc_sysroot
	ppc_qemu_root
else
	log "kernel targets + ppc64el sysroot: present (PARTMOB_REFRESH=1 to re-resolve)"
	for t in $TARGETS; do
		[[ $t == x86_64-6.1 ]] && target_host "$t"
	done
fi

wait "$TOOLS_PID" || die "extracting kselftest headers / checkpatch failed (see above)"
for t in $TARGETS; do
	[[ $t == *-debug ]] && target_debug "$t"
done
hello_check

for t in $TARGETS; do
	# shellcheck disable=SC1090,SC1091
	log "$t: $(. "$CACHE/targets/$t/env" && echo "KREL=$KREL KDIR=$KDIR")"
done
log "done in $((SECONDS - T0)) s; cache: $CACHE"
