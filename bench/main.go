// Command bench measures where skiff's seconds and MiB go: create (and each
// of its steps), the floor no launcher on these parts can beat, delete, stop,
// start, idle memory, image size and the first pod. It prints a table and
// writes the same figures as JSON. Run it with `make bench`.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/skiff-k8s/skiff/images"
	"github.com/skiff-k8s/skiff/internal/cli"
	"github.com/skiff-k8s/skiff/internal/engine"
	"github.com/skiff-k8s/skiff/provision"
)

func main() {
	rounds := flag.Int("rounds", 3, "rounds of create/stop/start/delete")
	out := flag.String("out", "bench/out/latest.json", "JSON output file")
	skiff := flag.String("skiff", "bin/skiff", "skiff binary whose node image to measure")
	idle := flag.Duration("idle", 60*time.Second, "time after create at which idle memory is measured")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(*rounds)*10*time.Minute)
	defer cancel()
	if err := bench(ctx, *rounds, *out, *skiff, *idle); err != nil {
		fmt.Fprintln(os.Stderr, "ERROR:", err)
		os.Exit(1)
	}
}

// series collects one metric over rounds.
type series []float64

func (s series) summary() map[string]float64 {
	if len(s) == 0 {
		return nil
	}
	v := append(series{}, s...)
	sort.Float64s(v)
	return map[string]float64{"min": v[0], "median": v[len(v)/2], "max": v[len(v)-1]}
}

func bench(ctx context.Context, rounds int, out, skiff string, idle time.Duration) error {
	docker, err := engine.Connect(ctx)
	if err != nil {
		return err
	}
	defer docker.Close()
	m, err := images.Resolved("")
	if err != nil {
		return err
	}
	image, err := images.NodeImage(m, skiff)
	if err != nil {
		return err
	}
	insp, err := docker.ImageInspect(ctx, image)
	if err != nil {
		return fmt.Errorf("node image %s missing: run `make image`: %w", image, err)
	}
	p := provision.NewProvider(docker, cli.NewStatus(os.Stderr), nil)
	metrics := map[string]series{}
	add := func(k string, v float64) { metrics[k] = append(metrics[k], v) }
	var memory *memoryReport
	for i := 0; i < rounds; i++ {
		name := fmt.Sprintf("bench-%d", i)
		_, _ = p.Delete(ctx, name, kubeconfigPath())
		r, err := createRound(ctx, p, image, name)
		if err != nil {
			return fmt.Errorf("round %d: %w", i, err)
		}
		for k, v := range r {
			add(k, v)
		}
		if i == 0 {
			if memory, err = measureMemory(ctx, p, name, idle); err != nil {
				return err
			}
		}
		t := time.Now()
		if err := p.Stop(ctx, name); err != nil {
			return err
		}
		add("stop_s", time.Since(t).Seconds())
		t = time.Now()
		if err := p.Start(ctx, name, kubeconfigPath(), 5*time.Minute); err != nil {
			return err
		}
		add("start_s", time.Since(t).Seconds())
		t = time.Now()
		if _, err := p.Delete(ctx, name, kubeconfigPath()); err != nil {
			return err
		}
		add("delete_s", time.Since(t).Seconds())
		fl, err := measureFloor(ctx, docker, image)
		if err != nil {
			return fmt.Errorf("floor: %w", err)
		}
		for k, v := range fl {
			add(k, v)
		}
		add("create_over_floor", metrics["create_s"][i]/metrics["floor_s"][i])
	}
	report := map[string]any{
		"machine":   machine(ctx, docker),
		"image":     image,
		"rounds":    rounds,
		"image_mib": float64(insp.Size) / (1 << 20),
		"idle_mib":  memory,
	}
	keys := make([]string, 0, len(metrics))
	for k := range metrics {
		keys = append(keys, k)
		report[k] = metrics[k].summary()
	}
	sort.Strings(keys)
	fmt.Printf("\n%-44s %8s %8s %8s\n", "metric", "min", "median", "max")
	for _, k := range keys {
		s := metrics[k].summary()
		fmt.Printf("%-44s %8.2f %8.2f %8.2f\n", k, s["min"], s["median"], s["max"])
	}
	fmt.Printf("%-44s %8.0f\n", "image_mib", report["image_mib"])
	if memory != nil {
		fmt.Printf("%-44s %8.0f\n", "idle_mib (node working set)", memory.WorkingSet)
		for _, c := range slices.Sorted(maps.Keys(memory.RSS)) {
			fmt.Printf("  %-42s %8.0f\n", "rss_mib "+c, memory.RSS[c])
		}
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	data, _ := json.MarshalIndent(report, "", "  ")
	fmt.Printf("\nwrote %s\n", out)
	return os.WriteFile(out, data, 0o644)
}

func kubeconfigPath() string {
	return filepath.Join(os.TempDir(), "skiff-bench-kubeconfig")
}
