package supervisor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// staleKillWait bounds how long Start waits for a stale child to die.
const staleKillWait = 5 * time.Second

// pidFilePath returns the PID file path, or "" if PIDDir is not set.
func (p *Process) pidFilePath() string {
	if p.PIDDir == "" {
		return ""
	}
	return filepath.Join(p.PIDDir, p.Name+".pid")
}

// writePIDFile records pid in the PID file. Failures are only logged.
func (p *Process) writePIDFile(pid int) {
	path := p.pidFilePath()
	if path == "" {
		return
	}
	if err := writeFileAtomic(path, []byte(strconv.Itoa(pid)+"\n")); err != nil {
		p.Reaper.debugf("%s: failed to write PID file: %v", p.Name, err)
	}
}

// writeFileAtomic writes data to path through a temporary file and rename.
func writeFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("failed to create directory: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("failed to write file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("failed to rename file: %w", err)
	}
	return nil
}

// removePIDFile removes the PID file. Failures are only logged.
func (p *Process) removePIDFile() {
	path := p.pidFilePath()
	if path == "" {
		return
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		p.Reaper.debugf("%s: failed to remove PID file: %v", p.Name, err)
	}
}

// killStale kills the process group named by a PID file left over from a
// previous agent, if that process is still alive and runs p.Path.
func (p *Process) killStale(ctx context.Context) error {
	path := p.pidFilePath()
	if path == "" {
		return nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("failed to read PID file: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 1 || pid == os.Getpid() || !p.runsOurBinary(pid) {
		p.removePIDFile()
		return nil
	}

	p.Reaper.debugf("%s: killing stale process group %d", p.Name, pid)
	err = unix.Kill(-pid, unix.SIGKILL)
	if errors.Is(err, unix.ESRCH) {
		// Not a process group leader after all.
		err = unix.Kill(pid, unix.SIGKILL)
	}
	if err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("failed to kill stale process %d: %w", pid, err)
	}

	ctx, cancel := context.WithTimeout(ctx, staleKillWait)
	defer cancel()
	ticker := time.NewTicker(10 * time.Millisecond)
	defer ticker.Stop()
	for processAlive(pid) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("failed to kill stale process %d: %w", pid, ctx.Err())
		case <-ticker.C:
		}
	}
	p.removePIDFile()
	return nil
}

// runsOurBinary reports whether pid is alive and its argv[0] is p.Path.
func (p *Process) runsOurBinary(pid int) bool {
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || len(cmdline) == 0 {
		return false // gone, or a zombie
	}
	argv0, _, _ := bytes.Cut(cmdline, []byte{0})
	return string(argv0) == p.Path
}

// processAlive reports whether pid exists and is not a zombie.
func processAlive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses and
	// may itself contain parentheses and spaces.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 || i+2 >= len(stat) {
		return false
	}
	state := stat[i+2]
	return state != 'Z' && state != 'X' && state != 'x'
}
