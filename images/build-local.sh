#!/usr/bin/env bash
# Offline builder for airlock's runtime images. No registry is needed, only a Debian mirror:
#   airlock/python:3.11     Debian bookworm minbase + python3, pip, numpy, pandas, matplotlib, Pillow
#   airlock/node:18         Debian bookworm minbase + nodejs
#   airlock/bash:5.2        Debian bookworm minbase (bash, coreutils, dash)
# The minbase tree is made once by debootstrap --variant=minbase and kept; each image is a copy
# of it plus its packages, installed by apt-get in a chroot (much faster than one debootstrap
# --include per image, same package set).
#   airlock/busybox:latest  the host's static busybox with its applet links (tiny, for tests)
# Each root file system is kept as a tarball with a stamp (a hash of the builder functions, the
# image's package list, the suite and, for busybox, the host busybox version) under
# /var/cache/airlock/images/<name>/, and imported into every engine that answers (Docker and
# Podman), labelled org.airlock.builder=<stamp>. An image already present with the same stamp is
# left alone, so a second run costs a few inspects.
#
# Usage: images/build-local.sh [--force] [--verify] [name...]
#   --force    rebuild the tarballs even when their stamp matches
#   --verify   after importing, run each image on each engine (and a Podman compat API create)
#   name       python, node, bash, busybox (default: all)
# Environment: AIRLOCK_IMAGE_CACHE (/var/cache/airlock/images), AIRLOCK_DEB_CACHE
# (/var/cache/airlock/debs), AIRLOCK_DEBIAN_MIRROR (http://deb.debian.org/debian).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
# shellcheck source=contrib/lib.sh
. "$ROOT/contrib/lib.sh"

CACHE=${AIRLOCK_IMAGE_CACHE:-/var/cache/airlock/images}
DEBS=${AIRLOCK_DEB_CACHE:-/var/cache/airlock/debs}
BASE=$CACHE/base
MIRROR=${AIRLOCK_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
ENV_PATH='PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

# name|reference|runtime|builder|packages
SPECS=(
	"python|airlock/python:3.11|python|debian|python3,python3-pip,python3-numpy,python3-pandas,python3-matplotlib,python3-pil"
	"node|airlock/node:18|node|debian|nodejs"
	"bash|airlock/bash:5.2|bash|debian|"
	"busybox|airlock/busybox:latest|busybox|busybox|"
)

FORCE=0
VERIFY=0
WANT=()
for arg in "$@"; do
	case $arg in
	--force) FORCE=1 ;;
	--verify) VERIFY=1 ;;
	-h | --help)
		sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
		exit 0
		;;
	-*) al_die "unknown option $arg" ;;
	*) WANT+=("$arg") ;;
	esac
done

START=$SECONDS
# One builder at a time (setup.sh may run from several shells or test jobs at once).
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
if ! flock -n 9; then
	al_log "images: another build-local.sh is running, waiting for it"
	flock 9
fi

ENGINES=()
if al_docker_up; then ENGINES+=(docker); else al_log "images: docker not answering, skipped"; fi
if al_podman_up; then ENGINES+=(podman); else al_log "images: podman not answering, skipped"; fi

wanted() {
	[ ${#WANT[@]} -eq 0 ] && return 0
	local w
	for w in "${WANT[@]}"; do [ "$w" = "$1" ] && return 0; done
	return 1
}

stamp_of() { # spec
	local extra=""
	case $1 in
	*"|busybox|"*) extra=$(dpkg-query -W -f='${Version}' busybox-static 2>/dev/null || true) ;;
	esac
	printf '%s\n%s\n%s\n%s\n' "$SELF_HASH" "$1" "$SUITE" "$extra" | sha256sum | cut -c1-16
}

# engine_label ENGINE REF : the image's org.airlock.builder label, empty when absent.
engine_label() {
	case $1 in
	docker) "$AIRLOCK_DOCKER" image inspect -f '{{index .Config.Labels "org.airlock.builder"}}' "$2" 2>/dev/null || true ;;
	podman) "$AIRLOCK_PODMAN" image inspect --format '{{index .Config.Labels "org.airlock.builder"}}' "$2" 2>/dev/null || true ;;
	esac
}

