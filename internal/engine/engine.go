// Package engine connects to the Docker engine.
package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/docker/docker/client"
)

// NotReachableError says the Docker engine did not answer, and how to fix it.
type NotReachableError struct {
	Host string
	Err  error
}

func (e *NotReachableError) Error() string {
	return fmt.Sprintf("Docker is not reachable at %s (%v): start it with `sudo hack/docker.sh` (Debian), `sudo systemctl start docker`, or open Docker Desktop", e.Host, e.Err)
}

func (e *NotReachableError) Unwrap() error { return e.Err }

// Connect returns a client for the engine named by the environment
// (DOCKER_HOST, ...) after checking, within 5 s, that it answers.
func Connect(ctx context.Context) (*client.Client, error) {
	c, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("failed to create Docker client: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := c.Ping(pctx); err != nil {
		c.Close()
		return nil, &NotReachableError{Host: c.DaemonHost(), Err: err}
	}
	c.NegotiateAPIVersion(ctx)
	return c, nil
}
