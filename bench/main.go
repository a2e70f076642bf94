// Command bench measures what skiff's users feel and where its seconds and
// MiB go: time to a working app (create, the test app Running, its Service
// name answering), create's CPU, the metrics API, the first create from a
// new node image, the floor no launcher on these parts can beat, stop,
// start, delete, the idle node's CPU and memory, and what the addons with
// CRDs or in the agent cost of both. It prints a table and writes the
// figures as JSON (keys in report.go) and as the README's markdown table.
// Run it with `make bench`.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/docker/docker/client"

	"github.com/skiff-k8s/skiff/e2e/testapp"
	"github.com/skiff-k8s/skiff/images"
	"github.com/skiff-k8s/skiff/internal/cli"
	"github.com/skiff-k8s/skiff/internal/engine"
	"github.com/skiff-k8s/skiff/provision"
)

type options struct {
	rounds     int
	out, md    string
	skiff      string
	idle       time.Duration
	kubeconfig string
	kubernetes string
}

func main() {
	var o options
	flag.IntVar(&o.rounds, "rounds", 3, "rounds of create/idle/stop/start/delete/floor")
	flag.StringVar(&o.out, "out", "bench/out/latest.json", "JSON output file")
	flag.StringVar(&o.md, "md", "bench/out/latest.md", "markdown output file (the README's table)")
	flag.StringVar(&o.skiff, "skiff", "bin/skiff", "skiff binary whose node image to measure")
	flag.DurationVar(&o.idle, "idle", 60*time.Second, "idle window after create over which idle CPU is measured, and at whose end memory is")
	flag.StringVar(&o.kubernetes, "kubernetes-version", "", "Kubernetes release whose node image to measure (default: the newest)")
	flag.Parse()
	o.kubeconfig = filepath.Join(os.TempDir(), "skiff-bench-kubeconfig")
	// A round is about 2 minutes plus the idle window, as is each addon's
	// cost (addonCosts); the first create and the test app's build come
	// once.
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(o.rounds+1+len(costlyAddons))*(10*time.Minute+o.idle))
	defer cancel()
	if err := bench(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "ERROR:", err)
		os.Exit(1)
	}
}

func bench(ctx context.Context, o options) error {
	docker, err := engine.Connect(ctx)
	if err != nil {
		return err
	}
	defer docker.Close()
	m, err := images.Resolved(o.kubernetes)
	if err != nil {
		return err
	}
	nodeImage, err := images.NodeImage(m, o.skiff)
	if err != nil {
		return err
	}
	insp, err := docker.ImageInspect(ctx, nodeImage)
	if err != nil {
		return fmt.Errorf("node image %s missing: run `make image` (or bin/skiff image build --kubernetes-version %s): %w", nodeImage, m.Kubernetes.Default, err)
	}
	work, err := os.MkdirTemp("", "skiff-bench-")
	if err != nil {
		return fmt.Errorf("work directory: %w", err)
	}
	defer os.RemoveAll(work)
	app, err := testapp.BuildImage(ctx, work, appRef, "")
	if err != nil {
		return fmt.Errorf("test app: %w", err)
	}
	e := &benchEnv{
		p:          provision.NewProvider(docker, cli.NewSteps(os.Stderr), nil),
		image:      nodeImage,
		pause:      m.Pause.Image,
		app:        app,
		kubeconfig: o.kubeconfig,
		idle:       o.idle,
	}
	res := newResults()
	privileged, err := firstCreate(ctx, e, m, o.skiff, work, res)
	if err != nil {
		return fmt.Errorf("first create: %w", err)
	}
	for i := range o.rounds {
		if err := round(ctx, e, fmt.Sprintf("bench-%d", i), res); err != nil {
			return fmt.Errorf("round %d: %w", i, err)
		}
	}
	if err := addonCosts(ctx, e, res); err != nil {
		return fmt.Errorf("addon costs: %w", err)
	}
	mach := machine(ctx, docker)
	mach.Privileged = privileged
	rep := &report{
		Date:     time.Now(),
		Commit:   commit(ctx),
		Machine:  mach,
		Image:    nodeImage,
		Rounds:   o.rounds,
		Idle:     o.idle,
		ImageMiB: float64(insp.Size) / (1 << 20),
		Results:  res,
	}
	fmt.Print(rep.text())
	data, err := json.MarshalIndent(rep.json(), "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	for path, content := range map[string][]byte{o.out: append(data, '\n'), o.md: []byte(rep.markdown())} {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		if err := os.WriteFile(path, content, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		fmt.Printf("wrote %s\n", path)
	}
	return nil
}

// round is create and what users feel (userRound), then stop, start, a
// snapshot and a clone of it (snapshotRound), delete and the floor. A
// failed round deletes its cluster.
func round(ctx context.Context, e *benchEnv, name string, r *results) (err error) {
	if err := deleteCluster(ctx, e, name); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = deleteCluster(ctx, e, name)
		}
	}()
	if err := userRound(ctx, e, name, r); err != nil {
		return err
	}
	t := time.Now()
	if err := e.p.Stop(ctx, name); err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	r.add("stop_s", time.Since(t).Seconds())
	t = time.Now()
	if err := e.p.Start(ctx, name, e.kubeconfig, 5*time.Minute); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	r.add("start_s", time.Since(t).Seconds())
	if err := startBreakdown(ctx, e.p, name, r); err != nil {
		return fmt.Errorf("start breakdown: %w", err)
	}
	if err := snapshotRound(ctx, e, name, r); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	t = time.Now()
	if _, err := e.p.Delete(ctx, name, e.kubeconfig); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	r.add("delete_s", time.Since(t).Seconds())
	fl, err := measureFloor(ctx, e.p.Docker(), e.image)
	if err != nil {
		return fmt.Errorf("floor: %w", err)
	}
	for k, v := range fl {
		r.add(k, v)
	}
	r.add("create_over_floor", r.last("create_s")/r.last("floor_s"))
	r.add("time_to_k8s_over_floor", r.last("time_to_k8s_s")/r.last("floor_s"))
	return nil
}

// machine describes the engine's host. Privileged is filled in from create.
func machine(ctx context.Context, docker client.APIClient) machineInfo {
	host, _ := os.Hostname()
	m := machineInfo{Host: host, CPUs: runtime.NumCPU()}
	if info, err := docker.Info(ctx); err == nil {
		m.Docker, m.Cgroup, m.Kernel, m.OS = info.ServerVersion, info.CgroupVersion, info.KernelVersion, info.OperatingSystem
		m.MemoryGiB = (info.MemTotal + 1<<29) >> 30
		if info.NCPU > 0 {
			m.CPUs = info.NCPU // the engine's (Docker Desktop: its VM's)
		}
	}
	return m
}

// commit is the checkout's short commit, "-dirty" if it has changes.
func commit(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	head, err := exec.CommandContext(ctx, "git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	c := strings.TrimSpace(string(head))
	if st, err := exec.CommandContext(ctx, "git", "status", "--porcelain").Output(); err != nil || len(st) > 0 {
		c += "-dirty"
	}
	return c
}
