#!/usr/bin/env bash
# Installs what building, testing and the lab need on a fresh Debian 12
# machine: Debian packages (only those missing) and the pinned Go modules.
# Idempotent and quiet when everything is present.
set -euo pipefail

packages=(
	openssh-server openssh-client # the lab's sshd; OpenSSH as the benchmark baseline
	shellcheck dash bash          # payload checks (SPEC §5)
	socat iproute2 util-linux procps psmisc
	curl openssl ca-certificates
	gosu                          # the payload's run-as-gateway path (SPEC §5.2 step 10)
	python3                       # the Hermes secret-boundary validator's interpreter (its test double)
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
	if [ "$(id -u)" -ne 0 ]; then
		echo "deps: missing Debian packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})" >&2
		exit 1
	fi
	echo "deps: installing ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
	export PATH="/usr/local/go/bin:$PATH"
fi
go mod download
