package provision

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/errdefs"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/skiff-k8s/skiff/internal/engine"
	"github.com/skiff-k8s/skiff/node"
)

// nodeCommands are run in a running node for `skiff export logs`.
var nodeCommands = map[string][]string{
	"processes.txt":   {"ps", "auxww"},
	"addresses.txt":   {"ip", "addr"},
	"routes.txt":      {"ip", "route"},
	"iptables.txt":    {"iptables-save"},
	"images.txt":      {"ctr", "--namespace", "k8s.io", "images", "ls"},
	"containers.txt":  {"ctr", "--namespace", "k8s.io", "containers", "ls"},
	"mounts.txt":      {"cat", "/proc/self/mountinfo"},
	"kubectl-all.txt": {"kubectl", "--kubeconfig", node.KubeconfigDir + "/admin.conf", "get", "all,events", "-A", "-o", "wide"},
}

// ExportLogs collects every component's log, the node agent's output and
// status, the container's inspect data and the node's state into dir.
func (p *Provider) ExportLogs(ctx context.Context, name, dir string) error {
	c, err := p.node(ctx, name)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("failed to create %s: %w", dir, err)
	}
	var errs []error
	inspect, _ := json.MarshalIndent(c, "", "  ")
	errs = append(errs, os.WriteFile(filepath.Join(dir, "inspect.json"), inspect, 0o644))
	errs = append(errs, p.agentOutput(ctx, name, filepath.Join(dir, "skiff-node.log")))
	for _, src := range []string{node.LogDir, "/var/log/pods", node.StatusFile, node.StateDir + "/config.json", node.StateDir + "/addons"} {
		errs = append(errs, p.copyFromNode(ctx, name, src, dir))
	}
	if c.State.Running {
		for file, cmd := range nodeCommands {
			var out bytes.Buffer
			err := engine.Run(ctx, p.docker, NodeName(name), cmd, engine.ExecOptions{Stdout: &out, Stderr: &out, Timeout: 30 * time.Second})
			if err != nil {
				fmt.Fprintf(&out, "\n%v\n", err)
			}
			errs = append(errs, os.WriteFile(filepath.Join(dir, file), out.Bytes(), 0o644))
		}
	}
	return errors.Join(errs...)
}

func (p *Provider) agentOutput(ctx context.Context, name, file string) error {
	rc, err := p.docker.ContainerLogs(ctx, NodeName(name), container.LogsOptions{ShowStdout: true, ShowStderr: true, Timestamps: true})
	if err != nil {
		return fmt.Errorf("failed to read agent output: %w", err)
	}
	defer rc.Close()
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = stdcopy.StdCopy(f, f, rc)
	return err
}

// copyFromNode copies a file or directory out of the node into dir; a path
// that does not exist is skipped.
func (p *Provider) copyFromNode(ctx context.Context, name, src, dir string) error {
	rc, _, err := p.docker.CopyFromContainer(ctx, NodeName(name), src)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("failed to copy %s: %w", src, err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("failed to copy %s: %w", src, err)
		}
		target := filepath.Join(dir, filepath.Clean("/"+h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			f, err := os.Create(target)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			f.Close()
			if err != nil {
				return err
			}
		}
	}
}
