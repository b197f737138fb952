#!/bin/sh
# nemoclaw-lab's stand-in for a sandbox image entrypoint. It does what a real
# image does at pod start: write the guard chain into /tmp (the proxy-env
# file and the staged preload copies, 0444, owned by whoever runs this: root in
# root mode, sandbox in non-root mode), then start the gateway detached,
# sourcing that env, with its output in /tmp/gateway.log.
#
# The legacy form (LAB_LEGACY=1) writes the proxy variables only, without
# NODE_OPTIONS guards and without staged preloads, as old Hermes images did:
# the gateway it starts dies, which is the situation behind "refusing
# unguarded gateway relaunch".
set -eu
umask 022
# shellcheck source=/dev/null
. /usr/local/lib/nemoclaw-lab/entrypoint.env

say() { printf '[entrypoint] %s\n' "$*" >&2; }

# install_0444 SRC DEST: stage in /tmp (same filesystem), then rename over
# DEST, so a reader never sees a half-written file.
install_0444() {
	tmp=$(mktemp /tmp/.nemoclaw-entrypoint.XXXXXX)
	cat "$1" >"$tmp"
	chmod 0444 "$tmp"
	mv -f "$tmp" "$2"
}

envtmp=$(mktemp /tmp/.nemoclaw-entrypoint-env.XXXXXX)
{
	printf '%s\n' '# nemoclaw sandbox proxy environment (written by the entrypoint)'
	for v in HTTP_PROXY HTTPS_PROXY http_proxy https_proxy; do
		printf "export %s='%s'\n" "$v" "$LAB_PROXY_URL"
	done
	for v in NO_PROXY no_proxy; do
		printf "export %s='%s'\n" "$v" 'localhost,127.0.0.1,::1,inference.local'
	done
	if [ "$LAB_LEGACY" != 1 ]; then
		# shellcheck disable=SC2016 # expanded when the file is sourced
		printf '%s\n' 'export NODE_OPTIONS="${NODE_OPTIONS:+$NODE_OPTIONS }--require /tmp/nemoclaw-sandbox-safety-net.js --require /tmp/nemoclaw-ciao-network-guard.js"'
	fi
} >"$envtmp"
install_0444 "$envtmp" /tmp/nemoclaw-proxy-env.sh
rm -f "$envtmp"

if [ "$LAB_LEGACY" != 1 ]; then
	for g in sandbox-safety-net ciao-network-guard; do
		install_0444 "/usr/local/lib/nemoclaw/preloads/$g.js" "/tmp/nemoclaw-$g.js"
	done
fi

case "$LAB_AGENT" in
hermes)
	install -d -m 0700 /sandbox/.hermes
	[ "$(id -u)" != 0 ] || chown "$LAB_GATEWAY_USER:$LAB_GATEWAY_USER" /sandbox/.hermes
	gateway_cmd='exec env HERMES_HOME=/sandbox/.hermes hermes gateway run'
	;;
*)
	gateway_cmd="exec openclaw gateway run --port $LAB_PORT"
	;;
esac

run_as=$(id -un)
[ "$(id -u)" != 0 ] || run_as=$LAB_GATEWAY_USER
install -m 0644 /dev/null /tmp/gateway.log
[ "$(id -u)" != 0 ] || chown "$run_as:$run_as" /tmp/gateway.log

say "starting the $LAB_AGENT gateway as $run_as: $gateway_cmd"
if [ "$(id -u)" = 0 ]; then
	setsid setpriv --reuid="$run_as" --regid="$run_as" --init-groups --reset-env \
		sh -c ". /tmp/nemoclaw-proxy-env.sh && $gateway_cmd" </dev/null >>/tmp/gateway.log 2>&1 &
else
	setsid sh -c ". /tmp/nemoclaw-proxy-env.sh && $gateway_cmd" </dev/null >>/tmp/gateway.log 2>&1 &
fi
say "gateway started (pid $!)"
