package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// step is one step of a boot: fn runs once every step named in after has
// passed.
type step struct {
	name  string
	after []string
	fn    func() error
}

// runSteps runs every step as soon as its dependencies have passed, calls
// ready with each step's name as it passes, and returns the first error,
// or nil once all have passed. A step whose dependency failed never runs.
func runSteps(ctx context.Context, steps []step, ready func(string)) error {
	// Every channel exists before any goroutine reads the map.
	done := make(map[string]chan struct{}, len(steps))
	for _, st := range steps {
		done[st.name] = make(chan struct{})
	}
	errc := make(chan error, len(steps))
	var wg sync.WaitGroup
	for _, st := range steps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, dep := range st.after {
				select {
				case <-done[dep]:
				case <-ctx.Done():
					return
				}
			}
			if err := st.fn(); err != nil {
				if !errors.As(err, new(*ComponentError)) {
					err = fmt.Errorf("%s: %w", st.name, err) // a ComponentError names it
				}
				errc <- err
				return
			}
			ready(st.name)
			close(done[st.name])
		}()
	}
	go func() { wg.Wait(); close(errc) }()
	return <-errc
}
