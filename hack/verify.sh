#!/usr/bin/env bash
# make verify: static checks, each run to the end so one run reports every
# failure. The checkers are pinned in hack/tools/go.mod and built into bin/
# (the Go build cache makes a second build offline and quick).
set -o errexit -o nounset -o pipefail
cd "$(dirname "$0")/.."

(cd hack/tools && go build -o ../../bin/ honnef.co/go/tools/cmd/staticcheck github.com/mibk/dupl)

failed=()
unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt needed: $unformatted" >&2
  failed+=(gofmt)
fi
# The conformance tag adds make conformance's test (e2e/conformance_test.go).
go vet -tags conformance ./... || failed+=(vet)
bin/staticcheck -tags conformance ./... || failed+=(staticcheck)
# Copied code: any clone of dupl's default 100 tokens fails.
clones=$(git ls-files '*.go' | bin/dupl -files -t 100)
if ! grep -q '^Found total 0 clone groups' <<<"$clones"; then
  echo "$clones" >&2
  failed+=(dupl)
fi

if [ ${#failed[@]} -gt 0 ]; then
  echo "verify failed: ${failed[*]}" >&2
  exit 1
fi
