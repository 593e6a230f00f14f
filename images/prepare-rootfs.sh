#!/bin/sh
# prepare-rootfs.sh [ROOT] : makes a root file system fit to run agents' code as airlock does,
# and small. ROOT is a tree on the host (images/build-local.sh) or, by default, / inside an
# image being built (the Dockerfiles under images/ COPY and run it). POSIX sh: slim images have
# dash only.
set -eu
t=${1:-}

# Documentation, man pages and locales nobody reads in a sandbox; apt's lists and caches.
rm -rf "$t"/usr/share/doc/* "$t"/usr/share/man/* "$t"/usr/share/info/* "$t"/usr/share/locale/* \
	"$t"/usr/share/lintian "$t"/usr/share/linda "$t"/usr/share/bug "$t"/usr/share/doc-base \
	"$t"/var/lib/apt/lists/* "$t"/var/cache/apt/* "$t"/var/cache/debconf/*-old \
	"$t"/var/lib/dpkg/*-old "$t"/root/.cache "$t"/root/.npm
if [ -d "$t/etc/dpkg/dpkg.cfg.d" ]; then
	printf '%s\n' 'path-exclude=/usr/share/doc/*' 'path-exclude=/usr/share/man/*' \
		'path-exclude=/usr/share/info/*' 'path-exclude=/usr/share/locale/*' \
		>"$t/etc/dpkg/dpkg.cfg.d/airlock-nodoc"
fi

# PEP 668 marker: the image is the sandbox, so plain `pip install` must work.
rm -f "$t"/usr/lib/python3*/EXTERNALLY-MANAGED "$t"/usr/local/lib/python3*/EXTERNALLY-MANAGED
if [ -d "$t/usr/lib/python3" ] || [ -n "$(ls -d "$t"/usr/local/lib/python3* 2>/dev/null)" ]; then
	mkdir -p "$t/etc"
	printf '[global]\ndisable-pip-version-check = true\nroot-user-action = ignore\n' >"$t/etc/pip.conf"
fi

# Users: code runs as a numeric uid that is no host account (exec_user, 2000100000 by default;
# the keeper is 2000100001); give them names so whoami, pip, git and friends find a passwd
# entry and a writable home. Base images may already name uid 1000 (node's "node"): untouched.
mkdir -p "$t/etc"
touch "$t/etc/passwd" "$t/etc/group"
has() { grep -q "^[^:]*:[^:]*:$2:" "$t/etc/$1"; }
grep -q '^root:' "$t/etc/passwd" || echo 'root:x:0:0:root:/root:/bin/sh' >>"$t/etc/passwd"
has passwd 2000100000 || echo 'sandbox:x:2000100000:2000100000:sandbox:/tmp:/bin/sh' >>"$t/etc/passwd"
has passwd 2000100001 || echo 'keeper:x:2000100001:2000100001:keeper:/nonexistent:/usr/sbin/nologin' >>"$t/etc/passwd"
has passwd 65534 || echo 'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin' >>"$t/etc/passwd"
grep -q '^root:' "$t/etc/group" || echo 'root:x:0:' >>"$t/etc/group"
has group 2000100000 || echo 'sandbox:x:2000100000:' >>"$t/etc/group"
has group 2000100001 || echo 'keeper:x:2000100001:' >>"$t/etc/group"
has group 65534 || echo 'nogroup:x:65534:' >>"$t/etc/group"
if [ -f "$t/etc/shadow" ] && ! grep -q '^sandbox:' "$t/etc/shadow"; then
	echo 'sandbox:*:19000:0:99999:7:::' >>"$t/etc/shadow"
fi

# No /workspace: it exists in a sandbox only when the policy mounts one there.
mkdir -p "$t/tmp" "$t/var/tmp" "$t/root" "$t/proc" "$t/sys" "$t/dev"
rmdir "$t/workspace" 2>/dev/null || true
chmod 1777 "$t/tmp" "$t/var/tmp"
chmod 0700 "$t/root"
