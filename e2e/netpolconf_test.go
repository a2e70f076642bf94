package e2e

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/skiff-k8s/skiff/e2e/k8se2e"
	"github.com/skiff-k8s/skiff/images"
)

// Where TestNetpolConformance leaves the upstream suite's JUnit report and
// its full ginkgo output, beside make test's /tmp/skiff-e2e.log.
const (
	netpolJUnit = "/tmp/skiff-netpol-junit.xml"
	netpolLog   = "/tmp/skiff-netpol.log"
)

// netpolFocus selects Kubernetes' own NetworkPolicy specs: "[sig-network]
// Netpol" (TCP, UDP, SCTP) and "[sig-network] Netpol API".
const netpolFocus = `\[sig-network\] Netpol`

// TestNetpolConformance runs Kubernetes' own [sig-network] Netpol specs (the
// k8s.io/kubernetes/test/e2e/network/netpol package at the cluster's
// version, compiled here with the agnhost image its pods run) against a
// cluster with the netpol addon, and fails unless every spec it selects
// passes. SCTP specs are skipped only when the node's kernel has no SCTP.
func TestNetpolConformance(t *testing.T) {
	e2e(t)
	suite := buildSuite(t, k8se2e.Netpol)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ref, agnhost, err := suite.AgnhostImage(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the specs' pods run %s, built from the same module", ref)

	c := newCluster(t, "e2e-netpolconf", append([]string{"--addons", "dns,netpol"}, netpolPorts(t)...)...)
	c.mustSkiff(3*time.Minute, "load", "archive", agnhost, "--name", c.name)
	var skips []string
	if reason := nodeLacksSCTP(c); reason != "" {
		skips = append(skips, `\[Feature:SCTPConnectivity\]`)
		t.Logf("skipping the [Feature:SCTPConnectivity] specs: %s", reason)
	}

	start := time.Now()
	// Each spec mostly waits for pods and probes, so processes beyond the
	// cores still shorten the run.
	code, out := runSuite(t, c, suite, 2*runtime.NumCPU(), 35*time.Minute, netpolFocus, skips, nil, netpolJUnit, netpolLog)
	t.Logf("the Netpol specs ran in %s (ginkgo exit %d); JUnit report %s, output %s", time.Since(start).Round(time.Second), code, netpolJUnit, netpolLog)
	checkSpecs(t, "Netpol", readJUnit(t, netpolJUnit, "Netpol"), skips, code, out)

	// The control: without enforcement the same specs fail, so the passes
	// above are the addon's doing.
	c.mustSkiff(2*time.Minute, "addons", "disable", "netpol", "--name", c.name)
	dir, start := t.TempDir(), time.Now()
	code, out = runSuite(t, c, suite, 1, 35*time.Minute, netpolFocus+` NetworkPolicy between server and client should support a 'default-deny-ingress' policy`, nil, nil, filepath.Join(dir, "junit.xml"), filepath.Join(dir, "log"))
	if specs := readJUnit(t, filepath.Join(dir, "junit.xml"), "Netpol"); code == 0 || len(specs) == 0 || !slices.ContainsFunc(specs, func(s junitSpec) bool { return s.Status == "failed" }) {
		t.Errorf("with netpol disabled the default-deny-ingress spec did not fail (ginkgo exit %d):\n%s", code, tail(out, 30))
	} else {
		t.Logf("with netpol disabled the default-deny-ingress spec fails, as it should (%s)", time.Since(start).Round(time.Second))
	}
}

// buildSuite compiles the suite of kind k (minutes on a cold machine,
// seconds once the binaries are in the cache) and logs how long it took.
func buildSuite(t *testing.T, k k8se2e.Kind) k8se2e.Suite {
	t.Helper()
	var suite k8se2e.Suite
	start := time.Now()
	cacheBuild(t, 40*time.Minute, func(ctx context.Context, cacheDir string, log io.Writer, m *images.Manifest) (err error) {
		suite, err = k8se2e.Build(ctx, cacheDir, log, m, k)
		return err
	})
	t.Logf("%s ready in %s: %s", filepath.Base(suite.Test), time.Since(start).Round(100*time.Millisecond), filepath.Dir(suite.Test))
	return suite
}

// cacheBuild runs build, within timeout, with the default release's
// manifest, skiff's cache directory and a log file, and fails the test with
// the log's end if it fails.
func cacheBuild(t *testing.T, timeout time.Duration, build func(ctx context.Context, cacheDir string, log io.Writer, m *images.Manifest) error) {
	t.Helper()
	m, err := images.Resolved("")
	if err != nil {
		t.Fatal(err)
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	log, err := os.Create(filepath.Join(t.TempDir(), "build.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := build(ctx, filepath.Join(cache, "skiff"), log, m); err != nil {
		data, _ := os.ReadFile(log.Name())
		t.Fatalf("%v\n%s", err, tail(string(data), 40))
	}
}

// nodeLacksSCTP returns why the node cannot open SCTP sockets (its kernel
// built without SCTP, or the module missing), or "" when it can: socat in
// the node tries an SCTP connection to a closed local port.
func nodeLacksSCTP(c *cluster) string {
	c.t.Helper()
	r := run(c.t, time.Minute, nil, "docker", "exec", c.name+"-control-plane", "socat", "-T1", "/dev/null", "SCTP-CONNECT:127.0.0.1:9")
	if strings.Contains(r.stderr, "Protocol not supported") {
		return "the node's kernel has no SCTP (socat: " + strings.TrimSpace(r.stderr) + ")"
	}
	return ""
}

// runSuite runs the specs that focus selects and no skip does with the
// ginkgo CLI across procs processes, within timeout, passing the suite
// extra flags; it writes the JUnit report to junit and the output to
// logPath, and returns ginkgo's exit code and output.
func runSuite(t *testing.T, c *cluster, suite k8se2e.Suite, procs int, timeout time.Duration, focus string, skips, extra []string, junit, logPath string) (int, string) {
	t.Helper()
	args := []string{
		"--procs", fmt.Sprint(procs), "--timeout", (timeout - 5*time.Minute).String(), "--no-color",
		"--junit-report", junit, "--focus", focus,
	}
	for _, s := range skips {
		args = append(args, "--skip", s)
	}
	args = append(args, suite.Test, "--",
		"--kubeconfig", c.kubeconfig, "--context", "skiff-"+c.name, "--provider", "skeleton")
	args = append(args, extra...)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, suite.Ginkgo, args...)
	// The ginkgo CLI writes the report relative to its working directory.
	cmd.Dir = t.TempDir()
	// The log fills as the specs run, so a long run can be followed.
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("failed to keep the suite's output: %v", err)
	}
	defer logFile.Close()
	var buf bytes.Buffer
	cmd.Stdout = io.MultiWriter(logFile, &buf)
	cmd.Stderr = cmd.Stdout
	err = cmd.Run()
	out := buf.Bytes()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", suite.Ginkgo, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("the specs did not finish within %s:\n%s", timeout, tail(string(out), 60))
	}
	return code, string(out)
}