engine_id() {
	case $1 in
	docker) "$AIRLOCK_DOCKER" image inspect -f '{{.Id}}' "$2" 2>/dev/null || true ;;
	podman) "$AIRLOCK_PODMAN" image inspect --format '{{.Id}}' "$2" 2>/dev/null || true ;;
	esac
}

# --- root file systems --------------------------------------------------------------------------

# Makes a tree fit to run agents' code as any numeric uid, and small.
finalize_tree() {
	local t=$1
	rm -rf "$t"/usr/share/doc/* "$t"/usr/share/man/* "$t"/usr/share/info/* "$t"/usr/share/locale/* \
		"$t"/usr/share/lintian "$t"/usr/share/linda "$t"/usr/share/bug "$t"/usr/share/doc-base \
		"$t"/var/lib/apt/lists/* "$t"/var/cache/apt/* "$t"/var/cache/debconf/*-old \
		"$t"/var/lib/dpkg/*-old "$t"/debootstrap
	[ -d "$t/var/log" ] && find "$t/var/log" -type f -delete
	# debootstrap copies the host's name and resolver; the engines provide their own.
	[ -d "$t/etc" ] || mkdir -p "$t/etc"
	: >"$t/etc/resolv.conf"
	echo sandbox >"$t/etc/hostname"
	if [ -d "$t/etc/dpkg/dpkg.cfg.d" ]; then
		printf '%s\n' 'path-exclude=/usr/share/doc/*' 'path-exclude=/usr/share/man/*' \
			'path-exclude=/usr/share/info/*' 'path-exclude=/usr/share/locale/*' \
			>"$t/etc/dpkg/dpkg.cfg.d/airlock-nodoc"
	fi
	# PEP 668 marker: the image is the sandbox, so `pip install --user` must work.
	rm -f "$t"/usr/lib/python3*/EXTERNALLY-MANAGED
	if [ -d "$t/usr/lib/python3" ]; then
		printf '[global]\ndisable-pip-version-check = true\nroot-user-action = ignore\n' >"$t/etc/pip.conf"
	fi
	# Users: code runs as a numeric uid that is no host account (exec_user, 2000100000 by
	# default; the keeper is 2000100001); give them names so whoami, pip, ssh-less git and
	# friends find a passwd entry and a writable home.
	touch "$t/etc/passwd" "$t/etc/group"
	grep -q '^root:' "$t/etc/passwd" || echo 'root:x:0:0:root:/root:/bin/sh' >>"$t/etc/passwd"
	grep -q '^[^:]*:[^:]*:2000100000:' "$t/etc/passwd" ||
		echo 'sandbox:x:2000100000:2000100000:sandbox:/tmp:/bin/sh' >>"$t/etc/passwd"
	grep -q '^[^:]*:[^:]*:2000100001:' "$t/etc/passwd" ||
		echo 'keeper:x:2000100001:2000100001:keeper:/nonexistent:/usr/sbin/nologin' >>"$t/etc/passwd"
	grep -q '^[^:]*:[^:]*:65534:' "$t/etc/passwd" ||
		echo 'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin' >>"$t/etc/passwd"
	grep -q '^root:' "$t/etc/group" || echo 'root:x:0:' >>"$t/etc/group"
	grep -q '^[^:]*:[^:]*:2000100000:' "$t/etc/group" || echo 'sandbox:x:2000100000:' >>"$t/etc/group"
	grep -q '^[^:]*:[^:]*:2000100001:' "$t/etc/group" || echo 'keeper:x:2000100001:' >>"$t/etc/group"
	grep -q '^[^:]*:[^:]*:65534:' "$t/etc/group" || echo 'nogroup:x:65534:' >>"$t/etc/group"
	if [ -f "$t/etc/shadow" ] && ! grep -q '^sandbox:' "$t/etc/shadow"; then
		echo 'sandbox:*:19000:0:99999:7:::' >>"$t/etc/shadow"
	fi
	# No /workspace: it exists in a sandbox only when the policy mounts one there.
	mkdir -p "$t/tmp" "$t/var/tmp" "$t/root" "$t/proc" "$t/sys" "$t/dev"
	rmdir "$t/workspace" 2>/dev/null || true
	chmod 1777 "$t/tmp" "$t/var/tmp"
	chmod 0700 "$t/root"
}

