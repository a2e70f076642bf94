package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want summary
	}{
		{[]float64{3}, summary{3, 3, 3}},
		{[]float64{5, 1, 3}, summary{1, 3, 5}},
		{[]float64{4, 1, 2, 3}, summary{1, 2.5, 4}},
	} {
		if got := summarize(c.in); got != c.want {
			t.Errorf("summarize(%v) = %+v, want %+v", c.in, got, c.want)
		}
	}
}

func TestReadmeNumber(t *testing.T) {
	for v, want := range map[float64]string{0.834: "0.83", 2.54: "2.5", 19.16: "19.2", 611.4: "611", -0.5: "-0.50"} {
		if got := readmeNumber(v); got != want {
			t.Errorf("readmeNumber(%v) = %q, want %q", v, got, want)
		}
	}
}

func testReport() *report {
	r := newResults()
	for _, v := range []float64{20, 19, 21} {
		r.add("time_to_k8s_s", v)
		r.add("create_s", v-2)
		r.addBreakdown("create step: boot", v/10)
	}
	r.add("first_create_s", 33.3)
	r.add("idle_cpu_pct", 3.25)
	r.idleMiB = []float64{700, 710.4, 690}
	r.rss = map[string][]float64{"etcd": {52}, "kube-apiserver": {417.2}, "kubelet": {134}}
	return &report{
		Date:     time.Date(2026, 12, 1, 22, 0, 0, 0, time.UTC),
		Commit:   "abc1234-dirty",
		Machine:  machineInfo{CPUs: 2, MemoryGiB: 24, OS: "Debian GNU/Linux 12 (bookworm)", Kernel: "6.18.0", Docker: "20.10.24", Cgroup: "1"},
		Image:    "skiff/node:v1.37.2-0123456789ab",
		Rounds:   3,
		Idle:     time.Minute,
		ImageMiB: 611.2,
		Results:  r,
	}
}

func TestMarkdown(t *testing.T) {
	got := testReport().markdown()
	want := "Measured 2026-12-01 at commit `abc1234-dirty` (3 round(s), node image `skiff/node:v1.37.2-0123456789ab`): " +
		"2 cores, 24 GiB, Debian GNU/Linux 12 (bookworm), kernel 6.18.0, Docker 20.10.24, cgroup v1, `--privileged` refused (explicit capability set).\n" +
		"\n" +
		"| metric | min | median | max |\n" +
		"|---|---|---|---|\n" +
		"| `time_to_k8s_s` (create + test app Running + its Service name answering from a pod) | 19.0 | 20.0 | 21.0 |\n" +
		"| `create_s` (create → what create waits for) | 17.0 | 18.0 | 19.0 |\n" +
		"| `first_create_s` (the first create from a just-built node image) | 33.3 |  |  |\n" +
		"| `idle_cpu_pct` (node container CPU over 60 s idle, % of one core) | 3.2 | 3.2 | 3.2 |\n" +
		"| `image_mib` (node image, uncompressed) | 611 |  |  |\n" +
		"| `idle_mib` (node working set after 60 s idle) | 690 | 700 | 710 |\n" +
		"| ↳ kube-apiserver RSS | 417 | 417 | 417 |\n" +
		"| ↳ kubelet RSS | 134 | 134 | 134 |\n" +
		"| ↳ etcd RSS | 52 | 52 | 52 |\n" +
		"\n" +
		"Breakdown: create steps in seconds each; \"ready\" in seconds from the node's start; \"idle cpu\" in % of one core over the idle window; \"without ADDON\": one cluster with every other default addon (the addon's cost is the table's figure less this).\n" +
		"\n" +
		"| step | min | median | max |\n" +
		"|---|---|---|---|\n" +
		"| create step: boot | 1.9 | 2.0 | 2.1 |\n"
	if got != want {
		t.Errorf("markdown:\n%s\nwant:\n%s", got, want)
	}
}

func TestText(t *testing.T) {
	got := testReport().text()
	for _, want := range []string{
		"2026-12-01 22:00 UTC, commit abc1234-dirty, 3 round(s)\n2 cores, 24 GiB,",
		"time_to_k8s_s                   19.00    20.00    21.00  create + test app Running",
		"first_create_s                  33.30                    the first create",
		"idle_cpu_pct                     3.25     3.25     3.25  node container CPU over 60 s idle, % of one core",
		"idle_rss_mib: kube-apiserver      417      417      417  kube-apiserver RSS",
		"\ncreate step: boot     1.90     2.00     2.10\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("text table lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "floor_s") {
		t.Errorf("text table prints a figure never measured:\n%s", got)
	}
}

