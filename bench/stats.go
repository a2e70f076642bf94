// CPU and memory figures: the CLI's own CPU time, the node container's
// from Docker's stats, and a window of idle measured on both.

package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/docker/docker/client"

	"github.com/skiff-k8s/skiff/internal/engine"
	"github.com/skiff-k8s/skiff/provision"
)

// processCPU is the user and system CPU time of this process and its
// waited-for children: the CLI's share of create, which the bench runs
// in-process.
func processCPU() (time.Duration, error) {
	var total time.Duration
	for _, who := range []int{syscall.RUSAGE_SELF, syscall.RUSAGE_CHILDREN} {
		var ru syscall.Rusage
		if err := syscall.Getrusage(who, &ru); err != nil {
			return 0, fmt.Errorf("getrusage: %w", err)
		}
		total += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return total, nil
}

// engineCPU is the CPU time of a dockerd running on this host, its own
// plus its waited-for children's (the re-executions in which Docker 20.10
// serves a copy out of a container); ok is false without a local dockerd.
func engineCPU() (cpu time.Duration, ok bool) {
	paths, _ := filepath.Glob("/proc/[0-9]*/comm")
	for _, p := range paths {
		comm, err := os.ReadFile(p)
		if err != nil || strings.TrimSpace(string(comm)) != "dockerd" {
			continue
		}
		dir := filepath.Dir(p)
		pid, err := strconv.Atoi(filepath.Base(dir))
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join(dir, "stat"))
		if err != nil {
			continue
		}
		if pt, ok := parseProcStats(string(stat))[pid]; ok {
			return time.Duration(pt.ticks) * time.Second / clockTicks, true
		}
	}
	return 0, false
}

// sample is one reading of the node container's cgroup.
type sample struct {
	read       time.Time
	cpu        time.Duration // total CPU time since the container started
	workingSet float64       // MiB
}

// nodeStats reads the node container's CPU and memory through Docker's
// stats API: it reads cgroup v1 (cpuacct.usage) and v2 (cpu.stat) alike,
// both count the pods in the node's cgroup, and it works where the host's
// cgroups are out of reach (Docker Desktop's VM).
func nodeStats(ctx context.Context, docker client.APIClient, id string) (sample, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	stats, err := docker.ContainerStatsOneShot(ctx, id)
	if err != nil {
		return sample{}, fmt.Errorf("stats of %s: %w", id, err)
	}
	defer stats.Body.Close()
	s, err := parseStats(stats.Body)
	if err != nil {
		return sample{}, fmt.Errorf("stats of %s: %w", id, err)
	}
	return s, nil
}

// parseStats decodes a Docker stats response. The working set is usage
// minus inactive file cache, as the kubelet and `docker stats` count it:
// total_inactive_file on cgroup v1, inactive_file on v2.
func parseStats(r io.Reader) (sample, error) {
	var s struct {
		Read     time.Time `json:"read"`
		CPUStats struct {
			CPUUsage struct {
				TotalUsage uint64 `json:"total_usage"` // ns
			} `json:"cpu_usage"`
		} `json:"cpu_stats"`
		MemoryStats struct {
			Usage uint64            `json:"usage"`
			Stats map[string]uint64 `json:"stats"`
		} `json:"memory_stats"`
	}
	if err := json.NewDecoder(r).Decode(&s); err != nil {
		return sample{}, err
	}
	if s.Read.IsZero() || s.CPUStats.CPUUsage.TotalUsage == 0 {
		return sample{}, errors.New("no CPU figures: is the container running?")
	}
	inactive, ok := s.MemoryStats.Stats["total_inactive_file"]
	if !ok {
		inactive = s.MemoryStats.Stats["inactive_file"]
	}
	ws := s.MemoryStats.Usage - min(inactive, s.MemoryStats.Usage)
	return sample{read: s.Read, cpu: time.Duration(s.CPUStats.CPUUsage.TotalUsage), workingSet: float64(ws) / (1 << 20)}, nil
}

// measureIdle leaves the cluster (with the test app and the pause pod
// running) alone for the idle window, then records the node container's
// CPU over it as % of one core (and each process name's share, in the
// breakdown), its working set and each component's RSS.
func measureIdle(ctx context.Context, e *benchEnv, name string, r *results) error {
	docker, node := e.p.Docker(), provision.NodeName(name)
	before, err := nodeStats(ctx, docker, node)
	if err != nil {
		return err
	}
	procsBefore, err := readProcTimes(ctx, docker, node)
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(e.idle):
	}
	after, err := nodeStats(ctx, docker, node)
	if err != nil {
		return err
	}
	procsAfter, err := readProcTimes(ctx, docker, node)
	if err != nil {
		return err
	}
	r.add("idle_cpu_pct", cpuPercent(before, after))
	for comm, pct := range cpuByName(procsBefore, procsAfter, after.read.Sub(before.read).Seconds()) {
		// Below 0.1 % of a core is noise in a table.
		if pct >= 0.1 {
			r.addBreakdown("idle cpu %: "+comm, pct)
		}
	}
	r.idleMiB = append(r.idleMiB, after.workingSet)
	st, err := e.p.Status(ctx, name)
	if err != nil {
		return fmt.Errorf("status of %s: %w", name, err)
	}
	for _, c := range st.Components {
		// A component not running has no share (status is written every 2 s).
		if !c.Running || c.PID <= 0 {
			continue
		}
		out, err := engine.Output(ctx, docker, node, "grep", "VmRSS", "/proc/"+strconv.Itoa(c.PID)+"/status")
		kb, perr := parseVmRSS(string(out))
		if err = cmp.Or(err, perr); err != nil {
			// It restarted since the status was written: one share missing
			// is no reason to lose the run.
			fmt.Fprintf(os.Stderr, "warning: no RSS for %s: %v\n", c.Name, err)
			continue
		}
		r.rss[c.Name] = append(r.rss[c.Name], kb/1024)
	}
	return nil
}

// cpuPercent is the CPU used between two samples as % of one core.
func cpuPercent(before, after sample) float64 {
	wall := after.read.Sub(before.read)
	if wall <= 0 {
		return 0
	}
	return 100 * float64(after.cpu-before.cpu) / float64(wall)
}

// parseVmRSS reads the kB of a "VmRSS:  1234 kB" line.
func parseVmRSS(line string) (float64, error) {
	f := strings.Fields(line)
	if len(f) < 2 || f[0] != "VmRSS:" {
		return 0, fmt.Errorf("unexpected %q", strings.TrimSpace(line))
	}
	return strconv.ParseFloat(f[1], 64)
}
