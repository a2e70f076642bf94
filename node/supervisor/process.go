package supervisor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Default restart backoff parameters of a Process.
const (
	DefaultInitialBackoff = 250 * time.Millisecond
	DefaultMaxBackoff     = 10 * time.Second
	DefaultStableAfter    = 30 * time.Second
)

// killWait bounds how long Stop waits for the exit after SIGKILL.
const killWait = 10 * time.Second

// drainWait bounds how long an exit waits for the child's output to reach
// the log: a grandchild that inherited its stdout can hold the pipe open.
const drainWait = 2 * time.Second

// ErrNotRunning is returned (wrapped) by [Process.Signal] when no child is
// running.
var ErrNotRunning = errors.New("process is not running")

// Process is a supervised long-running child process. It is restarted with
// exponential backoff whenever it exits, until Stop is called. The exported
// fields must not be changed after Start.
type Process struct {
	// Name is the component name, e.g. "etcd".
	Name string
	// Path is the binary to run; without a slash it is looked up in PATH.
	Path string
	// Args are the command-line arguments, not including the program name.
	Args []string
	// Env is the environment; nil means inherit the agent's environment.
	Env []string
	// Dir is the working directory; empty means the agent's.
	Dir string
	// LogFile receives stdout and stderr of the child through a pipe
	// (appended; created 0644 with its parent directories), rotated to
	// LogFile+".1" at LogMaxSize. Empty discards the output.
	LogFile string
	// LogMaxSize caps LogFile; zero means DefaultLogMaxSize.
	LogMaxSize int64
	// PIDDir, if set, holds "<Name>.pid" for the running child.
	PIDDir string
	// Reaper starts and waits for the child. It must be running.
	Reaper *Reaper

	// InitialBackoff is the delay before the first restart after a crash;
	// zero means DefaultInitialBackoff. It doubles per consecutive crash.
	InitialBackoff time.Duration
	// MaxBackoff caps the restart delay; zero means DefaultMaxBackoff.
	MaxBackoff time.Duration
	// StableAfter is how long the child must stay up for the delay to be
	// reset to InitialBackoff; zero means DefaultStableAfter.
	StableAfter time.Duration

	lifecycle sync.Mutex // serialises Start and Stop

	mu        sync.Mutex // guards the fields below
	active    bool       // a monitor goroutine is running
	stopping  bool
	stopc     chan struct{} // closed when stopping
	done      chan struct{} // closed when the monitor returns
	running   bool
	pid       int
	attempts  int
	restarts  int
	exits     int
	log       *rotatingLog // nil without LogFile
	startedAt time.Time
	lastExit  string

	// onRestartDelay, if set, is called with every restart delay (tests).
	onRestartDelay func(time.Duration)
}

// ProcessState is the state of a Process as shown by `skiff status`.
type ProcessState struct {
	Name      string
	Running   bool
	PID       int
	Restarts  int       // successful restarts since Start
	Exits     int       // exits of the child since Start
	StartedAt time.Time // start of the current or last child
	LastExit  string    // e.g. "exit status 1"; empty if it never exited
}

