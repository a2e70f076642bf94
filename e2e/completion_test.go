package e2e

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// TestCompletion checks the shell completion scripts and that completing
// a --name flag or a SNAP argument offers this test's cluster and snapshot.
func TestCompletion(t *testing.T) {
	e2e(t)
	c := newCluster(t, "e2e-comp", "--no-addons")
	snap := "e2e-comp-snap"
	removeSnapshotAtEnd(t, snap)
	c.mustSkiff(3*time.Minute, "snapshot", "save", snap, "--name", c.name)

	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		if r := c.mustSkiff(time.Minute, "completion", shell); !strings.Contains(r.stdout, "__complete") {
			t.Errorf("skiff completion %s prints no script that calls skiff __complete:\n%s", shell, r.stdout)
		}
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"status", "--name", ""}, c.name},
		{[]string{"delete", "--name", "e2e-co"}, c.name},
		{[]string{"kubectl", "-n", "e2e-"}, c.name},
		{[]string{"addons", "list", "--name", "e2e-"}, c.name},
		{[]string{"snapshot", "restore", "e2e-comp"}, snap},
		{[]string{"snapshot", "rm", ""}, snap},
		{[]string{"create", "--from", "e2e-"}, snap},
	} {
		r := c.mustSkiff(time.Minute, append([]string{"__complete"}, tc.args...)...)
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		// The last line is cobra's directive: 4 means "no file names".
		if !slices.Contains(lines, tc.want) || lines[len(lines)-1] != ":4" {
			t.Errorf("skiff __complete %q offers %q, want %s and directive :4", tc.args, lines, tc.want)
		}
	}
	r := c.mustSkiff(time.Minute, "__complete", "status", "--name", "e2e-comp-no")
	if lines := strings.Split(strings.TrimSpace(r.stdout), "\n"); len(lines) != 1 {
		t.Errorf("a prefix no cluster has offers %q", lines)
	}
}
