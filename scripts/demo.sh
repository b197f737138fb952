#!/usr/bin/env bash
# make demo: bring up two local lab sandboxes (Hermes on 18789, OpenClaw on
# 18790), break them the way a pod recreate does (every process gone, /tmp
# emptied, only sshd back), and repair each with the ONE command an
# operator types: `nemohermes demo recover` and
# `nemoclaw demo2 connect --probe-only`. Then the dashboards answer on this
# machine. Needs root (Linux namespaces).
set -euo pipefail
cd "$(dirname "$0")/.."

lab=./bin/nemoclaw-lab
if [ "$(id -u)" -ne 0 ]; then
	echo "demo: the lab needs root (Linux namespaces); run: sudo make demo" >&2
	exit 1
fi
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# fresh starts: our forwards and lab sandboxes from an earlier demo go
for s in demo demo2; do
	./bin/nemoclaw "$s" forward stop >/dev/null 2>&1 || true
	"$lab" down "$s" >/dev/null 2>&1 || true
done

say "1. Bring up lab sandboxes: 'demo' (Hermes, port 18789) and 'demo2' (OpenClaw, port 18790)"
"$lab" up demo --agent hermes --port 18789
"$lab" up demo2 --port 18790

say "2. Break both the way a pod recreate does: every process gone, /tmp emptied, only sshd back"
"$lab" recreate demo
"$lab" recreate demo2
echo "  /tmp in 'demo' now holds: [$("$lab" exec demo -- ls -A /tmp | tr '\n' ' ')]"

say "3. Repair the Hermes sandbox: one command"
echo "  \$ nemohermes demo recover"
./bin/nemohermes demo recover

say "4. Repair the OpenClaw sandbox: one command"
echo "  \$ nemoclaw demo2 connect --probe-only"
./bin/nemoclaw demo2 connect --probe-only

say "5. The dashboards answer on this machine"
echo "  \$ curl -s http://127.0.0.1:18789/"
curl -fsS --max-time 10 http://127.0.0.1:18789/ | grep -o '<title>[^<]*</title>'
echo "  \$ curl -s http://127.0.0.1:18790/"
curl -fsS --max-time 10 http://127.0.0.1:18790/ | grep -o '<title>[^<]*</title>'

cat <<'TXT'

Done. Both sandboxes and their forwards are still running:
  ./bin/nemoclaw list                                   # what is registered, and its forward
  ./bin/nemohermes demo status                          # read-only check
  ./bin/nemoclaw demo2 dashboard                        # a login link
  ./bin/nemoclaw recover --all                          # every sandbox at once
  ./bin/nemoclaw demo forward stop; ./bin/nemoclaw-lab down demo   # tear down (same for demo2)
TXT
