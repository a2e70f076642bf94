package supervisor

import (
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// ExitStatus describes how a child process terminated.
type ExitStatus struct {
	// Code is the exit code, or -1 if the process was killed by a signal
	// or its status could not be determined.
	Code int
	// Signal is the signal that killed the process, or 0.
	Signal syscall.Signal
	// CoreDumped reports whether the process dumped core.
	CoreDumped bool
	// Err is set when the exit status could not be determined.
	Err error
}

// Success reports whether the process exited with status 0.
func (s ExitStatus) Success() bool {
	return s.Err == nil && s.Signal == 0 && s.Code == 0
}

// String returns a description such as "exit status 1" or
// "killed by signal 9 (SIGKILL)".
func (s ExitStatus) String() string {
	switch {
	case s.Err != nil:
		return fmt.Sprintf("unknown exit status: %v", s.Err)
	case s.Signal != 0:
		var str string
		if name := unix.SignalName(s.Signal); name != "" {
			str = fmt.Sprintf("killed by signal %d (%s)", int(s.Signal), name)
		} else {
			str = fmt.Sprintf("killed by signal %d", int(s.Signal))
		}
		if s.CoreDumped {
			str += " (core dumped)"
		}
		return str
	default:
		return fmt.Sprintf("exit status %d", s.Code)
	}
}

// exitStatusFromWait converts a wait(2) status into an ExitStatus.
func exitStatusFromWait(ws unix.WaitStatus) ExitStatus {
	switch {
	case ws.Exited():
		return ExitStatus{Code: ws.ExitStatus()}
	case ws.Signaled():
		return ExitStatus{Code: -1, Signal: ws.Signal(), CoreDumped: ws.CoreDump()}
	default:
		return ExitStatus{Code: -1, Err: fmt.Errorf("unexpected wait status %#x", uint32(ws))}
	}
}

// ExitError is returned by [Reaper.Output] when the command ran but did not
// exit successfully.
type ExitError struct {
	ExitStatus
}

// Error implements the error interface.
func (e *ExitError) Error() string {
	return e.ExitStatus.String()
}
