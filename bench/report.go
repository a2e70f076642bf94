package main

// The JSON report (bench/out/latest.json). Its keys are stable so runs on
// different commits can be compared; a new figure adds a key, none is
// renamed. Every figure is a summary {"min", "median", "max"} over the
// rounds (first_create_s has one sample per run, so all three are equal).
//
//	date                    RFC 3339 time the run finished
//	commit                  `git rev-parse --short HEAD`, "-dirty" if the tree has changes
//	machine                 host, cpus, memory_gib, os, kernel, docker, cgroup, privileged
//	image                   the node image measured
//	rounds                  rounds run
//	idle_s                  the idle window of idle_cpu_pct and idle_mib, in seconds
//	time_to_k8s_s           time_to_k8s_create_s + time_to_k8s_app_s + time_to_k8s_dns_s
//	time_to_k8s_create_s    the create command (the same figure as create_s)
//	time_to_k8s_app_s       test app archive loaded, Deployment and Service applied, pod Running
//	time_to_k8s_dns_s       app Running → its Service name answers HTTP from the app's pod
//	time_to_k8s_over_floor  time_to_k8s_s ÷ floor_s of the same round
//	create_s                the create command
//	floor_s                 container + etcd + kube-apiserver from the node image to /readyz
//	create_over_floor       create_s ÷ floor_s of the same round
//	container_start_s       a trivial command in the node image, start to exit
//	create_cpu_s            CPU seconds of the node container plus the CLI during create
//	metrics_ready_s         create's start → the metrics API lists pods (`kubectl top pods -A`)
//	first_create_s          create from a node image built just before it
//	first_pod_s             a pause Deployment created → its pod Running, after the app
//	idle_cpu_pct            node container CPU over the idle window, % of one core
//	stop_s, start_s, delete_s
//	snapshot_save_s         after start, the app plus a PVC holding 100 MiB: `snapshot save` of the running cluster
//	clone_s                 create --from that snapshot → the test app answers through its Service in the clone
//	image_mib               node image size, uncompressed (a number, not a summary)
//	idle_mib                node container working set at the end of the idle window
//	idle_rss_mib            {component: summary}: each node component's RSS then
//	breakdown               {"create step: NAME" (seconds the step took),
//	                         "node ready: COMPONENT", "node Ready (condition)",
//	                         "addon ready: NAMESPACE/OWNER" (seconds from the node's start to
//	                         its pod's Ready; before 2026-12-07 evening, to its Deployment's
//	                         Available, which CoreDNS and Traefik reach with no pod ready),
//	                         "start: node ready: COMPONENT", "start: pod ready: NAMESPACE/OWNER"
//	                         (the same for start_s's start, from the node's restart),
//	                         "first create: agent layer build" (seconds),
//	                         "create: engine cpu s" (a local dockerd's CPU, its
//	                         children's included, during create: not in create_cpu_s),
//	                         "create cpu s: PROCESS", "start cpu s: PROCESS" (CPU seconds
//	                         by process name from the node's start to the end of create
//	                         or start, of the processes alive then; 0.1 and above),
//	                         "snapshot: cluster paused" (seconds),
//	                         "idle cpu %: PROCESS" (% of one core over the idle window,
//	                         by process name, pods' processes included; 0.1 and above),
//	                         "without ADDON: create s", "... idle cpu %", "... idle MiB"
//	                         (one cluster with every other default addon: addonCosts)}

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// metric is a headline figure: its JSON key, what it measures (printed
// beside it) and whether it is measured once per run rather than per round.
type metric struct {
	key, label string
	once       bool
}

// headline lists the figures in the order the tables print them.
func headline(idle time.Duration) []metric {
	return []metric{
		{key: "time_to_k8s_s", label: "create + test app Running + its Service name answering from a pod"},
		{key: "time_to_k8s_create_s", label: "the create command, the same figure as create_s"},
		{key: "time_to_k8s_app_s", label: "test app loaded, Deployment + Service applied → pod Running"},
		{key: "time_to_k8s_dns_s", label: "app Running → `hello get http://bench-app/` answers from its pod"},
		{key: "time_to_k8s_over_floor", label: "time_to_k8s_s ÷ floor_s"},
		{key: "create_s", label: "create → what create waits for"},
		{key: "floor_s", label: "container + etcd + kube-apiserver from the same binaries to /readyz"},
		{key: "create_over_floor", label: "create_s ÷ floor_s"},
		{key: "container_start_s", label: "a trivial command in the node image"},
		{key: "create_cpu_s", label: "CPU time of the node container + the CLI during create"},
		{key: "metrics_ready_s", label: "create's start → `kubectl top pods -A` has data"},
		{key: "first_create_s", label: "the first create from a just-built node image", once: true},
		{key: "first_pod_s", label: "new pause Deployment → pod Running"},
		{key: "idle_cpu_pct", label: fmt.Sprintf("node container CPU over %s idle, %% of one core", idleText(idle))},
		{key: "delete_s"},
		{key: "stop_s"},
		{key: "start_s", label: "start after stop → what start waits for"},
		{key: "snapshot_save_s", label: "snapshot of the running cluster, app + 100 MiB PVC"},
		{key: "clone_s", label: "create --from the snapshot → its app answering through its Service"},
	}
}

