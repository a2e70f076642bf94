package supervisor

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Environment variables understood by the test binary when it runs as a
// child ("pingpong" pattern).
const (
	envChildMode = "SUPERVISOR_TEST_CHILD"
	envPIDFile   = "SUPERVISOR_TEST_PIDFILE"
	envExitCode  = "SUPERVISOR_TEST_EXIT"
)

// childLifetime bounds how long a blocking child lives if a test leaks it.
const childLifetime = 60 * time.Second

// testReaper is the one reaper of the test process.
var testReaper *Reaper

func TestMain(m *testing.M) {
	if mode := os.Getenv(envChildMode); mode != "" {
		os.Exit(runChild(mode))
	}

	// Make orphaned grandchildren reparent to the test process, as they
	// would to skiff-node running as PID 1.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		fmt.Fprintf(os.Stderr, "failed to become child subreaper: %v\n", err)
		os.Exit(1)
	}

	testReaper = NewReaper(func(format string, args ...any) {
		if testing.Verbose() {
			fmt.Fprintf(os.Stderr, "reaper: "+format+"\n", args...)
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- testReaper.Run(ctx) }()

	code := m.Run()
	cancel()
	if err := <-stopped; err != nil {
		fmt.Fprintf(os.Stderr, "reaper: %v\n", err)
		code = 1
	}
	os.Exit(code)
}

// runChild behaves as the child process selected by mode.
func runChild(mode string) int {
	switch mode {
	case "sleep":
		fmt.Println("ready")
		time.Sleep(childLifetime)
		return 0
	case "ignore-term":
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("ready")
		time.Sleep(childLifetime)
		return 0
	case "exit3":
		fmt.Println("child exiting with 3")
		return 3
	case "output":
		fmt.Fprintln(os.Stdout, "hello stdout")
		fmt.Fprint(os.Stdout, strings.Repeat("x", 256<<10)+"\n")
		fmt.Fprintln(os.Stderr, "hello stderr")
		code, _ := strconv.Atoi(os.Getenv(envExitCode))
		return code
	case "orphan":
		return spawnOrphan()
	default:
		fmt.Fprintf(os.Stderr, "unknown child mode %q\n", mode)
		return 2
	}
}

// spawnOrphan starts a detached sleeping grandchild, records its PID and
// exits with status 7, leaving the grandchild orphaned.
func spawnOrphan() int {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), envChildMode+"=sleep")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	pid := strconv.Itoa(cmd.Process.Pid)
	tmp := os.Getenv(envPIDFile) + ".tmp"
	if err := os.WriteFile(tmp, []byte(pid), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if err := os.Rename(tmp, os.Getenv(envPIDFile)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	fmt.Println("spawned grandchild", pid)
	return 7
}

// testExecutable returns the path of the test binary.
func testExecutable(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatalf("failed to find test executable: %v", err)
	}
	return exe
}

// childEnv returns the environment of a child in mode. It turns off the race
// detector's sleep at exit, which would slow down every child by a second.
func childEnv(mode string, env ...string) []string {
	gorace := strings.TrimSpace(os.Getenv("GORACE") + " atexit_sleep_ms=0")
	base := append(os.Environ(), envChildMode+"="+mode, "GORACE="+gorace)
	return append(base, env...)
}

// childCmd returns a command running the test binary in mode.
func childCmd(t *testing.T, mode string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(testExecutable(t))
	cmd.Env = childEnv(mode, env...)
	return cmd
}

// newProcess returns a Process running the test binary in mode, logging to a
// temporary file, and stops it when the test ends.
func newProcess(t *testing.T, mode string, env ...string) *Process {
	t.Helper()
	dir := t.TempDir()
	p := &Process{
		Name:           "test-" + mode,
		Path:           testExecutable(t),
		Env:            childEnv(mode, env...),
		LogFile:        filepath.Join(dir, "logs", mode+".log"),
		PIDDir:         filepath.Join(dir, "run"),
		Reaper:         testReaper,
		InitialBackoff: 10 * time.Millisecond,
		MaxBackoff:     100 * time.Millisecond,
		StableAfter:    time.Minute,
	}
	t.Cleanup(func() {
		if err := p.Stop(time.Second); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return p
}

// waitFor polls cond until it is true or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitExeced waits until pid's argv[0] is argv0. exec.Cmd.Start can return
// before the kernel has set up the new argv: until then /proc/PID/cmdline
// is empty and the process would pass for a zombie.
func waitExeced(t *testing.T, pid int, argv0 string) {
	t.Helper()
	waitFor(t, 10*time.Second, fmt.Sprintf("process %d to run %s", pid, argv0), func() bool {
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		got, _, _ := strings.Cut(string(cmdline), "\x00")
		return got == argv0
	})
}

// waitForLog waits until the file at path contains substr.
func waitForLog(t *testing.T, path, substr string) {
	t.Helper()
	waitFor(t, 10*time.Second, fmt.Sprintf("%q in %s", substr, path), func() bool {
		data, _ := os.ReadFile(path)
		return strings.Contains(string(data), substr)
	})
}

// receive waits for an exit status with a timeout.
func receive(t *testing.T, ch <-chan ExitStatus) ExitStatus {
	t.Helper()
	select {
	case st := <-ch:
		return st
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for exit status")
		return ExitStatus{}
	}
}