// junitSpec is one <testcase> of ginkgo's JUnit report.
type junitSpec struct {
	Name    string `xml:"name,attr"`
	Status  string `xml:"status,attr"`
	Failure struct {
		Message string `xml:"message,attr"`
	} `xml:"failure"`
	Skipped struct {
		Message string `xml:"message,attr"`
	} `xml:"skipped"`
}

// checkSpecs fails the test for each spec of the report that did not pass,
// but those that skips left out and those the focus did not select (ginkgo
// reports both as plainly "skipped"; a spec that skips itself gives its
// reason), logs the counts, and fails it too when ginkgo failed or no spec
// passed (its output's end then says why).
func checkSpecs(t *testing.T, what string, specs []junitSpec, skips []string, code int, out string) {
	t.Helper()
	var passed, failed, leftOut int
	for _, s := range specs {
		switch {
		case s.Status == "passed":
			passed++
		case s.Status == "skipped" && matchesAny(s.Name, skips):
			leftOut++
			t.Logf("left out: %s", s.Name)
		case s.Status == "skipped" && strings.TrimSpace(s.Skipped.Message) == "skipped":
		case s.Status == "skipped":
			failed++
			t.Errorf("skipped itself: %s: %s", s.Name, strings.TrimSpace(s.Skipped.Message))
		default:
			failed++
			t.Errorf("%s: %s\n%s", s.Status, s.Name, s.Failure.Message)
		}
	}
	t.Logf("%s specs: %d passed, %d failed, %d left out, %d not selected (of %d)", what, passed, failed, leftOut, len(specs)-passed-failed-leftOut, len(specs))
	if passed == 0 || code != 0 {
		t.Errorf("ginkgo exit %d, %d specs passed; the end of its output:\n%s", code, passed, tail(out, 60))
	}
}

// readJUnit returns the report's specs whose names contain mark (not
// ginkgo's suite nodes).
func readJUnit(t *testing.T, path, mark string) []junitSpec {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the suite wrote no JUnit report: %v", err)
	}
	var report struct {
		Suites []struct {
			Cases []junitSpec `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(data, &report); err != nil {
		t.Fatalf("JUnit report %s: %v", path, err)
	}
	var specs []junitSpec
	for _, s := range report.Suites {
		for _, c := range s.Cases {
			if strings.Contains(c.Name, mark) {
				specs = append(specs, c)
			}
		}
	}
	return specs
}

// matchesAny reports whether name matches one of the regular expressions.
func matchesAny(name string, exprs []string) bool {
	for _, e := range exprs {
		if regexp.MustCompile(e).MatchString(name) {
			return true
		}
	}
	return false
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
