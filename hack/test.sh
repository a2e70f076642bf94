#!/usr/bin/env bash
# The project's test command (make test runs it after building the node
# image): static checks (hack/verify.sh), unit tests, the oldest release's
# node image, then the end-to-end suite against real
# clusters. The e2e suite's output goes through hack/testsummary: go test's
# own -v output as it runs, a line as each test ends, a table of every test
# with its result and time at the end; /tmp/skiff-e2e.log keeps all of it.
set -o errexit -o nounset -o pipefail
cd "$(dirname "$0")/.."

hack/verify.sh
go test -short -count=1 ./...
# The per-release tests (TestLifecycle, TestWalkthrough, TestTwoClustersSideBySide)
# run on the newest and the oldest Kubernetes release (make test-releases runs
# them on the others); make image built the newest's node image.
releases=$(bin/skiff version | awk '/^Kubernetes releases/ {r = 1; next} r {print $1}')
newest=$(head -1 <<<"$releases")
oldest=$(tail -1 <<<"$releases")
bin/skiff image build --kubernetes-version "$oldest"
export SKIFF_E2E_KUBERNETES="$newest $oldest"
# -p 1: go test streams a package's output while it runs only when it tests
# one package at a time, and ./e2e/... is two. testsummary is built first so
# its compile errors stop here; it exits 0 on any test result, so pipefail
# gives go test's exit code.
go build -o bin/testsummary ./hack/testsummary
SKIFF_BIN="$PWD/bin/skiff" go test -p 1 -count=1 -json -timeout 75m ./e2e/... 2>&1 | bin/testsummary | tee /tmp/skiff-e2e.log
