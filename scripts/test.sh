#!/usr/bin/env bash
# make test: every test, strict. Run after `make lint lab-deps` (the Makefile
# does that). `scripts/test.sh --check` only checks the prerequisites;
# `scripts/test.sh --e2e` (make e2e) runs only the end-to-end packages.
#
# Strict: NEMOCLAW_TEST_STRICT=1 makes a missing prerequisite (root, sshd,
# sh/dash, the lab's Node 24 and OpenClaw) FAIL the test that needs it,
# never skip it, so a green run means everything ran.
#
# Three runs, started together: one is CPU bound, the others mostly wait
# on real processes (shells, sshd, gateways) under wall-clock budgets:
#   race  go test -race over every package, except the whole-script
#         namespace cases of the payload (TestNamespace*) and the lab-driven
#         e2e packages
#   ns    the payload's namespace cases, without -race (it slows the Go
#         side of their harness and says nothing about shell)
#   e2e   e2e/... (the lab, the operator's commands, the jobs); their
#         binaries are built with -race themselves
# The waiting runs use -parallel 8: their tests sleep, they do not compute.
# Output is prefixed [race] / [ns] / [e2e]; the run fails if any fails.
#
# The e2e packages run side by side; the tests among them that start the
# real OpenClaw gateway take turns through a machine-wide lock
# (testenv.Exclusive). Test artifacts (the browser job's screenshot on
# failure) are kept in test-artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"

# check: root first (make runs `--check` before it installs anything, so a
# non-root user is told at once, before apt-get fails less clearly); the
# tools after, when the run starts, once make deps and lab-deps have
# installed them.
check() {
	local problems=()
	[ "$(id -u)" -eq 0 ] || problems+=("not root: the tests start sshd in Linux namespaces, bind-mount and chown; run: sudo make test")
	[ "${1:-}" = root-only ] && [ ${#problems[@]} -eq 0 ] && return 0
	for b in sshd:openssh-server ssh:openssh-client dash:dash sh:dash shellcheck:shellcheck socat:socat nsenter:util-linux unshare:util-linux curl:curl python3:python3; do
		cmd=${b%%:*} pkg=${b#*:}
		[ -x "/usr/sbin/$cmd" ] || command -v "$cmd" >/dev/null 2>&1 || problems+=("$cmd not found: apt-get install $pkg (make deps does)")
	done
	if ((${#problems[@]})); then
		printf 'make test cannot run here:\n' >&2
		printf '  - %s\n' "${problems[@]}" >&2
		exit 1
	fi
}

if [ "${1:-}" = --check ]; then
	check root-only
	exit 0
fi
check

export NEMOCLAW_TEST_STRICT=1
timeout=${NEMOCLAW_TEST_TIMEOUT:-60m}
artifacts=$PWD/test-artifacts
mkdir -p "$artifacts"

e2e() {
	go test -count=1 -parallel 8 -timeout "$timeout" -artifacts -outputdir "$artifacts" ./e2e/...
}

start=$SECONDS
if [ "${1:-}" = --e2e ]; then
	rc=0
	e2e || rc=1
	echo "make e2e: $((SECONDS - start)) s, $([ "$rc" -eq 0 ] && echo passed || echo FAILED)"
	exit "$rc"
fi

mapfile -t race_pkgs < <(go list ./... | grep -v '/e2e/')
go test -race -count=1 -timeout "$timeout" -skip '^TestNamespace' "${race_pkgs[@]}" 2>&1 | sed -u 's/^/[race] /' &
race=$!
go test -count=1 -parallel 8 -timeout "$timeout" -run '^TestNamespace' ./templates/ 2>&1 | sed -u 's/^/[ns] /' &
ns=$!
e2e 2>&1 | sed -u 's/^/[e2e] /' &
e2e=$!
rc=0
wait "$race" || rc=1
wait "$ns" || rc=1
wait "$e2e" || rc=1
echo "make test: $((SECONDS - start)) s, $([ "$rc" -eq 0 ] && echo passed || echo FAILED)"
exit "$rc"
