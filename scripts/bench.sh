#!/usr/bin/env bash
# make bench: every figure of SPEC §11 in one run, each measured side by
# side with its reference in the same loop (OpenSSH against the same real
# sshd, the gateway's own cold start, the slowest single recovery) and
# reported as a ratio. Figures are reported, never asserted (shared, noisy
# machines): the load average is printed with them.
#
#   exec     one `true` round trip through our transport vs `ssh true`
#   forward  1 GiB and small requests (p50/p99) vs `ssh -N -L`, daemon RSS
#   recover  no-op recover vs `ssh true`, recovery overhead, fleet of 20,
#            `nemoclaw version` start-up
#
# At the end: a table of every figure, and the same as one
# `BENCH <name> value=<v> reference=<r> ratio=<x> target=<t> ok=<bool>`
# line per figure, for scripts.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
	echo "bench: needs root (the benchmarks start a real sshd and lab sandboxes); run: sudo make bench" >&2
	exit 1
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
echo "== exec round trip (sandboxexec vs OpenSSH)"
scripts/bench-exec.sh | tee -a "$out"
echo
echo "== dashboard forward (daemon vs OpenSSH -L vs loopback)"
scripts/bench-forward.sh | tee -a "$out"
echo
echo "== recover (lab sandboxes)"
scripts/bench-recover.sh | tee -a "$out"

echo
echo "== SPEC §11 figures ($(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ))"
grep '^BENCH ' "$out" | awk '
	{
		name = $2
		for (i = 3; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = substr($i, length(kv[1]) + 2) }
		printf "  %-30s %12s %12s %8s  %-14s %s\n", name, f["value"] " " f["unit"], (f["reference"] == "-" ? "-" : f["reference"] " " f["unit"]), f["ratio"], f["target"], (f["ok"] == "true" ? "met" : "NOT MET")
	}
	BEGIN { printf "  %-30s %12s %12s %8s  %-14s %s\n", "figure", "value", "reference", "ratio", "target", "" }'
echo
grep '^BENCH ' "$out" | sed 's/ unit=[^ ]*$//'
