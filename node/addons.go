package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/skiff-k8s/skiff/addons"
	"github.com/skiff-k8s/skiff/internal/waitfor"
)

const (
	// AddonsDir holds each enabled addon's rendered manifests as applied.
	AddonsDir = StateDir + "/addons"
	// clusterDomain is the kubelet's clusterDomain (kubeletConfiguration).
	clusterDomain = "cluster.local"

	applyTimeout  = 2 * time.Minute
	applyInterval = 500 * time.Millisecond
	// applyAttempt bounds one kubectl run, so a hung API call is retried
	// within applyTimeout instead of eating it.
	applyAttempt = 30 * time.Second
)

// enabledAddons returns the addons to apply: the defaults unless the
// configuration lists some (an empty list means none).
func enabledAddons(c *Config) []string {
	if c.Addons == nil {
		return addons.Names()
	}
	return c.Addons
}

// applyAddons renders every enabled addon with this cluster's values on
// every boot. One whose manifest changed since it was last applied in full
// (a new skiff version, a clone's new ports) is applied again with
// server-side apply; an unchanged one only gets back the objects that were
// deleted. Re-applying unchanged addons in full cost the restarting API
// server seconds of CPU while every pod started again.
func (a *Agent) applyAddons(ctx context.Context) error {
	names := enabledAddons(a.cfg)
	if len(names) == 0 {
		return nil
	}
	v, err := addonValues(a.cfg)
	if err != nil {
		return err
	}
	if len(v.Upstream) == 0 {
		log.Printf("addons: no upstream DNS servers in /etc/resolv.conf: names outside %s will fail", clusterDomain)
	} else {
		log.Printf("addons: DNS forwards to %s", strings.Join(v.Upstream, " "))
	}
	ap, err := newApplier(kubeconfig("admin"))
	if err != nil {
		return err
	}
	ap.seeded = seededSums(a.seeded, names)
	// Concurrently: no addon's objects need another's to exist, and one
	// that waits (a CRD not yet Established) holds up no other.
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		if addons.InAgent(name) {
			continue // no manifest: the agent runs it (agentAddon)
		}
		// A node configuration from an older skiff may lack what a newer
		// addon needs: boot without that addon rather than fail.
		if err := addons.Requires(name, v); err != nil {
			log.Printf("addons: skipping %s: %v", name, err)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			restored, err := applyAddon(ctx, ap, name, v, true)
			took := time.Since(start).Round(time.Millisecond)
			switch {
			case err != nil:
				errs[i] = err
			case restored < 0:
				log.Printf("addon %s applied in %s", name, took)
			default:
				log.Printf("addon %s unchanged: %d missing objects re-created in %s", name, restored, took)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// addonValues are the node's addon values, with the same upstream DNS
// servers pods resolve with when their dnsPolicy is Default.
func addonValues(c *Config) (addons.Values, error) {
	resolv, _ := os.ReadFile("/etc/resolv.conf")
	return AddonValues(c, upstreamNameservers(string(resolv)))
}

// runFunc runs a command to completion and returns its combined output.
// The agent passes its reaper's (as PID 1 it owns every wait); a one-off
// `skiff-node addon` command, not PID 1, runs commands directly.
type runFunc func(ctx context.Context, cmd *exec.Cmd) ([]byte, error)

func runDirect(ctx context.Context, cmd *exec.Cmd) ([]byte, error) {
	c := exec.CommandContext(ctx, cmd.Path, cmd.Args[1:]...)
	return c.CombinedOutput()
}

// applyAddon renders one addon, keeps the rendered file (for disable and
// `skiff export logs`) and applies it. With reuse set and the manifest the
// one last applied in full, it only re-creates missing objects and returns
// how many; otherwise it applies everything and returns -1.
func applyAddon(ctx context.Context, ap *applier, name string, v addons.Values, reuse bool) (int, error) {
	data, err := addonManifest(AddonFilesDir, name, v)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, applyTimeout)
	defer cancel()
	sum := sha256.Sum256(data)
	marker := appliedMarker(name)
	if last, err := os.ReadFile(marker); reuse && err == nil && string(last) == hex.EncodeToString(sum[:]) {
		n, err := ap.restore(ctx, data)
		if err != nil {
			return 0, fmt.Errorf("failed to restore addon %s: %w", name, err)
		}
		return n, nil
	}
	if err := os.MkdirAll(AddonsDir, 0o755); err != nil {
		return 0, fmt.Errorf("failed to create %s: %w", AddonsDir, err)
	}
	if err := removeMarker(name); err != nil {
		return 0, err
	}
	file := filepath.Join(AddonsDir, name+".yaml")
	// 0600: a rendered manifest may hold a Secret (an older skiff's MetalLB
	// webhook key did).
	if err := writeFileAtomic(file, data, 0o600); err != nil {
		return 0, fmt.Errorf("failed to write addon %s: %w", name, err)
	}
	if err := ap.apply(ctx, data); err != nil {
		return 0, fmt.Errorf("failed to apply addon %s: %w", name, err)
	}
	return -1, writeFileAtomic(marker, []byte(hex.EncodeToString(sum[:])), 0o600)
}

// appliedMarker holds the sha256 of the manifest an addon was last applied
// from in full. It lives on the volume beside etcd, so a snapshot carries
// both; it is removed before each full apply and on disable.
func appliedMarker(name string) string { return filepath.Join(AddonsDir, "."+name+".applied") }

func removeMarker(name string) error {
	if err := os.Remove(appliedMarker(name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("failed to reset addon %s: %w", name, err)
	}
	return nil
}

// addonManifest is the named addon's rendered manifests followed by its
// upstream files under dir/<name>, if any. Last, so that disabling (kubectl
// delete -f, in file order) removes the addon's objects before the CRDs they
// need; apply retries objects whose kind is not established yet.
func addonManifest(dir, name string, v addons.Values) ([]byte, error) {
	rendered, err := addons.Render(name, v)
	if err != nil {
		return nil, err
	}
	files, err := filepath.Glob(filepath.Join(dir, name, "*.yaml"))
	if err != nil {
		return nil, fmt.Errorf("failed to list addon %s's upstream files: %w", name, err)
	}
	out := bytes.NewBuffer(rendered)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("failed to read addon %s's upstream file: %w", name, err)
		}
		out.WriteString("\n---\n")
		out.Write(data)
	}
	return out.Bytes(), nil
}

// kubectl runs kubectl as the cluster admin, retrying while the API server
// refuses (it may, briefly, right after it first reports ready, e.g. before
// RBAC bootstrap or the aggregator has settled).
func kubectl(ctx context.Context, run runFunc, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, applyTimeout)
	defer cancel()
	attempt := 0
	err := waitfor.Poll(ctx, applyInterval, func(ctx context.Context) (bool, string, error) {
		attempt++
		actx, acancel := context.WithTimeout(ctx, applyAttempt)
		defer acancel()
		out, err := run(actx, exec.Command("/usr/local/bin/kubectl", append([]string{"--kubeconfig", kubeconfig("admin")}, args...)...))
		if err != nil {
			return false, fmt.Sprintf("kubectl %s (attempt %d): %v: %s", strings.Join(args, " "), attempt, err, bytes.TrimSpace(out)), nil
		}
		return true, "", nil
	})
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("gave up after %s: %w", applyTimeout, err)
	}
	return err
}

// writeFileAtomic replaces path with data, mode perm, through a new
// temporary file: its mode is set before the data is written, whatever an
// older file (or a leftover temporary) had.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("failed to create a temporary file for %s: %w", path, err)
	}
	tmp := f.Name()
	err = f.Chmod(perm)
	if err == nil {
		_, err = f.Write(data)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("failed to write %s: %w", path, err)
	}
	return nil
}
