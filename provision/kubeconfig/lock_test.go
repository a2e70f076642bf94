package kubeconfig

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLockTimesOutNamingLockFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(path+".lock", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := lock(path, 200*time.Millisecond)
	if err == nil {
		t.Fatal("lock() error = nil, want timeout error")
	}
	if !strings.Contains(err.Error(), path+".lock") || !strings.Contains(err.Error(), "locked by another process") {
		t.Errorf("lock() error = %q, want it to name %s.lock", err, path)
	}
	if waited := time.Since(start); waited < 200*time.Millisecond {
		t.Errorf("lock() gave up after %v, want at least the timeout", waited)
	}
}

func TestLockWaitsForRelease(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "config")
	unlock, err := lock(path, time.Second)
	if err != nil {
		t.Fatalf("lock() error = %v", err)
	}
	go func() {
		time.Sleep(100 * time.Millisecond)
		unlock()
	}()
	unlock2, err := lock(path, 5*time.Second)
	if err != nil {
		t.Fatalf("second lock() error = %v", err)
	}
	if err := unlock2(); err != nil {
		t.Fatalf("unlock() error = %v", err)
	}
	if _, err := os.Stat(path + ".lock"); !os.IsNotExist(err) {
		t.Errorf("lock file still present after unlock (stat err %v)", err)
	}
}
