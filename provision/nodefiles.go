package provision

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/skiff-k8s/skiff/internal/textutil"
	"github.com/skiff-k8s/skiff/node"
	"github.com/skiff-k8s/skiff/provision/pki"
)

const (
	// readTimeout bounds reading one file out of the node.
	readTimeout = 30 * time.Second
	// diagnoseTimeout bounds a timeout's diagnosis: it runs after the
	// caller's own deadline has passed, so it cannot share it.
	diagnoseTimeout = 15 * time.Second
)

// readNodeFile reads one file from a node container, running or stopped.
func (p *Provider) readNodeFile(ctx context.Context, name, file string) ([]byte, error) {
	data, err := p.readContainerFile(ctx, NodeName(name), file)
	if err != nil {
		return nil, fmt.Errorf("failed to read %s from the node: %w", file, err)
	}
	return data, nil
}

// readContainerFile reads one file from a container, running or stopped.
func (p *Provider) readContainerFile(ctx context.Context, id, file string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	rc, _, err := p.docker.CopyFromContainer(ctx, id, file)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	if _, err := tr.Next(); err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	return io.ReadAll(tr)
}

// readContainerFiles reads the named files (paths relative to dir) from a
// container, running or stopped, in one copy of dir.
func (p *Provider) readContainerFiles(ctx context.Context, id, dir string, names []string) (map[string][]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	rc, _, err := p.docker.CopyFromContainer(ctx, id, dir)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	files, err := untarFiles(rc, path.Base(dir), names)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", dir, err)
	}
	return files, nil
}

// untarFiles returns the named files of a tar of the directory base; each
// must be there.
func untarFiles(r io.Reader, base string, names []string) (map[string][]byte, error) {
	out := make(map[string][]byte, len(names))
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		rel, ok := strings.CutPrefix(h.Name, base+"/")
		if !ok || !slices.Contains(names, rel) {
			continue
		}
		if out[rel], err = io.ReadAll(tr); err != nil {
			return nil, err
		}
	}
	for _, n := range names {
		if _, ok := out[n]; !ok {
			return nil, fmt.Errorf("no %s", n)
		}
	}
	return out, nil
}

// nodeStatus reads the agent's status report, refusing one written before
// the container's last start (left from the previous boot).
func (p *Provider) nodeStatus(ctx context.Context, name string) (*node.AgentStatus, error) {
	c, err := p.docker.ContainerInspect(ctx, NodeName(name))
	if err != nil {
		return nil, err
	}
	data, err := p.readNodeFile(ctx, name, node.StatusFile)
	if err != nil {
		return nil, err
	}
	var s node.AgentStatus
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("failed to parse node status: %w", err)
	}
	if started, err := time.Parse(time.RFC3339Nano, c.State.StartedAt); err == nil && s.Updated.Before(started) {
		return nil, fmt.Errorf("node agent has not reported since the node started")
	}
	return &s, nil
}

// diagnose explains why a node is not ready: the agent's own error, the
// components that are down, and the end of their logs.
func (p *Provider) diagnose(ctx context.Context, name string) string {
	ctx, cancel := context.WithTimeout(ctx, diagnoseTimeout)
	defer cancel()
	s, err := p.nodeStatus(ctx, name)
	if err != nil {
		return "\n(no status from the node agent: " + err.Error() + ")"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nnode agent: %s", s.Phase)
	if s.Error != "" {
		fmt.Fprintf(&b, ": %s", s.Error)
		return b.String()
	}
	suspects := []string{}
	for _, c := range s.Components {
		if !c.Running || c.Restarts > 0 {
			suspects = append(suspects, c.Name)
		}
	}
	if len(suspects) == 0 {
		suspects = []string{"kubelet"}
	}
	for _, c := range suspects {
		log, _ := p.readNodeFile(ctx, name, path.Join(node.LogDir, c+".log"))
		fmt.Fprintf(&b, "\n--- last lines of %s/%s.log ---\n%s", node.LogDir, c, textutil.Tail(string(log), 15))
	}
	return b.String()
}

// adminFiles reads the CA and admin credentials from the node.
func (p *Provider) adminFiles(ctx context.Context, name string) (pki.Files, error) {
	// One copy of the directory, not one per file: Docker 20.10 re-executes
	// dockerd for each (about 50 ms of CPU here).
	names := []string{"ca.crt", "admin.crt", "admin.key"}
	read, err := p.readContainerFiles(ctx, NodeName(name), path.Join(node.StateDir, "pki"), names)
	if err != nil {
		return nil, fmt.Errorf("failed to read the admin credentials from the node: %w", err)
	}
	files := pki.Files{}
	for _, n := range names {
		files["pki/"+n] = read[n]
	}
	return files, nil
}
