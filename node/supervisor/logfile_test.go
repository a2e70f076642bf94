package supervisor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// readLog returns the content of path, or "" if it does not exist.
func readLog(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(data)
}

// logFiles lists the names in dir.
func logFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestRotatingLogCapsAndKeepsOneGeneration(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.log")
	const maxSize = 1000
	l := newRotatingLog(path, maxSize)
	var all strings.Builder
	for i := range 200 { // 200 lines of 32 bytes: 6.4 times the cap
		line := fmt.Sprintf("line %04d %s\n", i, strings.Repeat("x", 21))
		all.WriteString(line)
		if _, err := l.Write([]byte(line)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got := logFiles(t, dir); strings.Join(got, " ") != "c.log c.log.1" {
		t.Fatalf("files %v, want c.log and c.log.1", got)
	}
	cur, old := readLog(t, path), readLog(t, path+".1")
	for name, s := range map[string]string{"c.log": cur, "c.log.1": old} {
		if len(s) > maxSize {
			t.Errorf("%s has %d bytes, want at most %d", name, len(s), maxSize)
		}
		if !strings.HasSuffix(s, "\n") || !strings.HasPrefix(s, "line ") {
			t.Errorf("%s is not cut at line ends: %.40q...%q", name, s, s[max(len(s)-40, 0):])
		}
	}
	if len(old) <= maxSize-32 {
		t.Errorf("c.log.1 has %d bytes: rotated before it was full", len(old))
	}
	// The two generations are the newest output, in order, with no gap.
	if !strings.HasSuffix(all.String(), old+cur) {
		t.Error("c.log.1 followed by c.log is not the tail of what was written")
	}
	if !strings.HasSuffix(cur, "line 0199 "+strings.Repeat("x", 21)+"\n") {
		t.Errorf("c.log does not end with the last line: %q", cur[len(cur)-40:])
	}
	if _, err := l.Write([]byte("late\n")); err == nil {
		t.Error("Write after Close succeeded")
	}
}

func TestRotatingLogSplitsLineLongerThanCap(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.log")
	l := newRotatingLog(path, 100)
	defer l.Close()
	long := strings.Repeat("a", 150) + "\n"
	if n, err := l.Write([]byte("short\n" + long)); err != nil || n != 6+len(long) {
		t.Fatalf("Write = %d, %v", n, err)
	}
	// "short" went to a file of its own (rotated away since), the long
	// line is cut at the cap.
	old, cur := readLog(t, path+".1"), readLog(t, path)
	if old != strings.Repeat("a", 100) || cur != strings.Repeat("a", 50)+"\n" {
		t.Fatalf("c.log.1 %q, c.log %q", old, cur)
	}
}

func TestRotatingLogRotatesOversizedExistingFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.log")
	// A log from an agent that did not rotate.
	if err := os.WriteFile(path, []byte(strings.Repeat("old\n", 500)), 0o644); err != nil {
		t.Fatal(err)
	}
	l := newRotatingLog(path, 1000)
	defer l.Close()
	if _, err := l.Write([]byte("new\n")); err != nil {
		t.Fatal(err)
	}
	if cur := readLog(t, path); cur != "new\n" {
		t.Fatalf("c.log %q, want only the new line", cur)
	}
	if old := readLog(t, path+".1"); len(old) != 2000 {
		t.Fatalf("c.log.1 has %d bytes, want the old 2000", len(old))
	}
}

func TestProcessLogIsRotatedUnderRunningChild(t *testing.T) {
	// The "output" child writes over 256 KiB, then "hello stderr" last.
	p := newProcess(t, "output")
	p.LogMaxSize = 64 << 10
	p.InitialBackoff = time.Minute // one run
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "exit", func() bool { return p.Status().Exits == 1 })
	dir := filepath.Dir(p.LogFile)
	if got := strings.Join(logFiles(t, dir), " "); got != "output.log output.log.1" {
		t.Fatalf("files %s, want output.log and output.log.1", got)
	}
	for _, name := range []string{p.LogFile, p.LogFile + ".1"} {
		if st, err := os.Stat(name); err != nil || st.Size() > p.LogMaxSize {
			t.Fatalf("%s: %v, want at most %d bytes", name, st.Size(), p.LogMaxSize)
		}
	}
	cur := readLog(t, p.LogFile)
	if !strings.Contains(cur, "hello stderr\n--- skiff-node: test-output exited after ") {
		t.Fatalf("current log lacks the last line followed by the exit marker:\n%s", cur[max(len(cur)-300, 0):])
	}
}

func TestProcessExitIsReportedAfterItsLastLinesAreLogged(t *testing.T) {
	p := newProcess(t, "exit3")
	p.InitialBackoff = 20 * time.Millisecond
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	for n := 1; n <= 3; n++ {
		waitFor(t, 10*time.Second, fmt.Sprintf("exit %d", n), func() bool { return p.Status().Exits >= n })
		// No waiting for the log: Status shows an exit only once the
		// crashed child's output and the exit marker are in it.
		log := readLog(t, p.LogFile)
		if got := strings.Count(log, "child exiting with 3\n--- skiff-node: test-exit3 exited after "); got < n {
			t.Fatalf("after %d exits the log has %d last lines with exit markers:\n%s", n, got, log)
		}
	}
	if st := p.Status(); st.LastExit != "exit status 3" {
		t.Fatalf("status %+v", st)
	}
}
