#!/usr/bin/env bash
# Benchmarks on the real engine and the warm node image: prints a table and
# writes bench/out/latest.json. ROUNDS (default 3) sets the rounds.
set -o errexit -o nounset -o pipefail
cd "$(dirname "$0")/.."
go run ./bench -rounds "${ROUNDS:-3}" -skiff bin/skiff -out bench/out/latest.json
