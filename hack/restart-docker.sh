#!/usr/bin/env bash
# Restarts a Docker engine that runs as a plain background dockerd (as
# hack/docker.sh starts it): SIGTERM, wait at most 90 s for it to exit (it
# stops the containers first), start it again the same way and wait for it
# with hack/docker.sh. Refuses an engine that systemd manages. Used by the
# e2e suite's engine restart test.
set -o errexit -o nounset -o pipefail

timeout_s=90
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet docker 2>/dev/null; then
  echo "hack/restart-docker.sh: engine managed by systemd: not restarting it (use systemctl restart docker)" >&2
  exit 2
fi
if ! pid=$(pgrep -xo dockerd); then
  echo "hack/restart-docker.sh: no dockerd running" >&2
  exit 1
fi
echo "hack/restart-docker.sh: stopping dockerd (pid $pid)" >&2
kill -TERM "$pid"
exited=
for _ in $(seq 1 $((timeout_s * 10))); do
  state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)
  if [ -z "$state" ] || [ "$state" = Z ]; then
    exited=1
    break
  fi
  sleep 0.1
done
if [ -z "$exited" ]; then
  echo "hack/restart-docker.sh: dockerd (pid $pid) did not exit within ${timeout_s}s; see /var/log/dockerd.log" >&2
  exit 1
fi
# Started here rather than by hack/docker.sh: until its parent reaps it, the
# old dockerd is a zombie that docker.sh's pgrep still finds, and it would
# then wait for an engine that never starts. A new session, so that the
# engine does not get the caller's Ctrl-C.
echo "hack/restart-docker.sh: starting dockerd (log: /var/log/dockerd.log)" >&2
setsid nohup dockerd >/var/log/dockerd.log 2>&1 </dev/null &
exec "$(dirname "$0")/docker.sh"
