package engine

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
)

const (
	// DefaultExecTimeout bounds a command whose options set neither a
	// Timeout nor an Idle watchdog.
	DefaultExecTimeout = time.Minute
	// exitWait bounds how long Docker may take to record an exit after the
	// command's output has ended: until then its inspect says Running with
	// exit code 0.
	exitWait = 10 * time.Second
	// inputWait bounds how long the input copy may take to stop once the
	// command has ended (a source blocked in Read does not notice).
	inputWait = 10 * time.Second
	// stderrTail is how much of stderr an ExitError keeps.
	stderrTail = 8 << 10
)

// ExecOptions says what a command run with Run reads, where its output
// goes and how long it may take.
type ExecOptions struct {
	Stdin  io.Reader // nil: no stdin
	Stdout io.Writer // nil: discarded
	Stderr io.Writer // nil: discarded (its end is kept in an ExitError anyway)
	// Timeout bounds the whole command; 0 means DefaultExecTimeout unless
	// Idle is set.
	Timeout time.Duration
	// Idle aborts the command once it has neither read input nor written
	// output for this long: for streams whose size, not a fixed bound,
	// decides how long they take.
	Idle time.Duration
}

// ExitError is a command that ran and exited with a non-zero status.
type ExitError struct {
	Cmd    []string
	Code   int
	Stderr string // the end of its stderr
}

func (e *ExitError) Error() string {
	return fmt.Sprintf("%s exited with status %d: %s", strings.Join(e.Cmd, " "), e.Code, lastLines(e.Stderr, 5))
}

// Run runs cmd in the running container id through the exec API and waits
// for it to exit, never longer than its options and ctx allow. A non-zero
// exit is an *ExitError. The exit code is read only once Docker says the
// command is no longer running: the output can end before Docker records
// the exit.
func Run(ctx context.Context, c client.APIClient, id string, cmd []string, o ExecOptions) error {
	name := strings.Join(cmd, " ")
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if o.Timeout > 0 || o.Idle == 0 {
		t := cmp.Or(o.Timeout, DefaultExecTimeout)
		var stop context.CancelFunc
		ctx, stop = context.WithTimeoutCause(ctx, t, fmt.Errorf("%s did not finish within %s", name, t))
		defer stop()
	}
	var last atomic.Int64
	touch := func() { last.Store(time.Now().UnixNano()) }
	touch()
	if o.Idle > 0 {
		go watchIdle(ctx, cancel, &last, o.Idle)
	}
	ex, err := c.ContainerExecCreate(ctx, id, container.ExecOptions{
		Cmd:          cmd,
		AttachStdin:  o.Stdin != nil,
		AttachStdout: true,
		AttachStderr: true,
	})
	if err != nil {
		return fmt.Errorf("exec %s: %w", cmd[0], err)
	}
	hj, err := c.ContainerExecAttach(ctx, ex.ID, container.ExecAttachOptions{})
	if err != nil {
		return fmt.Errorf("attach to %s: %w", cmd[0], err)
	}
	defer hj.Close()
	// Closing the connection is what unblocks its reads and writes.
	defer context.AfterFunc(ctx, hj.Close)()

	var readErr error
	copied := make(chan struct{})
	if o.Stdin == nil {
		close(copied)
	} else {
		go func() {
			defer close(copied)
			src := &errReader{r: o.Stdin, touch: touch}
			// A write error means the command stopped reading (an archive's
			// padding left, say); its exit code says whether that failed.
			_, _ = io.Copy(hj.Conn, src)
			readErr = src.err
			// EOF on the command's stdin tells it the input is complete.
			_ = hj.CloseWrite()
		}()
	}
	stdout, stderr := orDiscard(o.Stdout), orDiscard(o.Stderr)
	tail := &TailBuffer{Max: stderrTail}
	_, outErr := stdcopy.StdCopy(activityWriter{stdout, touch}, activityWriter{io.MultiWriter(stderr, tail), touch}, hj.Reader)
	hj.Close() // the output has ended; unblock a writer the command stopped reading
	if cause := context.Cause(ctx); cause != nil && outErr != nil {
		// Cut short. The input copy may still be blocked reading its
		// source: the caller's closing it ends the copy.
		return fmt.Errorf("%s: %w", name, cause)
	}
	select {
	case <-copied:
	case <-time.After(inputWait):
		return fmt.Errorf("%s ended but its input did not stop within %s", cmd[0], inputWait)
	}
	code, err := exitCode(ctx, c, ex.ID)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	switch {
	case readErr != nil:
		return fmt.Errorf("read the input of %s: %w", cmd[0], readErr)
	case code != 0:
		return &ExitError{Cmd: cmd, Code: code, Stderr: tail.String()}
	case outErr != nil:
		return fmt.Errorf("read the output of %s: %w", cmd[0], outErr)
	}
	return nil
}

// Output runs cmd with Run's default timeout and returns its stdout; a
// non-zero exit is an *ExitError carrying the end of stderr.
func Output(ctx context.Context, c client.APIClient, id string, cmd ...string) ([]byte, error) {
	var out bytes.Buffer
	err := Run(ctx, c, id, cmd, ExecOptions{Stdout: &out})
	return out.Bytes(), err
}

// exitCode polls the exec until Docker says it is no longer running, at
// most exitWait, and returns its exit code.
func exitCode(ctx context.Context, c client.APIClient, execID string) (int, error) {
	// The output has ended: the command's exit is due even if ctx has
	// just run out.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), exitWait)
	defer cancel()
	for {
		insp, err := c.ContainerExecInspect(ctx, execID)
		if err != nil {
			return 0, fmt.Errorf("inspect exec: %w", err)
		}
		if !insp.Running {
			return insp.ExitCode, nil
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("still running %s after its output ended: %w", exitWait, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// watchIdle cancels ctx once last is older than idle.
func watchIdle(ctx context.Context, cancel context.CancelCauseFunc, last *atomic.Int64, idle time.Duration) {
	t := time.NewTicker(min(time.Second, idle/4+time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if time.Since(time.Unix(0, last.Load())) > idle {
				cancel(errors.New("no progress for " + idle.String()))
				return
			}
		}
	}
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// errReader records the source's own read error, to tell it apart from
// errors writing to the container.
type errReader struct {
	r     io.Reader
	touch func()
	err   error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	e.touch()
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}

type activityWriter struct {
	w     io.Writer
	touch func()
}

func (a activityWriter) Write(p []byte) (int, error) {
	a.touch()
	return a.w.Write(p)
}

// TailBuffer keeps the last Max bytes written to it: enough for an error
// message, bounded however much a command prints.
type TailBuffer struct {
	Max int
	buf []byte
}

func (t *TailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.Max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.Max:]...)
	}
	return len(p), nil
}

func (t *TailBuffer) String() string { return string(t.buf) }

// lastLines keeps the last n non-empty lines of s, joined by "; ". Logrus
// warnings (ctr warns about cgroup v1 on every call) never say why a
// command failed and would bury the line that does.
func lastLines(s string, n int) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.Contains(l, "level=warning") {
			keep = append(keep, l)
		}
	}
	if len(keep) > n {
		keep = keep[len(keep)-n:]
	}
	if len(keep) == 0 {
		return "(no error message)"
	}
	return strings.Join(keep, "; ")
}
