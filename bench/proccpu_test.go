package main

import (
	"math"
	"testing"
)

func TestParseProcStats(t *testing.T) {
	stats := "1 (skiff-node) S 0 1 1 0 -1 4194560 100 0 0 0 10 5 0 0 20 0 9 0 1 0 0\n" +
		"42 (weird) name)) S 1 42 42 0 -1 0 0 0 0 0 200 100 7 3 20 0 1 0 5 0 0\n" +
		"garbage\n" +
		"43 (short) S 1\n"
	pt := parseProcStats(stats)
	if len(pt) != 2 {
		t.Fatalf("parsed %d processes, want 2: %v", len(pt), pt)
	}
	if p := pt[1]; p.comm != "skiff-node" || p.ticks != 15 {
		t.Errorf("pid 1: %+v, want skiff-node with 15 ticks", p)
	}
	if p := pt[42]; p.comm != "weird) name)" || p.ticks != 310 {
		t.Errorf("pid 42: %+v, want 'weird) name)' with 310 ticks", p)
	}
}

func TestCPUByName(t *testing.T) {
	before := procTimes{1: {"etcd", 100}, 2: {"kubelet", 50}, 3: {"gone", 10}, 4: {"reused", 500}}
	after := procTimes{1: {"etcd", 160}, 2: {"kubelet", 50}, 5: {"new", 30}, 6: {"etcd", 0}, 4: {"other", 20}}
	got := cpuByName(before, after, 60)
	want := map[string]float64{"etcd": 1, "new": 0.5, "other": 20.0 / 60}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if math.Abs(got[k]-v) > 1e-9 {
			t.Errorf("%s: %.4f%%, want %.4f%%", k, got[k], v)
		}
	}
}

func TestCPUSeconds(t *testing.T) {
	got := cpuSeconds(procTimes{1: {"etcd", 150}, 2: {"containerd-shim", 20}, 3: {"containerd-shim", 30}})
	if len(got) != 2 || math.Abs(got["etcd"]-1.5) > 1e-9 || math.Abs(got["containerd-shim"]-0.5) > 1e-9 {
		t.Errorf("got %v, want etcd 1.5 s and containerd-shim 0.5 s", got)
	}
}