func TestJSONKeys(t *testing.T) {
	data, err := json.Marshal(testReport().json())
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]json.RawMessage
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"commit":         `"abc1234-dirty"`,
		"time_to_k8s_s":  `{"min":19,"median":20,"max":21}`,
		"first_create_s": `{"min":33.3,"median":33.3,"max":33.3}`,
		"idle_mib":       `{"min":690,"median":700,"max":710.4}`,
		"idle_rss_mib":   `{"etcd":{"min":52,"median":52,"max":52},"kube-apiserver":{"min":417.2,"median":417.2,"max":417.2},"kubelet":{"min":134,"median":134,"max":134}}`,
		"breakdown":      `{"create step: boot":{"min":1.9,"median":2,"max":2.1}}`,
		"image_mib":      `611.2`,
		"idle_s":         `60`,
	} {
		if string(got[k]) != want {
			t.Errorf("JSON %s = %s, want %s", k, got[k], want)
		}
	}
}

func TestParseStats(t *testing.T) {
	// Trimmed responses of Docker 20.10 on cgroup v1 and of a cgroup v2 host.
	v1 := `{"read":"2026-12-01T22:00:00.5Z","cpu_stats":{"cpu_usage":{"total_usage":2500000000}},
		"memory_stats":{"usage":1073741824,"stats":{"total_inactive_file":268435456,"inactive_file":1}}}`
	v2 := `{"read":"2026-12-01T22:00:00.5Z","cpu_stats":{"cpu_usage":{"total_usage":2500000000}},
		"memory_stats":{"usage":1073741824,"stats":{"inactive_file":268435456}}}`
	for name, in := range map[string]string{"v1": v1, "v2": v2} {
		s, err := parseStats(strings.NewReader(in))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if s.cpu != 2500*time.Millisecond || s.workingSet != 768 || !s.read.Equal(time.Date(2026, 12, 1, 22, 0, 0, 5e8, time.UTC)) {
			t.Errorf("%s: got %+v", name, s)
		}
	}
	if _, err := parseStats(strings.NewReader(`{"read":"0001-01-01T00:00:00Z"}`)); err == nil {
		t.Error("stats of a stopped container parsed without error")
	}
}

func TestCPUPercent(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 22, 0, 0, 0, time.UTC)
	a := sample{read: t0, cpu: 10 * time.Second}
	b := sample{read: t0.Add(time.Minute), cpu: 11200 * time.Millisecond}
	if got := cpuPercent(a, b); got < 1.999 || got > 2.001 {
		t.Errorf("cpuPercent = %v, want 2", got)
	}
	if got := cpuPercent(b, b); got != 0 {
		t.Errorf("cpuPercent over no time = %v, want 0", got)
	}
}

func TestPodMetrics(t *testing.T) {
	if err := podMetrics([]byte(`{"kind":"PodMetricsList","items":[]}`)); err == nil {
		t.Error("an empty list counts as data")
	}
	if err := podMetrics([]byte(`{"items":[{"metadata":{"name":"x"},"containers":[{"name":"c","usage":{"cpu":"1m","memory":"1Mi"}}]}]}`)); err != nil {
		t.Errorf("a pod with usage: %v", err)
	}
}

func TestParseVmRSS(t *testing.T) {
	if kb, err := parseVmRSS("VmRSS:\t  427008 kB\n"); err != nil || kb != 427008 {
		t.Errorf("parseVmRSS = %v, %v", kb, err)
	}
	if _, err := parseVmRSS(""); err == nil {
		t.Error("empty output parsed")
	}
}

func TestCopyWithSuffix(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	if err := os.WriteFile(src, []byte("ELF"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := copyWithSuffix(src, dst, "+x"); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(dst)
	if err != nil || string(got) != "ELF+x" {
		t.Errorf("copy = %q, %v", got, err)
	}
	if fi, err := os.Stat(dst); err != nil || fi.Mode().Perm()&0o100 == 0 {
		t.Errorf("copy not executable: %v %v", fi.Mode(), err)
	}
}
