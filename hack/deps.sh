#!/usr/bin/env bash
# Installs what building the node image needs on Debian: debootstrap, a C
# compiler for runc and pause, and the Docker engine. Idempotent.
set -o errexit -o nounset -o pipefail

need=()
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
command -v gcc >/dev/null 2>&1 || need+=(gcc libc6-dev)
command -v git >/dev/null 2>&1 || need+=(git)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
[ -e /usr/include/seccomp.h ] || need+=(libseccomp-dev)
if [ ${#need[@]} -gt 0 ]; then
  echo "hack/deps.sh: installing ${need[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
if ! command -v go >/dev/null 2>&1; then
  echo "hack/deps.sh: Go is missing: install Go 1.26 or newer and put it on PATH" >&2
  exit 1
fi
"$(dirname "$0")/docker.sh"
