#!/usr/bin/env bash
# Placeholder until the lab (issue 3) lands: the lab's npm dependencies.
set -euo pipefail
echo "lab-deps: nothing to install yet" >&2
