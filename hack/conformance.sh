#!/usr/bin/env bash
# make conformance: Kubernetes' own [Conformance] specs (e2e.test of the
# default release, built from the k8s.io/kubernetes module with the images
# its pods run) against a new cluster with the default addons
# (e2e/conformance_test.go). Leaves the JUnit report in
# /tmp/skiff-conformance-junit.xml and ginkgo's output in
# /tmp/skiff-conformance.log; this summary in /tmp/skiff-conformance-e2e.log.
set -o errexit -o nounset -o pipefail
cd "$(dirname "$0")/.."

go build -o bin/testsummary ./hack/testsummary
SKIFF_BIN="$PWD/bin/skiff" go test -tags conformance -count=1 -json -timeout 180m \
  -run '^TestConformance$' ./e2e 2>&1 | bin/testsummary | tee /tmp/skiff-conformance-e2e.log
