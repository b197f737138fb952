#!/usr/bin/env bash
# make bench: the benchmarks of SPEC §11 that exist so far, each measured
# side by side with OpenSSH against the same real sshd in the same run and
# reported as ratios. Figures are reported, never asserted (shared, noisy
# machines): run on a quiet machine and read the ratios.
#
#   exec     one `true` round trip: our SSH transport (fresh and reused
#            connection) vs `ssh -F cfg alias true`            (issue 4)
#   forward  1 GiB download and small-request latency p50/p99: our forward
#            daemon vs `ssh -N -L` vs raw loopback; daemon idle RSS (issue 5)
#
# Not yet measured (they need the recover flow): recovery overhead, no-op
# recover, fleet recover --all, `nemoclaw --version` start-up.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
	echo "bench: needs root (the benchmarks start a real sshd); run: sudo make bench" >&2
	exit 1
fi
echo "== exec round trip (sandboxexec vs OpenSSH)"
scripts/bench-exec.sh
echo
echo "== dashboard forward (daemon vs OpenSSH -L vs loopback)"
scripts/bench-forward.sh
