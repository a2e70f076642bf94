package supervisor

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// delayRecorder records the restart delays chosen by a Process.
type delayRecorder struct {
	mu     sync.Mutex
	delays []time.Duration
}

func (r *delayRecorder) record(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.delays = append(r.delays, d)
}

func (r *delayRecorder) get() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.delays)
}

func TestProcessRestartsCrashingChildWithBackoff(t *testing.T) {
	p := newProcess(t, "exit3")
	p.InitialBackoff = 20 * time.Millisecond
	p.MaxBackoff = 80 * time.Millisecond
	var rec delayRecorder
	p.onRestartDelay = rec.record

	start := time.Now()
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "5 restarts", func() bool { return p.Status().Restarts >= 5 })
	elapsed := time.Since(start)
	st := p.Status()
	if st.LastExit != "exit status 3" || st.Name != "test-exit3" {
		t.Fatalf("status %+v, want last exit status 3", st)
	}
	if err := p.Stop(time.Second); err != nil {
		t.Fatal(err)
	}
	if st := p.Status(); st.Running {
		t.Fatalf("status %+v after Stop, want not running", st)
	}

	ms := time.Millisecond
	want := []time.Duration{20 * ms, 40 * ms, 80 * ms, 80 * ms, 80 * ms}
	if got := rec.get(); len(got) < len(want) || !slices.Equal(got[:len(want)], want) {
		t.Fatalf("restart delays %v, want %v first", got, want)
	}
	if elapsed < 300*ms {
		t.Fatalf("5 restarts took only %s, want at least the 300ms of backoff", elapsed)
	}

	// The log file has the child's output and a marker per start.
	data, err := os.ReadFile(p.LogFile)
	if err != nil {
		t.Fatal(err)
	}
	log := string(data)
	if n := strings.Count(log, "child exiting with 3\n"); n < 5 {
		t.Errorf("log has child output %d times, want at least 5:\n%s", n, log)
	}
	marker := regexp.MustCompile(`(?m)^--- skiff-node: starting test-exit3 \(attempt (\d+)\) at (\S+) ---$`)
	matches := marker.FindAllStringSubmatch(log, -1)
	if len(matches) < 6 {
		t.Fatalf("log has %d start markers, want at least 6:\n%s", len(matches), log)
	}
	for i, m := range matches {
		if m[1] != strconv.Itoa(i+1) {
			t.Errorf("marker %d has attempt %s", i, m[1])
		}
		if _, err := time.Parse(time.RFC3339, m[2]); err != nil {
			t.Errorf("marker %d: %v", i, err)
		}
	}
}

func TestProcessBackoffResetsAfterStableRun(t *testing.T) {
	p := newProcess(t, "sleep")
	p.InitialBackoff = 10 * time.Millisecond
	p.StableAfter = 500 * time.Millisecond
	var rec delayRecorder
	p.onRestartDelay = rec.record
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}

	killAndWaitRestart := func(restarts int) {
		t.Helper()
		if err := p.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, "restart", func() bool {
			st := p.Status()
			return st.Restarts == restarts && st.Running
		})
	}
	killAndWaitRestart(1) // crashes quickly: 10ms
	killAndWaitRestart(2) // crashes quickly again: 20ms
	time.Sleep(600 * time.Millisecond)
	killAndWaitRestart(3) // crashed after a stable run: back to 10ms

	ms := time.Millisecond
	if got, want := rec.get(), []time.Duration{10 * ms, 20 * ms, 10 * ms}; !slices.Equal(got, want) {
		t.Fatalf("restart delays %v, want %v", got, want)
	}
	if st := p.Status(); st.LastExit != "killed by signal 9 (SIGKILL)" {
		t.Fatalf("LastExit %q", st.LastExit)
	}
}