// Start starts the process and returns once it has been started for the
// first time, or with an error if it could not be started at all. A monitor
// goroutine then restarts it whenever it exits, until Stop. ctx only bounds
// the start itself, including killing a stale child left over from a
// previous agent (see PIDDir).
func (p *Process) Start(ctx context.Context) error {
	if p.Name == "" || p.Path == "" || p.Reaper == nil {
		return errors.New("failed to start process: Name, Path and Reaper must be set")
	}
	p.lifecycle.Lock()
	defer p.lifecycle.Unlock()

	p.mu.Lock()
	active := p.active
	p.mu.Unlock()
	if active {
		return fmt.Errorf("failed to start %s: already started", p.Name)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("failed to start %s: %w", p.Name, err)
	}
	if err := p.killStale(ctx); err != nil {
		return fmt.Errorf("failed to start %s: %w", p.Name, err)
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopping = false
	p.attempts = 0
	p.restarts = 0
	p.exits = 0
	p.lastExit = ""
	p.log = nil
	if p.LogFile != "" {
		p.log = newRotatingLog(p.LogFile, p.LogMaxSize)
	}
	c, err := p.startLocked()
	if err != nil {
		_ = p.log.Close()
		return fmt.Errorf("failed to start %s: %w", p.Name, err)
	}
	p.active = true
	p.stopc = make(chan struct{})
	p.done = make(chan struct{})
	go p.monitor(c, p.stopc, p.done)
	return nil
}

// child is one started child process.
type child struct {
	exitc <-chan ExitStatus
	// drained is closed once all its output is in the log; nil without
	// a log.
	drained <-chan struct{}
}

// waitDrained waits, up to drainWait, until the child's output is logged,
// so that the exit marker and status follow its last lines.
func (c *child) waitDrained() {
	if c.drained != nil {
		waitClosed(c.drained, drainWait)
	}
}

// startLocked starts one child. p.mu must be held.
func (p *Process) startLocked() (*child, error) {
	p.attempts++
	cmd := exec.Command(p.Path, p.Args...)
	cmd.Env = p.Env
	cmd.Dir = p.Dir
	// Own process group, so that signals reach the whole component; and
	// killed if the agent dies (strictly: if the OS thread that forked it
	// exits, which the Go runtime does not do for unlocked threads).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}

	// A pipe, not the file itself, so that the agent can rotate the log
	// under a running child.
	var pr, pw *os.File
	if p.log != nil {
		var err error
		if pr, pw, err = os.Pipe(); err != nil {
			return nil, fmt.Errorf("failed to create log pipe: %w", err)
		}
		p.log.marker("starting %s (attempt %d) at %s", p.Name, p.attempts, time.Now().Format(time.RFC3339))
		cmd.Stdout = pw
		cmd.Stderr = pw
	}

	exitc, err := p.Reaper.Start(cmd)
	if pw != nil {
		pw.Close() // the child has its own copy
	}
	if err != nil {
		if pr != nil {
			pr.Close()
		}
		p.log.marker("failed to start %s: %v", p.Name, err)
		return nil, err
	}
	c := &child{exitc: exitc}
	if pr != nil {
		drained := make(chan struct{})
		go p.log.copyFrom(pr, drained)
		c.drained = drained
	}
	p.running = true
	p.pid = cmd.Process.Pid
	p.startedAt = time.Now()
	p.writePIDFile(p.pid)
	return c, nil
}

// Stop stops restarting the process, sends SIGTERM to the child's process
// group, escalates to SIGKILL after timeout and waits for the child to exit.
// It is safe to call in any state and more than once.
func (p *Process) Stop(timeout time.Duration) error {
	p.lifecycle.Lock()
	defer p.lifecycle.Unlock()

	p.mu.Lock()
	if !p.active {
		p.mu.Unlock()
		return nil
	}
	if !p.stopping {
		p.stopping = true
		close(p.stopc)
	}
	done := p.done
	_ = p.signalLocked(unix.SIGTERM)
	p.mu.Unlock()

	if waitClosed(done, timeout) {
		p.setInactive()
		return nil
	}

	p.mu.Lock()
	pid := p.pid
	_ = p.signalLocked(unix.SIGKILL)
	p.mu.Unlock()

	if waitClosed(done, killWait) {
		p.setInactive()
		return nil
	}
	return fmt.Errorf("failed to stop %s: process %d did not exit after SIGKILL", p.Name, pid)
}

// setInactive records that the monitor has returned.
func (p *Process) setInactive() {
	p.mu.Lock()
	p.active = false
	p.mu.Unlock()
}

// Signal sends sig to the process group of the current child without
// stopping supervision; if the child exits, it is restarted.
func (p *Process) Signal(sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.signalLocked(sig); err != nil {
		return fmt.Errorf("failed to signal %s: %w", p.Name, err)
	}
	return nil
}

// signalLocked signals the child's process group. p.mu must be held.
func (p *Process) signalLocked(sig syscall.Signal) error {
	if !p.running {
		return ErrNotRunning
	}
	return unix.Kill(-p.pid, sig)
}

// Status returns the current state of the process.
func (p *Process) Status() ProcessState {
	p.mu.Lock()
	defer p.mu.Unlock()
	return ProcessState{
		Name:      p.Name,
		Running:   p.running,
		PID:       p.pid,
		Restarts:  p.restarts,
		Exits:     p.exits,
		StartedAt: p.startedAt,
		LastExit:  p.lastExit,
	}
}

// waitClosed waits up to d for ch to be closed.
func waitClosed(ch <-chan struct{}, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ch:
		return true
	case <-timer.C:
		return false
	}
}
