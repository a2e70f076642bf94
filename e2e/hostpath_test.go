package e2e

import (
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestHostPath checks that what `skiff status` says about how the node runs
// (--privileged or the capability set; cgroup v1 or v2, the cgroup
// namespace) is what the node really got, and that the kubelet's pod
// cgroups enforce limits there. A harness that knows the host says what to
// expect: SKIFF_E2E_EXPECT_PRIVILEGED=1|0 and SKIFF_E2E_EXPECT_CGROUP=1|2
// (hack/test-hosts.sh sets both in its VMs), and a mismatch fails.
func TestHostPath(t *testing.T) {
	e2e(t)
	c := newCluster(t, "e2e-hostpath", "--addons", "dns")
	node := nodeOf(c)
	r := c.mustSkiff(time.Minute, "status", "--name", c.name, "-o", "json")
	var st struct {
		Privileged      bool   `json:"privileged"`
		CgroupNamespace string `json:"cgroupNamespace"`
		Cgroups         string `json:"cgroups"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("status -o json: %v\n%s", err, r.stdout)
	}
	human := c.mustSkiff(time.Minute, "status", "--name", c.name).stdout
	t.Logf("skiff status: privileged=%t cgroupNamespace=%s cgroups=%q", st.Privileged, st.CgroupNamespace, st.Cgroups)
	exec := func(cmd string) string {
		t.Helper()
		r := run(t, time.Minute, nil, "docker", "exec", node, "sh", "-c", cmd)
		if r.code != 0 {
			t.Fatalf("in the node: %s:\n%s", cmd, r)
		}
		return strings.TrimSpace(r.stdout)
	}

	// The node's claims against Docker and the kernel.
	if got := inspect(t, node, "{{.HostConfig.Privileged}}"); got != strconv.FormatBool(st.Privileged) {
		t.Errorf("status says privileged=%t, docker inspect says %s", st.Privileged, got)
	}
	if st.Privileged && !strings.Contains(human, "Security:   --privileged") || !st.Privileged && !strings.Contains(human, "explicit capability set") {
		t.Errorf("skiff status's Security line does not match privileged=%t:\n%s", st.Privileged, human)
	}
	// CAP_SYS_RESOURCE (bit 24) is what only --privileged gives here.
	capEff, err := strconv.ParseUint(strings.TrimSpace(strings.TrimPrefix(exec("grep CapEff /proc/1/status"), "CapEff:")), 16, 64)
	if err != nil {
		t.Fatal(err)
	}
	if has := capEff&(1<<24) != 0; has != st.Privileged {
		t.Errorf("node's PID 1 has CapEff %#x (CAP_SYS_RESOURCE %t), but status says privileged=%t", capEff, has, st.Privileged)
	}
	if got := inspect(t, node, "{{.HostConfig.CgroupnsMode}}"); got != st.CgroupNamespace {
		t.Errorf("status says cgroup namespace %q, docker inspect says %q", st.CgroupNamespace, got)
	}
	fs := exec("stat -fc %T /sys/fs/cgroup")
	version := "1"
	if fs == "cgroup2fs" {
		version = "2"
	}
	if !strings.HasPrefix(st.Cgroups, "v"+version+",") {
		t.Errorf("node's /sys/fs/cgroup is %s (cgroup v%s), but status says cgroups %q", fs, version, st.Cgroups)
	}
	if !strings.Contains(human, "Cgroups:    v"+version) {
		t.Errorf("skiff status has no Cgroups: v%s line:\n%s", version, human)
	}
	if version == "2" {
		if st.CgroupNamespace != "private" {
			t.Errorf("cgroup v2 node in cgroup namespace %q, want private", st.CgroupNamespace)
		}
		if got := exec("cat /proc/1/cgroup"); got != "0::/init" {
			t.Errorf("node's PID 1 is in cgroup %q, want 0::/init (moved there so controllers can be delegated)", got)
		}
		ctrl := " " + exec("cat /sys/fs/cgroup/cgroup.subtree_control") + " "
		for _, want := range []string{"cpu", "memory", "pids"} {
			if !strings.Contains(ctrl, " "+want+" ") {
				t.Errorf("controller %s not delegated in the node (subtree_control:%s)", want, ctrl)
			}
		}
	} else if st.CgroupNamespace != "host" {
		t.Errorf("cgroup v1 node in cgroup namespace %q, want host", st.CgroupNamespace)
	}

	// What the harness says this host is.
	if want := os.Getenv("SKIFF_E2E_EXPECT_PRIVILEGED"); want != "" {
		if strconv.FormatBool(st.Privileged) != map[string]string{"1": "true", "0": "false"}[want] {
			t.Errorf("SKIFF_E2E_EXPECT_PRIVILEGED=%s, but the node runs with privileged=%t", want, st.Privileged)
		}
	}
	if want := os.Getenv("SKIFF_E2E_EXPECT_CGROUP"); want != "" && want != version {
		t.Errorf("SKIFF_E2E_EXPECT_CGROUP=%s, but the node has cgroup v%s (%s)", want, version, st.Cgroups)
	}

	// A pod's memory limit lands in its own cgroup, under the kubelet's.
	c.mustSkiff(3*time.Minute, "load", "archive", helloArchive(t), "--name", c.name)
	c.kubectl("run", "limited", "--image=skiff.test/hello:v1", "--image-pull-policy=Never", "--port=8080",
		`--overrides={"spec":{"containers":[{"name":"limited","image":"skiff.test/hello:v1","imagePullPolicy":"Never","resources":{"limits":{"memory":"64Mi","cpu":"100m"}}}]}}`)
	c.kubectl("wait", "--for=condition=Ready", "pod/limited", "--timeout=90s")
	// "pod<uid>" under the cgroupfs driver, with _ for - under systemd's.
	uid := strings.ReplaceAll(c.kubectl("get", "pod", "limited", "-o", "jsonpath={.metadata.uid}"), "-", "?")
	dir, file := "/sys/fs/cgroup", "memory.max"
	if version == "1" {
		dir, file = "/sys/fs/cgroup/memory", "memory.limit_in_bytes"
	}
	limits := exec("find " + dir + " -path '*pod" + uid + "*' -name " + file + " -exec cat {} +")
	if !strings.Contains(limits, "67108864") {
		t.Errorf("no cgroup of pod limited (uid %s) has the 64Mi memory limit; its %s values: %q", uid, file, limits)
	}
}
