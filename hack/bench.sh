#!/usr/bin/env bash
# Benchmarks on the real engine and the warm node image: prints a table and
# writes bench/out/latest.json (keys in bench/report.go) and
# bench/out/latest.md (the README's Performance table, with the date, machine
# and commit). ROUNDS (default 3) sets the rounds; IDLE (default 60s) the
# idle window; KUBERNETES (default: the newest) the release, whose node
# image must be built (bin/skiff image build --kubernetes-version V). Needs kubectl on PATH and the Go toolchain (the test app is
# built from source).
set -o errexit -o nounset -o pipefail
cd "$(dirname "$0")/.."
go run ./bench -rounds "${ROUNDS:-3}" -idle "${IDLE:-60s}" -skiff bin/skiff \
  -kubernetes-version "${KUBERNETES:-}" \
  -out bench/out/latest.json -md bench/out/latest.md
