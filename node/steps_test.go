package node

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

// Each step runs once its dependencies have passed; runSteps returns once
// every step has.
func TestRunStepsOrder(t *testing.T) {
	var mu sync.Mutex
	var passed []string
	record := func(n string) {
		mu.Lock()
		passed = append(passed, n)
		mu.Unlock()
	}
	ran := func(deps ...string) func() error {
		return func() error {
			mu.Lock()
			defer mu.Unlock()
			for _, d := range deps {
				if !slices.Contains(passed, d) {
					return errors.New("ran before " + d)
				}
			}
			return nil
		}
	}
	steps := []step{
		{name: "dns", after: []string{"api", "cm"}, fn: ran("api", "cm")},
		{name: "cm", after: []string{"api"}, fn: ran("api")},
		{name: "api", after: []string{"etcd"}, fn: ran("etcd")},
		{name: "etcd", fn: ran()},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := runSteps(ctx, steps, record); err != nil {
		t.Fatal(err)
	}
	if len(passed) != 4 {
		t.Errorf("passed %v, want every step", passed)
	}
}

// A failed step is returned, named, and what depends on it does not run.
func TestRunStepsFailure(t *testing.T) {
	ran := make(chan string, 2)
	steps := []step{
		{name: "etcd", fn: func() error { return errors.New("no disk") }},
		{name: "api", after: []string{"etcd"}, fn: func() error { ran <- "api"; return nil }},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := runSteps(ctx, steps, func(string) {}); err == nil || err.Error() != "etcd: no disk" {
		t.Errorf("runSteps: %v, want etcd: no disk", err)
	}
	if len(ran) != 0 {
		t.Errorf("%s ran after its dependency failed", <-ran)
	}
}
