package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/docker/docker/api/types/image"

	"github.com/skiff-k8s/skiff/images"
	"github.com/skiff-k8s/skiff/provision"
)

// agentBuildWait bounds `skiff image build` of the agent layer alone.
const agentBuildWait = 5 * time.Minute

// firstCreate times the first create from a node image built just before,
// which pays what later creates from the same image don't. A copy of skiff
// with bytes appended runs the same but hashes differently, so `COPY image
// build` puts a brand-new node image on the existing base in about a
// second. The cluster and that image are removed afterwards. It records
// first_create_s and the image build's seconds, and returns whether the
// node ran privileged.
func firstCreate(ctx context.Context, e *benchEnv, m *images.Manifest, skiff, work string, r *results) (bool, error) {
	docker := e.p.Docker()
	// Without the base, image build would spend half an hour compiling.
	if base := images.BaseImage(m); !exists(ctx, e, base) {
		return false, fmt.Errorf("base image %s missing: run `make image` (or bin/skiff image build --kubernetes-version %s)", base, m.Kubernetes.Default)
	}
	agent := filepath.Join(work, "skiff")
	if err := copyWithSuffix(skiff, agent, fmt.Sprintf("\nskiff bench %d\n", time.Now().UnixNano())); err != nil {
		return false, err
	}
	ref, err := images.NodeImage(m, agent)
	if err != nil {
		return false, err
	}
	bctx, cancel := context.WithTimeout(ctx, agentBuildWait)
	defer cancel()
	t := time.Now()
	out, err := exec.CommandContext(bctx, agent, "image", "build", "--kubernetes-version", m.Kubernetes.Default).CombinedOutput()
	r.addBreakdown("first create: agent layer build", time.Since(t).Seconds())
	if err != nil {
		return false, fmt.Errorf("%s image build: %w: %s", agent, err, strings.TrimSpace(string(out)))
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if _, err := docker.ImageRemove(rctx, ref, image.RemoveOptions{}); err != nil {
			fmt.Fprintf(os.Stderr, "warning: could not remove %s: %v\n", ref, err)
		}
	}()
	if !exists(ctx, e, ref) {
		return false, fmt.Errorf("%s image build did not make %s: %s", agent, ref, strings.TrimSpace(string(out)))
	}
	const name = "bench-first"
	start := time.Now()
	created, err := e.p.Create(ctx, &provision.Config{Name: name, Image: ref, KubeconfigPath: e.kubeconfig})
	seconds := time.Since(start).Seconds()
	if derr := deleteCluster(ctx, e, name); err == nil {
		err = derr
	}
	if err != nil {
		return false, fmt.Errorf("create from %s: %w", ref, err)
	}
	r.add("first_create_s", seconds)
	return created.Privileged, nil
}

func exists(ctx context.Context, e *benchEnv, ref string) bool {
	_, err := e.p.Docker().ImageInspect(ctx, ref)
	return err == nil
}

// copyWithSuffix copies the executable src to dst with suffix appended:
// an ELF file's loader ignores trailing bytes.
func copyWithSuffix(src, dst, suffix string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("copy skiff: %w", err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o755)
	if err != nil {
		return fmt.Errorf("copy skiff: %w", err)
	}
	_, err = io.Copy(out, in)
	if err == nil {
		_, err = io.WriteString(out, suffix)
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("copy skiff to %s: %w", dst, err)
	}
	return nil
}

// deleteCluster deletes name even when ctx is done (the bench's deadline
// passed or it failed), within a bound of its own.
func deleteCluster(ctx context.Context, e *benchEnv, name string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	if _, err := e.p.Delete(ctx, name, e.kubeconfig); err != nil {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	return nil
}
