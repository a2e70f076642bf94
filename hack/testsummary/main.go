// Command testsummary reads `go test -json` on stdin and prints go test's
// own -v output as it arrives, a line as each top-level test ends (with the
// counts so far), and at the end a table of every top-level test with its
// result and duration, the failed subtests, the last lines each failed test
// printed, and the counts: a log cut to its tail still says why. It exits 0
// unless it cannot read its input, so a pipeline under pipefail keeps go
// test's exit code. hack/test.sh pipes the e2e suite through it.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

func main() {
	if err := summarize(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "ERROR: testsummary: %v\n", err)
		os.Exit(1)
	}
}

// event is one line of `go test -json` (see `go doc test2json`).
type event struct {
	Time    time.Time
	Action  string
	Package string
	Test    string
	Elapsed float64
	Output  string
}

// result is a finished test or package.
type result struct {
	pkg, name, action string
	elapsed           time.Duration
}

// tally is what has been seen of the run so far.
type tally struct {
	w           io.Writer
	first, last time.Time
	running     map[string]bool // package + "\x00" + test
	order       []string        // running keys in start order
	tests       []result        // top-level tests, in finishing order
	failedOf    map[string][]result
	lines       map[string][]string // a running test's own output lines
	failures    []failure
	packages    []result
	counts      map[string]int
}

// failure is a failed test and the last lines it printed.
type failure struct {
	name  string
	lines []string
}

// failureLines is how many of a failed test's last lines the summary shows.
const failureLines = 15

// summarize copies go test's output from the events on r to w as they come,
// then writes the summary.
func summarize(r io.Reader, w io.Writer) error {
	t := &tally{w: w, running: map[string]bool{}, failedOf: map[string][]result{}, lines: map[string][]string{}, counts: map[string]int{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.Action == "" {
			// go vet or build errors that did not come as JSON.
			fmt.Fprintln(w, sc.Text())
			continue
		}
		t.add(e)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("failed to read go test's output: %w", err)
	}
	t.report()
	return nil
}

// add prints an event's output and records a test's start or end.
func (t *tally) add(e event) {
	if t.first.IsZero() {
		t.first = e.Time
	}
	t.last = e.Time
	key := e.Package + "\x00" + e.Test
	switch e.Action {
	case "output", "build-output":
		fmt.Fprint(t.w, e.Output)
		if e.Test != "" && !framing(e.Output) {
			t.lines[key] = append(t.lines[key], strings.TrimRight(e.Output, "\n"))
		}
	case "run":
		if !t.running[key] {
			t.order = append(t.order, key)
		}
		t.running[key] = true
	case "pass", "fail", "skip":
		delete(t.running, key)
		if l := t.lines[key]; e.Action == "fail" && len(l) > 0 {
			t.failures = append(t.failures, failure{e.Test, l[max(0, len(l)-failureLines):]})
		}
		delete(t.lines, key)
		res := result{pkg: e.Package, name: e.Test, action: e.Action, elapsed: time.Duration(e.Elapsed * float64(time.Second))}
		switch {
		case e.Test == "":
			t.packages = append(t.packages, res)
		case strings.Contains(e.Test, "/"):
			if e.Action == "fail" {
				top, _, _ := strings.Cut(e.Test, "/")
				t.failedOf[e.Package+"\x00"+top] = append(t.failedOf[e.Package+"\x00"+top], res)
			}
		default:
			t.tests = append(t.tests, res)
			t.counts[e.Action]++
			fmt.Fprintf(t.w, ">>> %s %s (%s): %s so far\n", strings.ToUpper(e.Action), e.Test, round(res.elapsed), t.soFar())
		}
	}
}

// soFar is the counts of finished top-level tests.
func (t *tally) soFar() string {
	return fmt.Sprintf("%d passed, %d failed, %d skipped", t.counts["pass"], t.counts["fail"], t.counts["skip"])
}

// report writes the result table, unfinished tests, failed packages and
// the counts.
func (t *tally) report() {
	fmt.Fprintln(t.w, "\n=== Summary")
	tw := tabwriter.NewWriter(t.w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RESULT\tTEST\tTIME")
	for _, r := range t.tests {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", strings.ToUpper(r.action), r.name, round(r.elapsed))
		for _, sub := range t.failedOf[r.pkg+"\x00"+r.name] {
			fmt.Fprintf(tw, "FAIL\t  %s\t%s\n", sub.name, round(sub.elapsed))
		}
	}
	// A panic or the -timeout kills the test binary mid-test.
	unfinished := 0
	for _, key := range t.order {
		if _, name, _ := strings.Cut(key, "\x00"); t.running[key] && name != "" && !strings.Contains(name, "/") {
			fmt.Fprintf(tw, "DID NOT FINISH\t%s\t-\n", name)
			unfinished++
		}
	}
	tw.Flush()
	if len(t.failures) > 0 {
		fmt.Fprintf(t.w, "\n=== What each failed test printed last (at most %d lines; all of it above)\n", failureLines)
		for _, f := range t.failures {
			fmt.Fprintf(t.w, "--- %s\n%s\n", f.name, strings.Join(f.lines, "\n"))
		}
	}
	for _, p := range t.packages {
		if p.action == "fail" {
			fmt.Fprintf(t.w, "FAIL package %s after %s\n", p.pkg, round(p.elapsed))
		}
	}
	total := len(t.tests) + unfinished
	line := fmt.Sprintf("Tests: %d total, %s", total, t.soFar())
	if unfinished > 0 {
		line += fmt.Sprintf(", %d did not finish", unfinished)
	}
	fmt.Fprintf(t.w, "%s, in %s\n", line, t.last.Sub(t.first).Round(time.Second))
}

// framing reports whether an output line is go test's own framing of a
// test (=== RUN, --- FAIL and the like), not something the test printed.
func framing(line string) bool {
	return strings.HasPrefix(line, "=== ") || strings.HasPrefix(strings.TrimLeft(line, " "), "--- ")
}

// round formats a duration as go test does.
func round(d time.Duration) string { return fmt.Sprintf("%.1fs", d.Seconds()) }
