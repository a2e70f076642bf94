package engine

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
)

// Exec runs cmd in a running container and returns its combined output; a
// non-zero exit is an error that carries the output.
func Exec(ctx context.Context, c *client.Client, id string, cmd ...string) ([]byte, error) {
	ex, err := c.ContainerExecCreate(ctx, id, container.ExecOptions{Cmd: cmd, AttachStdout: true, AttachStderr: true})
	if err != nil {
		return nil, fmt.Errorf("failed to exec %s: %w", cmd[0], err)
	}
	att, err := c.ContainerExecAttach(ctx, ex.ID, container.ExecAttachOptions{})
	if err != nil {
		return nil, fmt.Errorf("failed to exec %s: %w", cmd[0], err)
	}
	defer att.Close()
	var out bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &out, att.Reader); err != nil {
		return out.Bytes(), err
	}
	insp, err := c.ContainerExecInspect(ctx, ex.ID)
	if err != nil {
		return out.Bytes(), err
	}
	if insp.ExitCode != 0 {
		return out.Bytes(), fmt.Errorf("%s exited %d", strings.Join(cmd, " "), insp.ExitCode)
	}
	return out.Bytes(), nil
}
