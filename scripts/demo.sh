#!/usr/bin/env bash
# make demo: bring up a local lab sandbox, break it the way a pod recreate
# does, repair it, and show the dashboard answering on the host.
#
# Honest label: the one-shot `nemohermes <name> recover` command is not built
# yet. This demo runs the parts that exist, by hand and in the order recover
# will run them: the recovery payload (`debug payload`) pushed over the SSH
# transport (`<name> exec`), then the supervised dashboard forward
# (`<name> forward start`).
set -euo pipefail
cd "$(dirname "$0")/.."

name=${DEMO_SANDBOX:-demo}
port=${DEMO_PORT:-18789}
lab=./bin/nemoclaw-lab
cli=./bin/nemohermes

if [ "$(id -u)" -ne 0 ]; then
	echo "demo: the lab needs root (Linux namespaces); run: sudo make demo" >&2
	exit 1
fi

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
# decode prints the payload's machine lines (@nemoclaw <run> <event> k=v...)
# readably: percent-escapes decoded, run id dropped.
decode() {
	while IFS= read -r line; do
		case $line in
		'@nemoclaw '*)
			rest=${line#@nemoclaw * }
			rest=${rest//%/\\x}
			printf '  %b\n' "$rest"
			;;
		*) printf '  %s\n' "$line" ;;
		esac
	done
}

say "1. Bring up lab sandbox '$name' (namespaces, sshd, guarded stub OpenClaw gateway on port $port)"
"$cli" "$name" forward stop >/dev/null 2>&1 || true
"$lab" down "$name" >/dev/null 2>&1 || true
"$lab" up "$name" --port "$port"

say "2. The dashboard answers inside the sandbox"
"$cli" "$name" exec -- sh -c "curl -s http://127.0.0.1:$port/ | grep -o '<title>[^<]*</title>'"

say "3. Break it the way a pod recreate does: every process gone, /tmp emptied, only sshd back"
"$lab" recreate "$name"
echo "  /tmp in the sandbox now holds: [$("$cli" "$name" exec -- ls -A /tmp | tr '\n' ' ')]"
if "$cli" "$name" exec -- curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$port/health"; then
	echo "  unexpected: the gateway still answers" >&2
	exit 1
fi
echo "  gateway health: no answer (as expected)"

say "4. Repair: push the recovery payload over SSH (recover's payload step, run by hand)"
set +e
"$cli" debug payload --agent openclaw --port "$port" | "$cli" "$name" exec -- sh -s 2>/dev/null | decode
status=${PIPESTATUS[1]}
set -e
echo "  payload exit status: $status"
[ "$status" -eq 0 ]

say "5. Re-establish the supervised dashboard forward on the host"
"$cli" "$name" forward start

say "6. The dashboard answers on this machine"
curl -s "http://127.0.0.1:$port/" | grep -o '<title>[^<]*</title>'
"$cli" "$name" forward status

cat <<TXT

Done. The sandbox and its forward are still running:
  $cli $name exec -- ps -eo pid,user,args     # look inside
  $cli $name forward stop && $lab down $name  # tear down
TXT
