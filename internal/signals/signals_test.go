package signals

import (
	"context"
	"syscall"
	"testing"
	"time"
)

func TestTwoStages(t *testing.T) {
	ctx, stop := Context(context.Background())
	defer stop()
	cleanup := Cleanup(ctx)
	for i, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGTERM} {
		if err := syscall.Kill(syscall.Getpid(), sig); err != nil {
			t.Fatal(err)
		}
		want := []context.Context{ctx, cleanup}[i]
		select {
		case <-want.Done():
		case <-time.After(5 * time.Second):
			t.Fatalf("signal %d (%v) did not cancel stage %d", i+1, sig, i+1)
		}
		if i == 0 && cleanup.Err() != nil {
			t.Fatal("the first signal cancelled the cleanup context too")
		}
	}
}

func TestCleanupOfPlainContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if Cleanup(ctx).Err() != nil {
		t.Fatal("Cleanup of a cancelled plain context is cancelled")
	}
}

// TestBrokenPipe: SIGPIPE cancels the command, and any number of them never
// the cleanup.
func TestBrokenPipe(t *testing.T) {
	ctx, stop := Context(context.Background())
	defer stop()
	cleanup := Cleanup(ctx)
	for range 3 {
		if err := syscall.Kill(syscall.Getpid(), syscall.SIGPIPE); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("SIGPIPE did not cancel the command")
	}
	time.Sleep(100 * time.Millisecond) // the later signals' turn
	if cleanup.Err() != nil {
		t.Fatal("SIGPIPE cancelled the cleanup")
	}
}
