#!/usr/bin/env bash
# Runs inside the test-hosts VM (started by its skiff-vm.service, see
# hack/test-hosts.sh): /mnt/src is this repository (read-only), /mnt/xfer
# holds skiff, e2e.test, kubectl, node.tar and env, and gets out/.
set -o errexit -o nounset -o pipefail
out=/mnt/xfer/out
exec > >(tee "$out/guest.log" >/dev/ttyS0) 2>&1
set -a
# shellcheck source=/dev/null
. /mnt/xfer/env
set +a
say() { printf 'guest %5.0fs: %s\n' "$(cut -d' ' -f1 /proc/uptime)" "$*"; }
say "booted to skiff-vm.service; $(uname -r), /sys/fs/cgroup is $(stat -fc %T /sys/fs/cgroup), $(systemctl --version | head -n1)"
mkdir -p /usr/local/go
mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288,ro go /usr/local/go
# The e2e suite builds its test app with go: offline, this toolchain only.
export PATH=$PATH:/usr/local/go/bin HOME=/root GOPROXY=off GOTOOLCHAIN=local GOFLAGS=-mod=mod
for _ in $(seq 1 120); do docker info >/dev/null 2>&1 && break; sleep 1; done
say "$(docker version --format 'docker {{.Server.Version}}, containerd {{range .Server.Components}}{{if eq .Name "containerd"}}{{.Version}}{{end}}{{end}}')"
say "$(docker info --format 'cgroup v{{.CgroupVersion}} driver {{.CgroupDriver}}, storage {{.Driver}}') (docker.service $(systemctl is-active docker))"
install -m 755 /mnt/xfer/kubectl /usr/local/bin/kubectl
mkdir -p /root/skiff
tar -C /mnt/src --exclude=./bin --exclude=./.git -c . | tar -C /root/skiff -x
install -D -m 755 /mnt/xfer/skiff /root/skiff/bin/skiff
t0=$SECONDS
docker load -i /mnt/xfer/node.tar
say "node image $(cat /mnt/xfer/node.ref) loaded in $((SECONDS - t0)) s"
cd /root/skiff/e2e
rc=0
SKIFF_BIN=/root/skiff/bin/skiff SKIFF_E2E_RESTART_ENGINE=1 timeout "$SKIFF_VM_TEST_TIMEOUT" \
  /mnt/xfer/test2json -t -p github.com/skiff-k8s/skiff/e2e /mnt/xfer/e2e.test -test.v=test2json -test.count=1 \
  -test.timeout "$((SKIFF_VM_TEST_TIMEOUT - 60))s" -test.run "$SKIFF_VM_TESTS" | /mnt/xfer/testsummary | tee "$out/e2e.log" || rc=$?
say "e2e rc=$rc"
# Every test named here must run on this host: a skip is a failure.
if skipped=$(grep -E '^--- SKIP: Test' "$out/e2e.log"); then
  say "FAIL: tests skipped in the VM, which must run here: $skipped"
  [ "$rc" != 0 ] || rc=1
fi
# What a failed run needs to be read: the engine's and the nodes' logs.
journalctl -u docker --no-pager -n 300 >"$out/docker.journal" 2>&1 || true
exit "$rc"