func idleText(d time.Duration) string { return fmt.Sprintf("%g s", d.Seconds()) }

// summary is a figure over the rounds.
type summary struct {
	Min    float64 `json:"min"`
	Median float64 `json:"median"`
	Max    float64 `json:"max"`
}

// summarize returns the min, median (the mean of the middle two for an
// even count) and max of s, which must not be empty.
func summarize(s []float64) summary {
	v := slices.Sorted(slices.Values(s))
	n := len(v)
	med := v[n/2]
	if n%2 == 0 {
		med = (v[n/2-1] + v[n/2]) / 2
	}
	return summary{Min: v[0], Median: med, Max: v[n-1]}
}

// results collects every round's samples.
type results struct {
	figures   map[string][]float64
	breakdown map[string][]float64
	rss       map[string][]float64 // component → idle RSS, MiB
	idleMiB   []float64
}

func newResults() *results {
	return &results{figures: map[string][]float64{}, breakdown: map[string][]float64{}, rss: map[string][]float64{}}
}

func (r *results) add(key string, v float64) { r.figures[key] = append(r.figures[key], v) }

// addBreakdown appends samples to a breakdown entry.
func (r *results) addBreakdown(key string, vs ...float64) {
	r.breakdown[key] = append(r.breakdown[key], vs...)
}

// last returns the latest sample of key (0 if none).
func (r *results) last(key string) float64 {
	s := r.figures[key]
	if len(s) == 0 {
		return 0
	}
	return s[len(s)-1]
}

// machineInfo is what the figures depend on besides the code.
type machineInfo struct {
	Host       string `json:"host"`
	CPUs       int    `json:"cpus"`
	MemoryGiB  int64  `json:"memory_gib"`
	OS         string `json:"os"`
	Kernel     string `json:"kernel"`
	Docker     string `json:"docker"`
	Cgroup     string `json:"cgroup"`
	Privileged bool   `json:"privileged"`
}

func (m machineInfo) String() string {
	priv := "`--privileged` refused (explicit capability set)"
	if m.Privileged {
		priv = "`--privileged`"
	}
	return fmt.Sprintf("%d cores, %d GiB, %s, kernel %s, Docker %s, cgroup v%s, %s",
		m.CPUs, m.MemoryGiB, cmp.Or(m.OS, "unknown OS"), m.Kernel, m.Docker, m.Cgroup, priv)
}

// report is one run's figures.
type report struct {
	Date     time.Time
	Commit   string
	Machine  machineInfo
	Image    string
	Rounds   int
	Idle     time.Duration
	ImageMiB float64
	Results  *results
}

// json returns the report in the shape documented at the top of this file.
func (r *report) json() map[string]any {
	out := map[string]any{
		"date":      r.Date.Format(time.RFC3339),
		"commit":    r.Commit,
		"machine":   r.Machine,
		"image":     r.Image,
		"rounds":    r.Rounds,
		"idle_s":    r.Idle.Seconds(),
		"image_mib": r.ImageMiB,
	}
	for k, s := range r.Results.figures {
		out[k] = summarize(s)
	}
	if len(r.Results.idleMiB) > 0 {
		out["idle_mib"] = summarize(r.Results.idleMiB)
	}
	out["idle_rss_mib"] = summaries(r.Results.rss)
	out["breakdown"] = summaries(r.Results.breakdown)
	return out
}

func summaries(m map[string][]float64) map[string]summary {
	out := map[string]summary{}
	for k, s := range m {
		out[k] = summarize(s)
	}
	return out
}

// row is one table line; empty cells stay empty.
type row struct {
	key, label, min, median, max string
}

