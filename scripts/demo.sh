#!/usr/bin/env bash
# The demo (README): not written yet; it needs the lab and the payload.
set -euo pipefail
echo "demo: the lab and the payload are not built yet; nothing to show" >&2
exit 1