func TestProcessStopSendsSIGTERM(t *testing.T) {
	p := newProcess(t, "sleep")
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitForLog(t, p.LogFile, "ready")

	st := p.Status()
	if !st.Running || st.PID <= 0 || st.StartedAt.IsZero() {
		t.Fatalf("status %+v, want running", st)
	}
	pidFile := filepath.Join(p.PIDDir, p.Name+".pid")
	if data, err := os.ReadFile(pidFile); err != nil || string(data) != strconv.Itoa(st.PID)+"\n" {
		t.Fatalf("PID file: %q, %v; want %d", data, err, st.PID)
	}
	if err := p.Start(context.Background()); err == nil {
		t.Fatal("second Start succeeded")
	}

	start := time.Now()
	if err := p.Stop(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if elapsed := time.Since(start); elapsed > 4*time.Second {
		t.Fatalf("Stop took %s; SIGTERM was not effective", elapsed)
	}
	st = p.Status()
	if st.Running || st.PID != 0 || st.LastExit != "killed by signal 15 (SIGTERM)" || st.Restarts != 0 {
		t.Fatalf("status %+v, want stopped by SIGTERM", st)
	}
	if _, err := os.Stat(pidFile); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("PID file still exists after Stop: %v", err)
	}
	if err := p.Stop(time.Second); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if err := p.Signal(syscall.SIGTERM); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("Signal after Stop: %v, want ErrNotRunning", err)
	}

	// A stopped process can be started again.
	if err := p.Start(context.Background()); err != nil {
		t.Fatalf("Start after Stop: %v", err)
	}
	if err := p.Stop(5 * time.Second); err != nil {
		t.Fatal(err)
	}
}

func TestProcessStopEscalatesToSIGKILL(t *testing.T) {
	p := newProcess(t, "ignore-term")
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitForLog(t, p.LogFile, "ready")

	const timeout = 300 * time.Millisecond
	start := time.Now()
	if err := p.Stop(timeout); err != nil {
		t.Fatal(err)
	}
	if elapsed := time.Since(start); elapsed < timeout {
		t.Fatalf("Stop returned after %s, before the %s timeout", elapsed, timeout)
	}
	if st := p.Status(); st.Running || st.LastExit != "killed by signal 9 (SIGKILL)" {
		t.Fatalf("status %+v, want killed by SIGKILL", st)
	}
}

func TestProcessStopNeverStarted(t *testing.T) {
	var p Process
	for range 2 {
		if err := p.Stop(time.Second); err != nil {
			t.Fatalf("Stop: %v", err)
		}
	}
	if st := p.Status(); st != (ProcessState{}) {
		t.Fatalf("status %+v, want zero", st)
	}
	if err := p.Signal(syscall.SIGTERM); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("Signal: %v, want ErrNotRunning", err)
	}
}

func TestProcessStartMissingBinary(t *testing.T) {
	p := newProcess(t, "sleep")
	p.Name = "missing"
	p.Path = "/nonexistent/skiff-no-such-binary"
	err := p.Start(context.Background())
	if err == nil || !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "failed to start missing") {
		t.Fatalf("got error %v, want a clear not-exist error", err)
	}
	t.Log(err)
	if st := p.Status(); st.Running {
		t.Fatalf("status %+v, want not running", st)
	}
	waitForLog(t, p.LogFile, "--- skiff-node: failed to start missing: ")

	p.Path = "skiff-no-such-binary-in-path"
	if err := p.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "executable file not found") {
		t.Fatalf("got error %v, want executable file not found", err)
	}
}

func TestProcessKillsStaleChild(t *testing.T) {
	p := newProcess(t, "sleep")

	// A leftover of a crashed agent: same binary, own process group.
	stale := childCmd(t, "sleep")
	stale.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	staleExit, err := testReaper.Start(stale)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stale.Process.Signal(syscall.SIGKILL) })
	waitExeced(t, stale.Process.Pid, p.Path)
	if err := writeFileAtomic(filepath.Join(p.PIDDir, p.Name+".pid"), []byte(strconv.Itoa(stale.Process.Pid)+"\n")); err != nil {
		t.Fatal(err)
	}

	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := receive(t, staleExit); st.Signal != syscall.SIGKILL {
		t.Fatalf("stale child exited with %v, want SIGKILL", st)
	}
	if st := p.Status(); !st.Running || st.PID == stale.Process.Pid {
		t.Fatalf("status %+v, want a new running child", st)
	}
}

func TestProcessSparesUnrelatedProcessInPIDFile(t *testing.T) {
	p := newProcess(t, "sleep")

	// A live process whose argv[0] differs from p.Path.
	other := childCmd(t, "sleep")
	other.Args[0] = "not-the-supervised-binary"
	otherExit, err := testReaper.Start(other)
	if err != nil {
		t.Fatal(err)
	}
	waitExeced(t, other.Process.Pid, other.Args[0])
	if err := writeFileAtomic(filepath.Join(p.PIDDir, p.Name+".pid"), []byte(strconv.Itoa(other.Process.Pid)+"\n")); err != nil {
		t.Fatal(err)
	}

	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case st := <-otherExit:
		t.Fatalf("unrelated process was killed: %v", st)
	default:
	}
	if err := other.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	receive(t, otherExit)
}