// headlineRows are the figures, image size and idle memory, each idle
// component's RSS last, largest first. markdown rounds as the README does;
// otherwise two decimals.
func (r *report) headlineRows(markdown bool) []row {
	num := func(v float64) string { return fmt.Sprintf("%.2f", v) }
	if markdown {
		num = readmeNumber
	}
	mib := func(v float64) string { return fmt.Sprintf("%.0f", v) }
	var rows []row
	for _, m := range headline(r.Idle) {
		s, ok := r.Results.figures[m.key]
		if !ok {
			continue
		}
		sum := summarize(s)
		if m.once {
			rows = append(rows, row{key: m.key, label: m.label, min: num(sum.Median)})
			continue
		}
		rows = append(rows, row{m.key, m.label, num(sum.Min), num(sum.Median), num(sum.Max)})
	}
	rows = append(rows, row{key: "image_mib", label: "node image, uncompressed", min: mib(r.ImageMiB)})
	if len(r.Results.idleMiB) > 0 {
		s := summarize(r.Results.idleMiB)
		rows = append(rows, row{"idle_mib", fmt.Sprintf("node working set after %s idle", idleText(r.Idle)), mib(s.Min), mib(s.Median), mib(s.Max)})
	}
	rss := summaries(r.Results.rss)
	names := slices.SortedFunc(maps.Keys(rss), func(a, b string) int {
		return cmp.Or(cmp.Compare(rss[b].Median, rss[a].Median), cmp.Compare(a, b))
	})
	for _, c := range names {
		s := rss[c]
		rows = append(rows, row{"idle_rss_mib: " + c, c + " RSS", mib(s.Min), mib(s.Median), mib(s.Max)})
	}
	return rows
}

func (r *report) breakdownRows(markdown bool) []row {
	num := func(v float64) string { return fmt.Sprintf("%.2f", v) }
	if markdown {
		num = readmeNumber
	}
	var rows []row
	for _, k := range slices.Sorted(maps.Keys(r.Results.breakdown)) {
		s := summarize(r.Results.breakdown[k])
		rows = append(rows, row{key: k, min: num(s.Min), median: num(s.Median), max: num(s.Max)})
	}
	return rows
}

// readmeNumber rounds as the README's table does: two decimals under 1,
// one under 100, none above.
func readmeNumber(v float64) string {
	switch a := max(v, -v); {
	case a < 1:
		return fmt.Sprintf("%.2f", v)
	case a < 100:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.0f", v)
	}
}

// text is the table the bench prints.
func (r *report) text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n%s, commit %s, %d round(s)\n%s\n\n", r.Date.Format("2006-01-02 15:04 MST"), r.Commit, r.Rounds, r.Machine)
	// Each section's key column fits its longest key.
	section := func(rows []row) {
		width := len("metric")
		for _, w := range rows {
			width = max(width, len(w.key))
		}
		for _, w := range rows {
			l := fmt.Sprintf("%-*s %8s %8s %8s  %s", width, w.key, w.min, w.median, w.max, w.label)
			fmt.Fprintln(&b, strings.TrimRight(l, " "))
		}
	}
	section(append([]row{{key: "metric", min: "min", median: "median", max: "max"}}, r.headlineRows(false)...))
	fmt.Fprintln(&b, "\nbreakdown (create steps: seconds each; ready: seconds from the node's start; idle cpu: % of one core)")
	section(r.breakdownRows(false))
	return b.String()
}

// markdown is bench/out/latest.md: the README's Performance table with the
// date, machine and commit it was measured on.
func (r *report) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Measured %s at commit `%s` (%d round(s), node image `%s`): %s.\n\n",
		r.Date.Format("2006-01-02"), r.Commit, r.Rounds, r.Image, r.Machine)
	fmt.Fprintln(&b, "| metric | min | median | max |\n|---|---|---|---|")
	for _, w := range r.headlineRows(true) {
		name := "`" + w.key + "`"
		if strings.HasPrefix(w.key, "idle_rss_mib: ") {
			name = "↳ " + w.label
		} else if w.label != "" {
			name += " (" + w.label + ")"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", name, w.min, w.median, w.max)
	}
	fmt.Fprintln(&b, "\nBreakdown: create steps in seconds each; \"ready\" in seconds from the node's start; \"idle cpu\" in % of one core over the idle window; \"without ADDON\": one cluster with every other default addon (the addon's cost is the table's figure less this).")
	fmt.Fprintln(&b, "\n| step | min | median | max |\n|---|---|---|---|")
	for _, w := range r.breakdownRows(true) {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", w.key, w.min, w.median, w.max)
	}
	return b.String()
}
