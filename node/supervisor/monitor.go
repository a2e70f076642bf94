package supervisor

import (
	"fmt"
	"time"
)

// monitor waits for the child c to exit and restarts it with backoff until
// stopc is closed. It closes done when it returns.
func (p *Process) monitor(c *child, stopc <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	defer p.log.Close()
	backoff := p.initialBackoff()
	for {
		if c != nil {
			status := <-c.exitc
			p.mu.Lock()
			uptime := time.Since(p.startedAt)
			p.running = false
			p.pid = 0
			stopping := p.stopping
			p.mu.Unlock()

			// Whoever sees the exit in Status finds the last lines in
			// the log.
			c.waitDrained()
			p.logExit(status, uptime)
			p.mu.Lock()
			p.lastExit = status.String()
			p.exits++
			p.mu.Unlock()
			if stopping {
				p.removePIDFile()
				return
			}
			if uptime >= p.stableAfter() {
				backoff = p.initialBackoff()
			}
		}

		delay := backoff
		backoff = min(2*backoff, p.maxBackoff())
		p.Reaper.debugf("%s: restarting in %s", p.Name, delay)
		if p.onRestartDelay != nil {
			p.onRestartDelay(delay)
		}
		if !sleepUnlessClosed(stopc, delay) {
			p.removePIDFile()
			return
		}

		c = p.restart()
		if c == nil && p.isStopping() {
			p.removePIDFile()
			return
		}
	}
}

// restart starts the child again unless stopping. It returns nil if no child
// was started.
func (p *Process) restart() *child {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopping {
		return nil
	}
	c, err := p.startLocked()
	if err != nil {
		p.lastExit = fmt.Sprintf("failed to restart: %v", err)
		p.Reaper.debugf("%s: %s", p.Name, p.lastExit)
		return nil
	}
	p.restarts++
	return c
}

// isStopping reports whether Stop has been called.
func (p *Process) isStopping() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stopping
}

// logExit records an exit of the child in its log file and the debug log.
func (p *Process) logExit(status ExitStatus, uptime time.Duration) {
	uptime = uptime.Round(time.Millisecond)
	p.Reaper.debugf("%s exited after %s: %s", p.Name, uptime, status)
	p.log.marker("%s exited after %s: %s", p.Name, uptime, status)
}

// sleepUnlessClosed waits for d and reports true, or reports false as soon as
// ch is closed.
func sleepUnlessClosed(ch <-chan struct{}, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ch:
		return false
	case <-timer.C:
		return true
	}
}

// initialBackoff returns the first restart delay.
func (p *Process) initialBackoff() time.Duration {
	if p.InitialBackoff > 0 {
		return p.InitialBackoff
	}
	return DefaultInitialBackoff
}

// maxBackoff returns the maximum restart delay.
func (p *Process) maxBackoff() time.Duration {
	if p.MaxBackoff > 0 {
		return p.MaxBackoff
	}
	return DefaultMaxBackoff
}

// stableAfter returns the uptime after which the backoff is reset.
func (p *Process) stableAfter() time.Duration {
	if p.StableAfter > 0 {
		return p.StableAfter
	}
	return DefaultStableAfter
}
