package node

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/skiff-k8s/skiff/addons"
)

func TestEnabledAddons(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		json string
		want []string
	}{
		{name: "absent", json: `{"clusterName":"c"}`, want: addons.Names()},
		{name: "null", json: `{"addons":null}`, want: addons.Names()},
		{name: "none", json: `{"addons":[]}`, want: []string{}},
		{name: "some", json: `{"addons":["dns"]}`, want: []string{"dns"}},
		{name: "nil round trip", cfg: Config{}, want: addons.Names()},
		{name: "empty round trip", cfg: Config{Addons: []string{}}, want: []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := []byte(tc.json)
			if tc.json == "" {
				var err error
				if data, err = json.Marshal(tc.cfg); err != nil {
					t.Fatal(err)
				}
			}
			var c Config
			if err := json.Unmarshal(data, &c); err != nil {
				t.Fatal(err)
			}
			if got := enabledAddons(&c); !slices.Equal(got, tc.want) || (got == nil) != (tc.want == nil) {
				t.Errorf("enabledAddons(%s) = %#v, want %#v", data, got, tc.want)
			}
		})
	}
}

func TestWriteFileAtomicSetsMode(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "metallb.yaml")
	// An older agent wrote manifests, webhook key included, 0644.
	if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeFileAtomic(path, []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(path); string(data) != "new" || st.Mode().Perm() != 0o600 {
		t.Errorf("%s: %q mode %v, want \"new\" mode 0600", path, data, st.Mode().Perm())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
}
