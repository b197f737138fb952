#!/usr/bin/env bash
# Forward benchmark (SPEC §11): through one real sshd in one run, 1 GiB
# download and small-request latency (p50/p99) for the nemoclaw forward
# daemon, OpenSSH `ssh -N -L`, and raw loopback (the ceiling); prints the
# figures, the ratios and the daemon's idle RSS. Needs root (sshd).
# Figures are reported, never asserted: run it on a quiet machine.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
exec go test -count=1 -run '^$' -bench '^BenchmarkForwardCompare$' -benchtime 1x -timeout 20m ./host/
