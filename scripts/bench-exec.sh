#!/usr/bin/env bash
# Exec benchmark (issue 4): one `true` round trip through the SSH transport,
# fresh and over a reused connection, against OpenSSH's `ssh -F cfg alias
# true` to the same real sshd, reported as ratios. Needs root (sshd).
# Figures are reported, never asserted: run it on a quiet machine.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
exec go test -count=1 -run '^$' -bench '^BenchmarkExecTrue$' -benchtime "${BENCHTIME:-20x}" -timeout 20m ./sandboxexec/
