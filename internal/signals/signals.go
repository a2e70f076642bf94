// Package signals turns SIGINT, SIGTERM and SIGHUP into context
// cancellation in two stages: the first signal cancels the command, a second
// one also cancels the cleanup that the first started. SIGPIPE (whoever read
// the output went away: `skiff create 2>&1 | head -1`) cancels the command like
// the others, but never the cleanup: every later write to the closed pipe
// raises it again. Unhandled, it killed skiff on the spot, in the middle of
// a create or a snapshot, leaving what it had made.
package signals

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

type cleanupKey struct{}

// Context returns a context that the first signal cancels. Its Cleanup
// context survives that and ends at the second signal. stop releases the
// signal handlers.
func Context(parent context.Context) (ctx context.Context, stop func()) {
	cleanup, abort := context.WithCancel(context.WithoutCancel(parent))
	ctx, cancel := context.WithCancel(context.WithValue(parent, cleanupKey{}, cleanup))
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	// Once notified, a write to a closed pipe fails with EPIPE instead.
	pipe := make(chan os.Signal, 1)
	signal.Notify(pipe, syscall.SIGPIPE)
	done := make(chan struct{})
	go func() {
		for n := 1; ; n++ {
			select {
			case <-pipe:
				cancel()
				n--
				continue
			case <-ch:
				if n == 1 {
					cancel()
					continue
				}
				abort()
				return
			case <-done:
				return
			}
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		signal.Stop(pipe)
		close(done)
		cancel()
		abort()
	}
}

// Cleanup returns the context for undoing work after ctx was cancelled: it
// is not cancelled with ctx, only by a second signal (or never, for a
// context that did not come from Context). Callers add their own timeout.
func Cleanup(ctx context.Context) context.Context {
	if c, ok := ctx.Value(cleanupKey{}).(context.Context); ok {
		return c
	}
	return context.WithoutCancel(ctx)
}
