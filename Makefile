# nemoclaw-go. `make demo` and `make test` are the two set-up commands; each
# installs what it needs (scripts/deps.sh, scripts/lab-deps.sh).
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)
GO ?= go
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/nemoclaw/nemoclaw-go/host.Version=$(VERSION)
BINS := nemoclaw nemohermes nemoclaw-lab

.PHONY: all deps lab-deps build test e2e test-prereqs lint demo bench clean

all: build

deps:
	@scripts/deps.sh

# Node 24 and the real OpenClaw for `nemoclaw-lab up --gateway openclaw`.
lab-deps: deps
	@scripts/lab-deps.sh

build: deps
	@mkdir -p bin
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/ $(addprefix ./cmd/,$(BINS))

lint: build
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...

# Tests drive real sshd, sh/dash, namespaces and the lab: they need root,
# and a missing prerequisite fails the run (scripts/test.sh says what to do).
test: test-prereqs lint lab-deps
	@scripts/test.sh

# The end-to-end jobs and scenarios alone (e2e/cli, e2e/jobs, e2e/lab); part
# of `make test` too.
e2e: test-prereqs build lab-deps
	@scripts/test.sh --e2e

test-prereqs:
	@scripts/test.sh --check

bench: build lab-deps
	@scripts/bench.sh

demo: build
	@scripts/demo.sh

clean:
	rm -rf bin test-artifacts
