# khist — the two commands a new user needs:
#   make run    builds khist and records the cluster of your current kubeconfig into the
#               embedded default (in-process NATS + bbolt under ~/.local/share/khist)
#   make test   installs what the tests need (the Kubernetes control plane, built from source
#               through the Go module proxy; Chromium from Debian's packages) and runs every test
# and, not part of make test:
#   make fidelity-busy   records one more run of the busy fidelity suite (test/fidelity, 40 kwok
#               nodes, ~3000 pods; 10-20 minutes) into test/fidelity/testdata/busy
#   make bench-soak   the soak benchmark of the main job (test/soak): khist collect under a live
#               load of 20 Deployments x 100 replicas rolled continuously on 30 kwok nodes for
#               30 minutes, beside raw kubectl watches; CPU and disk per event, RSS against
#               events recorded, events missed, into docs/bench/soak-* (about 45 minutes).
#               ARGS are passed to go test, e.g. ARGS=-soak-duration=3m
#   make fidelity-jobs   records the Job and CronJob scenarios again (each twice, about 6 minutes)
#               into test/fidelity/testdata/jobs
SHELL := /bin/bash
GO ?= go
BIN := bin/khist
TEST_TIMEOUT ?= 80m
ARGS ?=

.PHONY: all build run demo test test-short vet bench install deps clean fidelity-busy fidelity-jobs bench-soak

all: build

build:
	$(GO) build -o $(BIN) ./cmd/khist
	ln -sf khist bin/kubectl-khist

run: build
	./$(BIN) collect $(ARGS)

# No cluster at hand: import the recordings the README's examples use (made on the project's
# control plane) into ./.demo, and show a rollout that failed and was rolled back. Then
# `export KHIST_DATA_DIR=.demo` and the README's examples run as written.
demo: build
	./$(BIN) --data-dir .demo import test/fidelity/testdata/seed-rolling.json.gz
	./$(BIN) --data-dir .demo import test/fidelity/testdata/never-ready-undo.json.gz
	./$(BIN) --data-dir .demo import eventlog/importer/testdata/sample-rolling/deployments.json.gz eventlog/importer/testdata/sample-rolling/replicasets.json.gz eventlog/importer/testdata/sample-rolling/pods.json.gz eventlog/importer/testdata/sample-rolling/events.json.gz
	./$(BIN) --data-dir .demo import test/fidelity/testdata/busy/busy-20x100-r1.json.gz
	./$(BIN) --data-dir .demo import test/fidelity/testdata/jobs/job-backoff.json.gz test/fidelity/testdata/jobs/cron-forbid.json.gz test/fidelity/testdata/jobs/cron-suspend.json.gz
	./$(BIN) --data-dir .demo rollouts -n never-ready-undo
	./$(BIN) --data-dir .demo replay compare deploy/web -n never-ready-undo
	@echo
	@echo 'The recordings are in ./.demo: `export KHIST_DATA_DIR=.demo` and try the examples of README.md.'

vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...

deps:
	bash test/setup.sh

# go test -json through test/progress: slow and failed tests are printed as they end, and the
# tests still running every 30 seconds, so that a long package shows progress.
test: deps vet
	set -o pipefail; $(GO) test -json -timeout $(TEST_TIMEOUT) ./... | $(GO) run ./test/progress

# Unit tests only: no control plane, no browser.
test-short: vet
	$(GO) test -short ./...

# The busy fidelity suite: every busy scenario played at once on the test control plane and
# recorded by khist's collector, kept as run N (the next free number) of each scenario's fixture.
# ARGS are passed to go test, e.g. ARGS=-busy-run=2.
fidelity-busy: cluster-bins
	$(GO) test -timeout 90m -count 1 -v ./test/fidelity -run '^TestLiveBusy$$' -busy -record $(ARGS)

# The soak benchmark of khist collect (issue 13, item 5); see the header and test/soak.
bench-soak: cluster-bins
	$(GO) test -timeout 150m -count 1 -v ./test/soak -run '^TestSoak$$' -soak $(ARGS)

# The jobs fidelity suite: Job and CronJob scenarios (test/fidelity/jobs.go), each played twice at
# once on the test control plane and recorded by khist's collector into test/fidelity/testdata/jobs
# (about 6 minutes).
fidelity-jobs: cluster-bins
	$(GO) test -timeout 30m -count 1 -v ./test/fidelity -run '^TestLiveJobs$$' -jobs -record $(ARGS)

bench:
	$(GO) test -run '^$$' -bench . -benchtime 3x ./...

install:
	$(GO) install ./cmd/khist
	ln -sf khist $$($(GO) env GOPATH)/bin/kubectl-khist

clean:
	rm -rf bin .demo

-include Makefile.cluster
