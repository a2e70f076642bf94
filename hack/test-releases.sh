#!/usr/bin/env bash
# make test-releases: the per-release e2e tests (TestNodeImageVersions,
# TestLifecycle, TestWalkthrough, TestTwoClustersSideBySide) on the
# Kubernetes releases make test leaves out, the ones between the newest and
# the oldest; or on those named:
#   make test-releases RELEASES="1.36 1.35"
# Builds each release's node image first (about 12 min cold for each).
set -o errexit -o nounset -o pipefail
cd "$(dirname "$0")/.."

if [ $# -eq 0 ]; then
  mapfile -t all < <(bin/skiff version | awk '/^Kubernetes releases/ {r = 1; next} r {print $1}')
  set -- "${all[@]:1:${#all[@]}-2}"
fi
for r in "$@"; do
  bin/skiff image build --kubernetes-version "$r"
done
go build -o bin/testsummary ./hack/testsummary
SKIFF_E2E_KUBERNETES="$*" SKIFF_BIN="$PWD/bin/skiff" go test -p 1 -count=1 -json -timeout 60m \
  -run '^(TestNodeImageVersions|TestLifecycle|TestWalkthrough|TestTwoClustersSideBySide)$' ./e2e 2>&1 |
  bin/testsummary | tee /tmp/skiff-e2e-releases.log
