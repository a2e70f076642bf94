package images

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/modfile"
)

func TestWriteMain(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		c         GoComponent
		wantMain  string
		wantTools string // "" when there is no tools file
	}{
		{
			name:      "main packages only",
			c:         GoComponent{Binaries: map[string]string{"b": "example.com/m/b", "a": "example.com/m/a"}},
			wantTools: "//go:build tools\n\npackage tools\n\nimport (\n\t_ \"example.com/m/a\"\n\t_ \"example.com/m/b\"\n)\n",
		},
		{
			name:     "own main source",
			c:        GoComponent{MainSource: []byte("package main\n"), Binaries: map[string]string{"x": "."}},
			wantMain: "package main\n",
		},
		{
			// The tools file shares main.go's directory, so its package.
			name:      "own main source and upstream main packages",
			c:         GoComponent{MainSource: []byte("package main\n"), Binaries: map[string]string{"x": ".", "ginkgo": "example.com/ginkgo"}},
			wantMain:  "package main\n",
			wantTools: "//go:build tools\n\npackage main\n\nimport (\n\t_ \"example.com/ginkgo\"\n)\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if err := writeMain(dir, tc.c); err != nil {
				t.Fatal(err)
			}
			for file, want := range map[string]string{"main.go": tc.wantMain, "tools.go": tc.wantTools} {
				got, err := os.ReadFile(filepath.Join(dir, file))
				if want == "" {
					if !os.IsNotExist(err) {
						t.Errorf("%s written: %q, %v", file, got, err)
					}
					continue
				}
				if string(got) != want {
					t.Errorf("%s = %q, want %q (%v)", file, got, want, err)
				}
			}
		})
	}
}

// TestSpecHashMainSource: a component's own main source keys its cached
// build, and leaves every manifest component's key (and so the node
// image's cached binaries) as it was.
func TestSpecHashMainSource(t *testing.T) {
	t.Parallel()
	m, err := Resolved("")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range m.Go {
		data, _ := json.Marshal(c)
		if strings.Contains(string(data), "MainSource") {
			t.Errorf("%s: its spec carries MainSource: %s", c.Name, data)
		}
	}
	a := GoComponent{Name: "x", MainSource: []byte("package main // a\n")}
	b := GoComponent{Name: "x", MainSource: []byte("package main // b\n")}
	if specHash(a) == specHash(b) {
		t.Error("two main sources share one cache key")
	}
}

func TestReplaceDirectives(t *testing.T) {
	t.Parallel()
	upstream := `module go.etcd.io/etcd/server/v3

require (
	go.etcd.io/etcd/api/v3 v3.6.5
	golang.org/x/net v0.1.0
)

replace (
	go.etcd.io/etcd/api/v3 => ../api
	golang.org/x/net v0.1.0 => golang.org/x/net v0.2.0
)

replace go.etcd.io/etcd => ./FORBIDDEN_DEPENDENCY
`
	f, err := modfile.Parse("go.mod", []byte(upstream), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := "replace go.etcd.io/etcd/api/v3 => go.etcd.io/etcd/api/v3 v3.6.5\n" +
		"replace golang.org/x/net v0.1.0 => golang.org/x/net v0.2.0\n"
	if got := replaceDirectives(f, "v3.6.5"); got != want {
		t.Errorf("replaceDirectives =\n%s\nwant\n%s", got, want)
	}
}
