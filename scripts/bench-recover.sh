#!/usr/bin/env bash
# Recover benchmarks (SPEC §11) against lab sandboxes: no-op recover vs
# `ssh true`, recovery overhead over the gateway's own cold start, a fleet of
# 20 vs the slowest single recovery, and `nemoclaw version` start-up. Each
# prints a BENCH line. Needs root (the lab). Asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
exec go test -count=1 -run '^$' -bench '^Benchmark(RecoverNoop|RecoveryOverhead|Fleet|Version)$' \
	-benchtime "${BENCHTIME:-10x}" -timeout 40m ./e2e/cli/
