package supervisor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestExitStatusString(t *testing.T) {
	tests := []struct {
		status ExitStatus
		want   string
	}{
		{ExitStatus{}, "exit status 0"},
		{ExitStatus{Code: 1}, "exit status 1"},
		{ExitStatus{Code: -1, Signal: syscall.SIGKILL}, "killed by signal 9 (SIGKILL)"},
		{ExitStatus{Code: -1, Signal: syscall.SIGSEGV, CoreDumped: true}, "killed by signal 11 (SIGSEGV) (core dumped)"},
		{ExitStatus{Code: -1, Err: errors.New("boom")}, "unknown exit status: boom"},
	}
	for _, tt := range tests {
		if got := tt.status.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
	if !(ExitStatus{}).Success() || (ExitStatus{Code: 1}).Success() {
		t.Error("Success() is wrong")
	}
}

func TestReaperStartDeliversExitStatus(t *testing.T) {
	exitc, err := testReaper.Start(childCmd(t, "exit3"))
	if err != nil {
		t.Fatal(err)
	}
	if st := receive(t, exitc); st.Code != 3 || st.Signal != 0 || st.Err != nil {
		t.Fatalf("got %+v, want exit status 3", st)
	}
	select {
	case st := <-exitc:
		t.Fatalf("second exit status delivered: %v", st)
	default:
	}
}

func TestReaperStartMissingBinary(t *testing.T) {
	_, err := testReaper.Start(exec.Command("/nonexistent/skiff-no-such-binary"))
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("got error %v, want one wrapping ErrNotExist", err)
	}
	t.Log(err)
}

func TestReaperStartRejectsUnsupportedCommands(t *testing.T) {
	withBuffer := childCmd(t, "exit3")
	withBuffer.Stdout = &bytes.Buffer{}
	if _, err := testReaper.Start(withBuffer); err == nil {
		t.Error("Start accepted a non-file stdout")
	}

	withContext := exec.CommandContext(context.Background(), testExecutable(t))
	if _, err := testReaper.Start(withContext); err == nil {
		t.Error("Start accepted a command created with exec.CommandContext")
	}
}

func TestSecondReaperRefusesToRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := NewReaper(nil).Run(ctx); !errors.Is(err, ErrReaperRunning) {
		t.Fatalf("got %v, want ErrReaperRunning", err)
	}
}

func TestReaperOutput(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	out, err := testReaper.Output(ctx, childCmd(t, "output"))
	if err != nil {
		t.Fatalf("Output: %v", err)
	}
	for _, want := range []string{"hello stdout\n", "hello stderr\n", strings.Repeat("x", 256<<10)} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %.20q", want)
		}
	}

	out, err = testReaper.Output(ctx, childCmd(t, "output", envExitCode+"=4"))
	var exitErr *ExitError
	if !errors.As(err, &exitErr) || exitErr.Code != 4 || err.Error() != "exit status 4" {
		t.Fatalf("got error %v, want *ExitError with exit status 4", err)
	}
	if !strings.Contains(string(out), "hello stdout") || !strings.Contains(string(out), "hello stderr") {
		t.Errorf("output of failed command lacks stdout or stderr: %.100q", out)
	}

	withStdout := childCmd(t, "output")
	withStdout.Stdout = os.Stdout
	if _, err := testReaper.Output(ctx, withStdout); err == nil {
		t.Error("Output accepted a command with Stdout set")
	}
}

func TestReaperOutputKillsOnContextDone(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := testReaper.Output(ctx, childCmd(t, "sleep"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want context.DeadlineExceeded", err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Fatalf("Output returned after %s", elapsed)
	}
}

func TestOrphanIsReapedWithoutStealingExitStatus(t *testing.T) {
	// A supervised process that keeps running while orphans are reaped.
	sleeper := newProcess(t, "sleep")
	if err := sleeper.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitForLog(t, sleeper.LogFile, "ready")

	pidFile := filepath.Join(t.TempDir(), "grandchild.pid")
	orphaner := newProcess(t, "orphan", envPIDFile+"="+pidFile)
	orphaner.InitialBackoff = time.Minute // exit once, do not restart
	if err := orphaner.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "orphaner exit", func() bool {
		return orphaner.Status().LastExit != ""
	})
	if st := orphaner.Status(); st.LastExit != "exit status 7" || st.Running {
		t.Fatalf("orphaner status %+v, want not running with exit status 7", st)
	}

	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	gpid, err := strconv.Atoi(string(data))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Kill(gpid, unix.SIGKILL) })
	if ppid := parentPID(t, gpid); ppid != os.Getpid() {
		t.Fatalf("grandchild %d has parent %d, want the test process %d", gpid, ppid, os.Getpid())
	}

	if err := unix.Kill(gpid, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, fmt.Sprintf("/proc/%d to disappear", gpid), func() bool {
		_, err := os.Stat(fmt.Sprintf("/proc/%d", gpid))
		return errors.Is(err, os.ErrNotExist)
	})

	if err := orphaner.Stop(time.Second); err != nil {
		t.Fatal(err)
	}
	if err := sleeper.Stop(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if st := sleeper.Status(); st.LastExit != "killed by signal 15 (SIGTERM)" || st.Restarts != 0 {
		t.Fatalf("sleeper status %+v, want killed by SIGTERM without restarts", st)
	}
}

// parentPID returns the parent PID of pid from /proc.
func parentPID(t *testing.T, pid int) int {
	t.Helper()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	ppid, err := strconv.Atoi(fields[1])
	if err != nil {
		t.Fatal(err)
	}
	return ppid
}
