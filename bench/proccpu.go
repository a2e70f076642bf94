package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/docker/docker/client"

	"github.com/skiff-k8s/skiff/internal/engine"
)

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times: 100 on every
// Linux architecture Docker runs on.
const clockTicks = 100

// procTimes maps each process in the node (pods' processes included: their
// PID namespaces nest in the node's) to its name and CPU ticks, its own
// plus its waited-for children's, so short-lived children such as
// kube-proxy's iptables runs count for their parent.
type procTimes map[int]procTime

type procTime struct {
	comm  string
	ticks int64
}

func readProcTimes(ctx context.Context, docker client.APIClient, node string) (procTimes, error) {
	// Processes may exit between the glob and the read: cat's errors for
	// them are expected, so its exit code is ignored.
	out, err := engine.Output(ctx, docker, node, "sh", "-c", "cat /proc/[0-9]*/stat 2>/dev/null; true")
	if err != nil {
		return nil, fmt.Errorf("read /proc in %s: %w", node, err)
	}
	return parseProcStats(string(out)), nil
}

// parseProcStats parses concatenated /proc/PID/stat lines, skipping any it
// cannot read. The name is between the first "(" and the last ")": it may
// hold spaces and parentheses itself.
func parseProcStats(s string) procTimes {
	pt := procTimes{}
	for _, line := range strings.Split(s, "\n") {
		open, end := strings.IndexByte(line, '('), strings.LastIndexByte(line, ')')
		if open < 1 || end < open {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(line[:open]))
		if err != nil {
			continue
		}
		// After the name: state ppid ... utime(14) stime(15) cutime(16)
		// cstime(17), counted from 1 for the pid; f[0] is field 3.
		f := strings.Fields(line[end+1:])
		if len(f) < 15 {
			continue
		}
		var ticks int64
		for _, i := range []int{11, 12, 13, 14} {
			v, err := strconv.ParseInt(f[i], 10, 64)
			if err != nil {
				ticks = -1
				break
			}
			ticks += v
		}
		if ticks >= 0 {
			pt[pid] = procTime{comm: line[open+1 : end], ticks: ticks}
		}
	}
	return pt
}

// cpuByName is the CPU each process name used between two readings, in %
// of one core over seconds: a process in both counts its difference, one
// that started between them all of its time.
func cpuByName(before, after procTimes, seconds float64) map[string]float64 {
	out := map[string]float64{}
	for pid, a := range after {
		d := a.ticks
		if b, ok := before[pid]; ok && b.comm == a.comm {
			d -= b.ticks
		}
		if d > 0 {
			out[a.comm] += 100 * float64(d) / clockTicks / seconds
		}
	}
	return out
}

// cpuSeconds sums each process name's CPU seconds.
func cpuSeconds(pt procTimes) map[string]float64 {
	out := map[string]float64{}
	for _, p := range pt {
		out[p.comm] += float64(p.ticks) / clockTicks
	}
	return out
}

// recordBootCPU records, under prefix, the CPU seconds each process name
// has used since the node container started, as far as the processes alive
// now tell (their waited-for children included): where a create's or a
// start's CPU went. Under 0.1 s is left out.
func recordBootCPU(ctx context.Context, docker client.APIClient, node, prefix string, r *results) error {
	pt, err := readProcTimes(ctx, docker, node)
	if err != nil {
		return err
	}
	for comm, s := range cpuSeconds(pt) {
		if s >= 0.1 {
			r.addBreakdown(prefix+comm, s)
		}
	}
	return nil
}
