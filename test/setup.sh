#!/usr/bin/env bash
# Installs what the test suites need that Go does not fetch by itself:
# - Chromium from Debian's packages, for the HTML timeline test;
# - the Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
#   kwok, kubectl), built from source through the Go module proxy and cached outside the repo;
# - promtool (Prometheus), built the same way, which checks deploy/prometheus/khist-rules.yaml;
# - Jaeger v2, built the same way, the OTLP receiver the OpenTelemetry export's tests send to.
# Each step does nothing when its result is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
  echo "setup: installing chromium from Debian's packages"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi

echo "setup: Kubernetes control plane binaries (first build on a machine takes ~7 minutes)"
go run ./test/cluster/cmd/khist-cluster build

# Keep the version in step with promtoolVersion in deploy/manifests_test.go.
PROMTOOL_VERSION=v0.316.0
tools="${XDG_CACHE_HOME:-$HOME/.cache}/khist/tools/prometheus-$PROMTOOL_VERSION"
if [ ! -x "$tools/promtool" ]; then
  echo "setup: building promtool $PROMTOOL_VERSION (first build on a machine takes several minutes)"
  GOBIN="$tools" go install "github.com/prometheus/prometheus/cmd/promtool@$PROMTOOL_VERSION"
fi

# Jaeger v2 (an OTLP receiver with an in-memory store and an HTTP query API), built the same way,
# which the OpenTelemetry export test (export/otlp) sends its traces to and reads them back from.
# Keep the version in step with jaegerVersion in export/otlp/helpers_test.go. Jaeger's module
# carries replace directives, so it builds from a throwaway module that names it as a tool.
JAEGER_VERSION=v1.75.0
tools="${XDG_CACHE_HOME:-$HOME/.cache}/khist/tools/jaeger-$JAEGER_VERSION"
if [ ! -x "$tools/jaeger" ]; then
  echo "setup: building jaeger $JAEGER_VERSION (first build on a machine takes several minutes)"
  mod="$(mktemp -d)"
  (
    cd "$mod"
    go mod init khist.local/jaeger-tool >/dev/null 2>&1
    go get -tool "github.com/jaegertracing/jaeger/cmd/jaeger@$JAEGER_VERSION"
    mkdir -p "$tools"
    go build -o "$tools/jaeger.tmp" github.com/jaegertracing/jaeger/cmd/jaeger
    mv "$tools/jaeger.tmp" "$tools/jaeger"
  )
  rm -rf "$mod"
fi

# nats-server at the version go.mod requires, for the clustered JetStream tests (test/fleet);
# test/natscluster builds it the same way on first use if this step was skipped.
NATS_VERSION=$(go list -m -f '{{.Version}}' github.com/nats-io/nats-server/v2)
nats_tools="${XDG_CACHE_HOME:-$HOME/.cache}/khist/tools/nats-server-$NATS_VERSION"
if [ ! -x "$nats_tools/nats-server" ]; then
  echo "setup: building nats-server $NATS_VERSION"
  mkdir -p "$nats_tools"
  go build -o "$nats_tools/nats-server" github.com/nats-io/nats-server/v2
fi
