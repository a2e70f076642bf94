#!/usr/bin/env bash
# Makes sure a Docker engine answers: installs Debian's docker.io if there is
# no engine, starts dockerd if it is not running, and waits (at most 60 s) for
# it. Idempotent; used by the Makefile, .ci/run and people.
set -o errexit -o nounset -o pipefail

timeout_s=60
if docker info >/dev/null 2>&1; then
  exit 0
fi
if ! command -v dockerd >/dev/null 2>&1; then
  echo "hack/docker.sh: installing Docker engine (docker.io)" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
fi
if ! pgrep -x dockerd >/dev/null 2>&1; then
  echo "hack/docker.sh: starting dockerd (log: /var/log/dockerd.log)" >&2
  nohup dockerd >/var/log/dockerd.log 2>&1 &
fi
for _ in $(seq 1 $((timeout_s * 10))); do
  if [ -S /var/run/docker.sock ] && docker info >/dev/null 2>&1; then
    exit 0
  fi
  sleep 0.1
done
echo "hack/docker.sh: Docker did not answer within ${timeout_s}s; see /var/log/dockerd.log" >&2
tail -n 20 /var/log/dockerd.log >&2 || true
exit 1
