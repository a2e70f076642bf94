// Package cli renders progress for people: a spinner with elapsed time per
// step on a terminal, plain timestamped lines everywhere else (CI, pipes).
package cli

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/schollz/progressbar/v3"
)

// Steps shows one step at a time. Start ends the previous step as done;
// End(false) marks the current step failed. The zero value is not usable.
type Steps struct {
	mu      sync.Mutex
	out     io.Writer
	tty     bool
	msg     string
	started time.Time
	bar     *progressbar.ProgressBar
}

// NewSteps writes to w, with a spinner when w is a terminal.
func NewSteps(w io.Writer) *Steps {
	return &Steps{out: w, tty: IsTerminal(w)}
}

// IsTerminal reports whether w is a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isatty.IsTerminal(f.Fd())
}

// Start begins a step, ending the previous one as successful.
func (s *Steps) Start(msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.end(true)
	s.msg, s.started = msg, time.Now()
	if !s.tty {
		fmt.Fprintf(s.out, "%s %s ...\n", time.Now().Format("15:04:05"), msg)
		return
	}
	s.bar = progressbar.NewOptions(-1,
		progressbar.OptionSetWriter(s.out),
		progressbar.OptionSetDescription(msg),
		progressbar.OptionSpinnerType(14),
		progressbar.OptionSetSpinnerChangeInterval(100*time.Millisecond),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionClearOnFinish(),
	)
}

// End finishes the current step, if any.
func (s *Steps) End(ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.end(ok)
}

func (s *Steps) end(ok bool) {
	if s.msg == "" {
		return
	}
	if s.bar != nil {
		_ = s.bar.Finish()
		s.bar = nil
	}
	mark := "✓"
	if !ok {
		mark = "✗"
	}
	elapsed := time.Since(s.started).Round(100 * time.Millisecond)
	if s.tty {
		fmt.Fprintf(s.out, " %s %s (%s)\n", mark, s.msg, elapsed)
	} else {
		fmt.Fprintf(s.out, "%s %s %s (%s)\n", time.Now().Format("15:04:05"), mark, s.msg, elapsed)
	}
	s.msg = ""
}
