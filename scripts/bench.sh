#!/usr/bin/env bash
# Benchmarks (SPEC §11): not written yet.
set -euo pipefail
echo "bench: no benchmarks exist yet" >&2
exit 1
