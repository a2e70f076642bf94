package supervisor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Output runs cmd to completion through the reaper and returns its combined
// stdout and stderr, like exec.Cmd.CombinedOutput. cmd.Stdout and cmd.Stderr
// must be nil. The command runs in its own process group, which is killed
// with SIGKILL when ctx is done; Output then returns an error wrapping
// ctx.Err(). If the command ran but failed, the error is an *ExitError.
// Like Start, Output relies on Run to collect the exit status.
func (r *Reaper) Output(ctx context.Context, cmd *exec.Cmd) ([]byte, error) {
	if cmd == nil {
		return nil, errors.New("failed to run command: nil command")
	}
	if cmd.Stdout != nil || cmd.Stderr != nil {
		return nil, errors.New("failed to run command: stdout or stderr already set")
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("failed to run %s: %w", cmd.Path, err)
	}

	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("failed to create pipe: %w", err)
	}
	defer pr.Close()

	cmd.Stdout = pw
	cmd.Stderr = pw
	attr := &syscall.SysProcAttr{}
	if cmd.SysProcAttr != nil {
		copied := *cmd.SysProcAttr
		attr = &copied
	}
	if !attr.Setsid { // a session leader already leads its own group
		attr.Setpgid = true
		attr.Pgid = 0
	}
	cmd.SysProcAttr = attr

	exitc, err := r.Start(cmd)
	pw.Close() // the child holds its own copy
	if err != nil {
		return nil, fmt.Errorf("failed to run %s: %w", cmd.Path, err)
	}
	pid := cmd.Process.Pid

	var buf bytes.Buffer
	drained := make(chan error, 1)
	go func() {
		_, err := io.Copy(&buf, pr)
		drained <- err
	}()

	var status ExitStatus
	canceled := false
	select {
	case status = <-exitc:
	case <-ctx.Done():
		canceled = true
		_ = unix.Kill(-pid, unix.SIGKILL)
		status = <-exitc
	}

	// Wait until everything the command wrote has been read. Processes
	// that escaped the process group may keep the pipe open; give up on
	// them once ctx is done.
	var copyErr error
	select {
	case copyErr = <-drained:
	case <-ctx.Done():
		_ = pr.SetReadDeadline(time.Now())
		copyErr = <-drained
		if errors.Is(copyErr, os.ErrDeadlineExceeded) {
			canceled = true
		}
	}

	if canceled {
		return buf.Bytes(), fmt.Errorf("failed to run %s: %w", cmd.Path, ctx.Err())
	}
	if !status.Success() {
		return buf.Bytes(), &ExitError{ExitStatus: status}
	}
	if copyErr != nil {
		return buf.Bytes(), fmt.Errorf("failed to read output of %s: %w", cmd.Path, copyErr)
	}
	return buf.Bytes(), nil
}
