package commands

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
)

func TestCompleteAddon(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"addons", "enable", ""}, []string{"dns", "storage", "metrics", "registry", "loadbalancer", "ingress", "gateway", "netpol"}},
		{[]string{"addons", "disable", "in"}, []string{"ingress"}},
		{[]string{"addons", "disable", "g"}, []string{"gateway"}},
		{[]string{"addons", "disable", "n"}, []string{"netpol"}},
		{[]string{"addons", "enable", "dns", ""}, nil},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Parallel()
			var out, errb bytes.Buffer
			if code := Run(context.Background(), Streams{Out: &out, Err: &errb}, append([]string{"__complete"}, tc.args...)); code != 0 {
				t.Fatalf("exit %d: %s", code, errb.String())
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			// The last line is cobra's directive: 4 is "no file names".
			if got, directive := lines[:len(lines)-1], lines[len(lines)-1]; !slices.Equal(got, tc.want) || directive != ":4" {
				t.Errorf("completions %q, directive %s; want %q, :4", got, directive, tc.want)
			}
		})
	}
}

func TestMatching(t *testing.T) {
	t.Parallel()
	got := matching([]string{"dev", "demo", "prod"}, []string{"demo"}, "de")
	if !slices.Equal(got, []string{"dev"}) {
		t.Errorf("matching = %q, want [dev]", got)
	}
}