# build_base : the Debian minbase tree every Debian image starts from. It is kept between runs
# (with its apt lists) so that changing one image's packages costs an apt-get, not a debootstrap:
# debootstrap spends most of its time resolving dependencies in shell.
build_base() {
	rm -rf "$BASE/rootfs" "$BASE/stamp"
	mkdir -p "$DEBS"
	debootstrap --variant=minbase --cache-dir="$DEBS" "$SUITE" "$BASE/rootfs" "$MIRROR"
}

base_stamp() {
	{
		declare -f build_base
		echo "$SUITE $MIRROR"
	} | sha256sum | cut -c1-16
}

ensure_base() {
	local stamp
	stamp=$(base_stamp)
	if [ -d "$BASE/rootfs" ] && [ "$(cat "$BASE/stamp" 2>/dev/null)" = "$stamp" ]; then
		return 0
	fi
	mkdir -p "$BASE"
	al_log "images: bootstrapping Debian $SUITE minbase (log $BASE/build.log)"
	local t0=$SECONDS
	if ! build_base >"$BASE/build.log" 2>&1; then
		tail -n 15 "$BASE/build.log" >&2
		al_die "debootstrap failed"
	fi
	echo "$stamp" >"$BASE/stamp"
	al_log "images: minbase ready in $((SECONDS - t0)) s"
}

apt_in() { # tree apt-get-args...
	local tree=$1
	shift
	DEBIAN_FRONTEND=noninteractive chroot "$tree" apt-get -q -y --no-install-recommends "$@"
}

# build_debian DIR PACKAGES : a copy of the minbase tree plus PACKAGES (comma-separated),
# installed by apt inside the copy, with .debs shared through the pool in $DEBS.
build_debian() {
	local tree=$1/rootfs pkgs=${2//,/ } f
	rm -rf "$tree"
	cp -a "$BASE/rootfs" "$tree"
	[ -n "$pkgs" ] || return 0
	cp -L /etc/resolv.conf "$tree/etc/resolv.conf" 2>/dev/null || true
	find "$DEBS" -maxdepth 1 -name '*.deb' -exec ln -f -t "$tree/var/cache/apt/archives" {} +
	# The tree is thrown away on failure: dpkg need not fsync every file.
	echo force-unsafe-io >"$tree/etc/dpkg/dpkg.cfg.d/airlock-unsafe-io"
	# shellcheck disable=SC2086 # one word per package
	if ! apt_in "$tree" install $pkgs; then
		# The kept lists may name versions the mirror has dropped since.
		apt_in "$tree" update
		apt_in "$tree" install $pkgs
	fi
	rm -f "$tree/etc/dpkg/dpkg.cfg.d/airlock-unsafe-io"
	for f in "$tree"/var/cache/apt/archives/*.deb; do
		[ -e "$DEBS/${f##*/}" ] || ln "$f" "$DEBS/" 2>/dev/null || true
	done
}

build_busybox() { # dir
	local tree=$1/rootfs p
	rm -rf "$tree"
	mkdir -p "$tree"/{bin,sbin,usr/bin,usr/sbin,etc}
	cp /bin/busybox "$tree/bin/busybox"
	"$tree/bin/busybox" --list-full | while read -r p; do
		[ -e "$tree/$p" ] || [ -L "$tree/$p" ] || ln -s /bin/busybox "$tree/$p"
	done
}

# build_tarball SPEC STAMP : makes $CACHE/<name>/rootfs.tar; logs to build.log there.
build_tarball() {
	local spec=$1 stamp=$2 name builder pkgs dir
	IFS='|' read -r name _ _ builder pkgs <<<"$spec"
	dir=$CACHE/$name
	mkdir -p "$dir"
	rm -f "$dir/stamp"
	case $builder in
	debian) build_debian "$dir" "$pkgs" ;;
	busybox) build_busybox "$dir" ;;
	esac
	finalize_tree "$dir/rootfs"
	tar --numeric-owner -C "$dir/rootfs" -cf "$dir/rootfs.tar.tmp" .
	mv "$dir/rootfs.tar.tmp" "$dir/rootfs.tar"
	rm -rf "$dir/rootfs"
	echo "$stamp" >"$dir/stamp"
}

