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
# -p 1: go test streams a package's output while it runs only when it tests
# one package at a time, and ./e2e/... is two.
SKIFF_BIN="$PWD/bin/skiff" go test -p 1 -count=1 -v -timeout 75m ./e2e/... 2>&1 | tee /tmp/skiff-e2e.log
