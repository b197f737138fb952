# shellcheck disable=SC2034 # sourced: the names are for the fixtures
# Helpers for the per-case fixtures of the payload namespace tests; sourced
# (as root, inside the namespace) before a case's own fixture lines.
PRE=/usr/local/lib/nemoclaw/preloads
SN=/tmp/nemoclaw-sandbox-safety-net.js
CIAO=/tmp/nemoclaw-ciao-network-guard.js
PENV=/tmp/nemoclaw-proxy-env.sh
RENV=/tmp/nemoclaw-recovered-proxy-env.sh
GLOG=/tmp/gateway.log
FLOG=/tmp/gateway-recovery.log
LOCK=/tmp/nemoclaw-gateway-recovery.lock

# as_uid UID CMD...: run CMD with numeric ids (names need no lookup).
as_uid() {
	local u=$1
	shift
	setpriv --reuid="$u" --regid="$u" --clear-groups "$@"
}

# stage_trusted [OWNER]: the staged copies as a healthy entrypoint leaves them.
stage_trusted() {
	local o=${1:-0}
	install -m 0444 -o "$o" -g "$o" "$PRE/sandbox-safety-net.js" "$SN"
	install -m 0444 -o "$o" -g "$o" "$PRE/ciao-network-guard.js" "$CIAO"
}

# put PATH OWNER MODE < content: a file with exact owner and mode.
put() {
	cat >"$1"
	chown "$2:$2" "$1"
	chmod "$3" "$1"
}

# start_gateway UID BIN ARGS...: a gateway started by the "entrypoint"
# before the payload runs (guarded, detached, output to the gateway log).
start_gateway() {
	local u=$1
	shift
	as_uid "$u" env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/sandbox NSTEST_FIXTURE=1 \
		NODE_OPTIONS="--require $SN --require $CIAO" setsid "$@" </dev/null >>"$GLOG" 2>&1 &
}

# wait_http URL: until URL answers (hang-protected).
wait_http() {
	local i
	for i in $(seq 1 500); do
		curl -fsS -o /dev/null --max-time 1 "$1" 2>/dev/null && return 0
		sleep 0.02
	done
	echo "fixture: $1 never answered" >&2
	return 1
}
