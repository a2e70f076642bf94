package kubeconfig

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
	"time"
)

const (
	// lockTimeout is how long Merge and Remove wait for the lock.
	lockTimeout = 10 * time.Second
	// lockRetry is how often a held lock is retried.
	lockRetry = 50 * time.Millisecond
)

// lock takes "<path>.lock", created with O_CREATE|O_EXCL like client-go does,
// retrying every lockRetry until timeout. The returned func releases it.
// O_EXCL already refuses any existing name, a symlink included; O_NOFOLLOW
// says so, since skiff may run as root in a user's directory.
func lock(path string, timeout time.Duration) (unlock func() error, err error) {
	name := path + ".lock"
	deadline := time.Now().Add(timeout)
	for {
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
		if err == nil {
			if err := f.Close(); err != nil {
				os.Remove(name)
				return nil, fmt.Errorf("failed to close lock file %s: %w", name, err)
			}
			return func() error {
				if err := os.Remove(name); err != nil {
					return fmt.Errorf("failed to remove lock file %s: %w", name, err)
				}
				return nil
			}, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("failed to create lock file %s: %w", name, err)
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("kubeconfig is locked by another process: remove %s if no skiff or kubectl is running", name)
		}
		time.Sleep(lockRetry)
	}
}

// withLock runs fn while holding the lock on path, whose directory must
// exist, and releases it afterwards.
func withLock(path string, fn func() error) (err error) {
	unlock, err := lock(path, lockTimeout)
	if err != nil {
		return err
	}
	defer func() {
		if uerr := unlock(); uerr != nil && err == nil {
			err = uerr
		}
	}()
	return fn()
}