# import_into ENGINE SPEC STAMP
import_into() {
	local engine=$1 spec=$2 stamp=$3 name ref runtime old new tar
	IFS='|' read -r name ref runtime _ _ <<<"$spec"
	tar=$CACHE/$name/rootfs.tar
	local changes=(--change "ENV $ENV_PATH" --change "ENV LANG=C.UTF-8"
		--change "LABEL org.airlock.builder=$stamp" --change "LABEL org.airlock.runtime=$runtime")
	old=$(engine_id "$engine" "$ref")
	# Called from a `||` list, where errexit does not apply: return on failure explicitly.
	case $engine in
	docker) "$AIRLOCK_DOCKER" import "${changes[@]}" -m "airlock build-local $stamp" "$tar" "$ref" >/dev/null || return 1 ;;
	podman) "$AIRLOCK_PODMAN" import -q "${changes[@]}" -m "airlock build-local $stamp" "$tar" "$ref" >/dev/null || return 1 ;;
	esac
	new=$(engine_id "$engine" "$ref")
	# Drop the image the tag moved away from; an image still used by a container stays.
	if [ -n "$old" ] && [ "$old" != "$new" ]; then
		case $engine in
		docker) "$AIRLOCK_DOCKER" rmi "$old" >/dev/null 2>&1 || true ;;
		podman) "$AIRLOCK_PODMAN" rmi "$old" >/dev/null 2>&1 || true ;;
		esac
	fi
}

# The stamp covers what decides an image's content (the functions above, the package lists, the
# suite), not logging or verification, so editing those does not rebuild anything.
SELF_HASH=$({
	declare -f finalize_tree build_base build_debian build_busybox build_tarball import_into
	echo "$ENV_PATH"
} | sha256sum | cut -c1-64)

# --- plan ---------------------------------------------------------------------------------------
declare -A STAMP NEEDS
TO_BUILD=()
for spec in "${SPECS[@]}"; do
	IFS='|' read -r name ref _ _ _ <<<"$spec"
	wanted "$name" || continue
	stamp=$(stamp_of "$spec")
	STAMP[$name]=$stamp
	NEEDS[$name]=""
	for engine in "${ENGINES[@]}"; do
		if [ "$FORCE" = 1 ] || [ "$(engine_label "$engine" "$ref")" != "$stamp" ]; then
			NEEDS[$name]+=" $engine"
		fi
	done
	if [ "$FORCE" = 1 ] || { [ -n "${NEEDS[$name]}" ] &&
		{ [ ! -f "$CACHE/$name/rootfs.tar" ] || [ "$(cat "$CACHE/$name/stamp" 2>/dev/null)" != "$stamp" ]; }; }; then
		TO_BUILD+=("$spec")
	fi
	[ -n "${NEEDS[$name]}" ] || al_log "images: $ref up to date ($stamp)"
done

