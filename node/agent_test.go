package node

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skiff-k8s/skiff/node/supervisor"
)

// runReaper runs a reaper for the test: as in the agent, every child is
// started and waited for through it.
func runReaper(t *testing.T) *supervisor.Reaper {
	t.Helper()
	r := supervisor.NewReaper(nil)
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-stopped; err != nil {
			t.Error(err)
		}
	})
	return r
}

// shellProcess is a supervised `sh -c script` with the default backoff,
// stopped when the test ends (before the reaper: cleanups run last first).
func shellProcess(t *testing.T, r *supervisor.Reaper, name, script string) *supervisor.Process {
	t.Helper()
	p := &supervisor.Process{Name: name, Path: "/bin/sh", Args: []string{"-c", script},
		Dir: t.TempDir(), LogFile: filepath.Join(t.TempDir(), name+".log"), Reaper: r}
	t.Cleanup(func() {
		if err := p.Stop(time.Second); err != nil {
			t.Error(err)
		}
	})
	return p
}

func TestStartAndWaitFailsFastWhenComponentKeepsExiting(t *testing.T) {
	r := runReaper(t)
	p := shellProcess(t, r, "boom", "echo starting; echo 'bad flag --feature-gates'; exit 3")
	never := func(context.Context) error { return errors.New("connection refused") }
	start := time.Now()
	err := startAndWait(context.Background(), p, never, time.Minute)
	elapsed := time.Since(start)
	var ce *ComponentError
	if !errors.As(err, &ce) {
		t.Fatalf("got %v, want a *ComponentError", err)
	}
	t.Logf("failed after %s: %v", elapsed.Round(time.Millisecond), err)
	if elapsed > 10*time.Second {
		t.Errorf("gave up after %s, want seconds", elapsed)
	}
	if ce.Name != "boom" || ce.Log != p.LogFile {
		t.Errorf("error names %q, log %q", ce.Name, ce.Log)
	}
	for _, want := range []string{"boom is not ready", "exited 3 times", "exit status 3", "bad flag --feature-gates"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if !strings.Contains(ce.Tail, "bad flag --feature-gates\n--- skiff-node: boom exited after") {
		t.Errorf("tail lacks the last output line before an exit marker:\n%s", ce.Tail)
	}
}

func TestStartAndWaitToleratesOneExitAtBoot(t *testing.T) {
	r := runReaper(t)
	// Exits the first time, serves (creates "ready") the second.
	p := shellProcess(t, r, "flaky", "if [ -e seen ]; then touch ready; exec sleep 60; fi; touch seen; exit 1")
	ready := func(context.Context) error {
		_, err := os.Stat(filepath.Join(p.Dir, "ready"))
		return err
	}
	if err := startAndWait(context.Background(), p, ready, time.Minute); err != nil {
		t.Fatal(err)
	}
	if st := p.Status(); st.Exits != 1 || !st.Running {
		t.Fatalf("status %+v, want running after one exit", st)
	}
}

// An unknown command (a newer CLI's, run by docker exec) must fail at once:
// running on would start a second agent beside PID 1.
func TestMainRefusesUnknownCommand(t *testing.T) {
	if got := Main([]string{"no-such-command"}); got != 2 {
		t.Fatalf("Main(no-such-command) = %d, want 2", got)
	}
}
