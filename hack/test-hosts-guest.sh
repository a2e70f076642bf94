#!/usr/bin/env bash
# Runs inside the test-hosts VM (started by its skiff-vm.service, see
# hack/test-hosts.sh): /mnt/src is this repository (read-only), /mnt/xfer
# holds skiff, e2e.test, kubectl, node.tar and env, and gets out/.
# UNRUN: written, not yet booted (see the hosts-vm branch's report).
set -o errexit -o nounset -o pipefail
out=/mnt/xfer/out
exec > >(tee "$out/guest.log" >/dev/ttyS0) 2>&1
set -a
# shellcheck source=/dev/null
. /mnt/xfer/env
set +a
mkdir -p /usr/local/go
mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288,ro go /usr/local/go
export PATH=$PATH:/usr/local/go/bin HOME=/root
echo "guest: $(uname -r), /sys/fs/cgroup is $(stat -fc %T /sys/fs/cgroup), systemd $(systemctl --version | head -n1)"
for _ in $(seq 1 120); do docker info >/dev/null 2>&1 && break; sleep 1; done
docker version --format 'guest: docker {{.Server.Version}}'
docker info --format 'guest: cgroup v{{.CgroupVersion}} driver {{.CgroupDriver}}'
install -m 755 /mnt/xfer/kubectl /usr/local/bin/kubectl
mkdir -p /root/skiff
tar -C /mnt/src --exclude=./bin --exclude=./.git -c . | tar -C /root/skiff -x
install -D -m 755 /mnt/xfer/skiff /root/skiff/bin/skiff
t0=$SECONDS
docker load -i /mnt/xfer/node.tar
echo "guest: node image loaded in $((SECONDS - t0)) s"
cd /root/skiff/e2e
rc=0
SKIFF_BIN=/root/skiff/bin/skiff SKIFF_E2E_RESTART_ENGINE=1 timeout 3000 \
  go tool test2json -t -p github.com/skiff-k8s/skiff/e2e /mnt/xfer/e2e.test -test.v=test2json -test.count=1 \
  -test.timeout 50m -test.run "$SKIFF_VM_TESTS" | /mnt/xfer/testsummary | tee "$out/e2e.log" || rc=$?
exit "$rc"