# --- build: the minbase once, then the images in parallel (apt and dpkg are mostly serial) --------
if [ ${#TO_BUILD[@]} -gt 0 ]; then
	[ "$(id -u)" -eq 0 ] || al_die "building images needs root"
	case " ${TO_BUILD[*]} " in
	*"|debian|"*)
		command -v debootstrap >/dev/null || al_die "debootstrap is not installed (run contrib/setup.sh)"
		ensure_base
		;;
	esac
	declare -A PIDS
	for spec in "${TO_BUILD[@]}"; do
		IFS='|' read -r name ref _ _ _ <<<"$spec"
		mkdir -p "$CACHE/$name"
		al_log "images: building $ref (log $CACHE/$name/build.log)"
		(
			t0=$SECONDS
			build_tarball "$spec" "${STAMP[$name]}"
			echo "built in $((SECONDS - t0)) s"
		) >"$CACHE/$name/build.log" 2>&1 &
		PIDS[$name]=$!
	done
	failed=0
	for name in "${!PIDS[@]}"; do
		if wait "${PIDS[$name]}"; then
			al_log "images: $name $(tail -n1 "$CACHE/$name/build.log"), $(du -sh "$CACHE/$name/rootfs.tar" | cut -f1) tar"
		else
			al_log "images: building $name failed; last lines of $CACHE/$name/build.log:"
			tail -n 15 "$CACHE/$name/build.log" >&2
			failed=1
		fi
	done
	[ "$failed" = 0 ] || al_die "image build failed"
fi

# --- import: one job per engine, the engines work in parallel -----------------------------------
import_all() { # engine
	local spec name ref
	for spec in "${SPECS[@]}"; do
		IFS='|' read -r name ref _ _ _ <<<"$spec"
		wanted "$name" || continue
		case " ${NEEDS[$name]} " in *" $1 "*) ;; *) continue ;; esac
		import_into "$1" "$spec" "${STAMP[$name]}" || return 1
		al_log "images: $ref imported into $1"
	done
}
IMPORT_PIDS=()
for engine in "${ENGINES[@]}"; do
	import_all "$engine" &
	IMPORT_PIDS+=($!)
done
for pid in "${IMPORT_PIDS[@]}"; do
	wait "$pid" || al_die "image import failed"
done

# --- verify --------------------------------------------------------------------------------------
# run_in ENGINE REF CMD... : runs a throwaway container without network.
run_in() {
	local engine=$1 ref=$2
	shift 2
	case $engine in
	docker) "$AIRLOCK_DOCKER" run --rm --network none "$ref" "$@" ;;
	# Podman's default rlimits exceed this host's hard limits; runc then refuses to start.
	podman) "$AIRLOCK_PODMAN" --runtime runc run --rm --network none \
		--ulimit nofile=1024:4096 --ulimit nproc=1024:1024 "$ref" "$@" ;;
	esac
}

# shellcheck disable=SC2016 # the $((...)) is for the container shell
verify() {
	local engine spec name ref out want bad=0 id
	for engine in "${ENGINES[@]}"; do
		for spec in "${SPECS[@]}"; do
			IFS='|' read -r name ref _ _ _ <<<"$spec"
			wanted "$name" || continue
			case $name in
			python) out=$(run_in "$engine" "$ref" python3 -c 'print(6*7)' 2>&1) || true ;;
			node) out=$(run_in "$engine" "$ref" node -e 'console.log(6*7)' 2>&1) || true ;;
			bash) out=$(run_in "$engine" "$ref" bash -c 'echo $((6*7))' 2>&1) || true ;;
			busybox) out=$(run_in "$engine" "$ref" sh -c 'echo $((6*7))' 2>&1) || true ;;
			esac
			want=42
			if [ "$out" = "$want" ]; then
				al_log "verify: $engine $ref ok"
			else
				al_log "verify: $engine $ref FAILED: $out"
				bad=1
			fi
		done
		if [ "$engine" = podman ] && wanted python; then
			# Callers name images without the localhost/ prefix; Podman must resolve them.
			id=$(curl -sf --unix-socket "$AIRLOCK_PODMAN_SOCK" -H 'Content-Type: application/json' \
				-d '{"Image":"airlock/python:3.11","Cmd":["true"]}' \
				http://d/v1.41/containers/create | sed -n 's/.*"Id":"\([0-9a-f]*\)".*/\1/p') || true
			if [ -n "$id" ]; then
				curl -sf --unix-socket "$AIRLOCK_PODMAN_SOCK" -X DELETE "http://d/v1.41/containers/$id?force=1" >/dev/null || true
				al_log "verify: podman compat API resolves airlock/python:3.11"
			else
				al_log "verify: podman compat API create with airlock/python:3.11 FAILED"
				bad=1
			fi
		fi
	done
	return "$bad"
}

if [ "$VERIFY" = 1 ]; then
	verify || al_die "image verification failed"
fi
al_log "images: done in $((SECONDS - START)) s"
