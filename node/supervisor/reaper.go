package supervisor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// sweepInterval is how often the reaper calls wait4 even without SIGCHLD,
// in case signals were coalesced or lost.
const sweepInterval = 5 * time.Second

// ErrReaperRunning is returned by [Reaper.Run] when another Reaper is already
// running in this process. Two reapers would steal each other's children.
var ErrReaperRunning = errors.New("another reaper is already running in this process")

// reaperRunning guards against more than one Reaper running per process.
var reaperRunning atomic.Bool

// Reaper owns all waiting for child processes. It reaps every child that
// exits, delivers the exit status of children started through it, and
// silently reaps orphans reparented to this process (when it is PID 1 or a
// child subreaper).
type Reaper struct {
	logf func(format string, args ...any)

	mu      sync.Mutex
	waiters map[int]chan ExitStatus // registered children by PID
}

// NewReaper returns a Reaper that is not yet running. logf, if not nil,
// receives debug messages such as reaped orphans.
func NewReaper(logf func(format string, args ...any)) *Reaper {
	return &Reaper{logf: logf, waiters: make(map[int]chan ExitStatus)}
}

// Run reaps children until ctx is done. Exit statuses of children started
// with Start before or while Run is running are delivered as soon as Run
// reaps them; children exiting while Run is not running stay zombies until
// it runs again. Only one Reaper may run at a time in a process; Run returns
// ErrReaperRunning otherwise, and nil once ctx is done.
func (r *Reaper) Run(ctx context.Context) error {
	if !reaperRunning.CompareAndSwap(false, true) {
		return ErrReaperRunning
	}
	defer reaperRunning.Store(false)

	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, unix.SIGCHLD)
	defer signal.Stop(sigc)

	ticker := time.NewTicker(sweepInterval)
	defer ticker.Stop()

	for {
		r.reap()
		select {
		case <-ctx.Done():
			return nil
		case <-sigc:
		case <-ticker.C:
		}
	}
}

// reap collects all children that have exited so far.
func (r *Reaper) reap() {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || pid <= 0 {
			// ECHILD: no children at all; 0: none has exited yet.
			return
		}
		r.dispatch(pid, exitStatusFromWait(ws))
	}
}

// dispatch delivers the exit status of pid to its waiter, if any.
func (r *Reaper) dispatch(pid int, status ExitStatus) {
	r.mu.Lock()
	ch, ok := r.waiters[pid]
	delete(r.waiters, pid)
	r.mu.Unlock()

	if !ok {
		r.debugf("reaped orphan process %d: %s", pid, status)
		return
	}
	ch <- status // buffered, receives exactly one value
}

// Start starts cmd, which must not have been started, and returns a channel
// that receives its exit status exactly once. The caller must not call
// cmd.Wait. cmd.Stdin, cmd.Stdout and cmd.Stderr must be nil or *os.File,
// since nobody would wait for copying goroutines, and cmd must not have been
// created with exec.CommandContext (use Output for a bounded command).
func (r *Reaper) Start(cmd *exec.Cmd) (<-chan ExitStatus, error) {
	if err := checkCmd(cmd); err != nil {
		return nil, fmt.Errorf("failed to start process: %w", err)
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("failed to start process: %w", err)
	}
	ch := make(chan ExitStatus, 1)
	r.waiters[cmd.Process.Pid] = ch
	return ch, nil
}

// checkCmd rejects commands that would need exec.Cmd.Wait to clean up.
func checkCmd(cmd *exec.Cmd) error {
	if cmd == nil {
		return errors.New("nil command")
	}
	if cmd.Process != nil {
		return errors.New("command already started")
	}
	if cmd.Cancel != nil || cmd.WaitDelay != 0 {
		return errors.New("commands created with exec.CommandContext or with WaitDelay are not supported")
	}
	if cmd.Stdin != nil {
		if _, ok := cmd.Stdin.(*os.File); !ok {
			return errors.New("stdin must be nil or an *os.File")
		}
	}
	if cmd.Stdout != nil {
		if _, ok := cmd.Stdout.(*os.File); !ok {
			return errors.New("stdout must be nil or an *os.File")
		}
	}
	if cmd.Stderr != nil {
		if _, ok := cmd.Stderr.(*os.File); !ok {
			return errors.New("stderr must be nil or an *os.File")
		}
	}
	return nil
}

// debugf logs through the optional logger.
func (r *Reaper) debugf(format string, args ...any) {
	if r.logf != nil {
		r.logf(format, args...)
	}
}
