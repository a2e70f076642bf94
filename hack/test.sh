#!/usr/bin/env bash
# The project's test command (make test runs it after building the node
# image): static checks, unit tests, then the end-to-end suite against real
# clusters. go test's own output is printed so pass/fail counts are visible.
set -o errexit -o nounset -o pipefail
cd "$(dirname "$0")/.."

unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt needed: $unformatted" >&2
  exit 1
fi
go vet ./...
go test -short -count=1 ./...
SKIFF_BIN="$PWD/bin/skiff" go test -count=1 -v -timeout 75m ./e2e/... 2>&1 | tee /tmp/skiff-e2e.log
