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
	path := filepath.Join(dir, "loadbalancer.yaml")
	// An older agent wrote manifests, MetalLB's webhook key included, 0644.
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

func TestAddonManifestUpstreamFilesLast(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	v, err := AddonValues(&Config{DNSIP: "10.96.0.10"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	v.Gateway = true
	if err := os.MkdirAll(filepath.Join(dir, "gateway"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, doc := range map[string]string{"b.yaml": "kind: B\n", "a.yaml": "---\nkind: A", "skip.txt": "kind: C\n"} {
		if err := os.WriteFile(filepath.Join(dir, "gateway", name), []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := addonManifest(dir, "gateway", v)
	if err != nil {
		t.Fatal(err)
	}
	rendered, err := addons.Render("gateway", v)
	if err != nil {
		t.Fatal(err)
	}
	want := string(rendered) + "\n---\n---\nkind: A\n---\nkind: B\n"
	if string(got) != want {
		t.Errorf("addonManifest =\n%s\nwant\n%s", got, want)
	}
	// An addon without upstream files is its rendered manifests alone.
	got, err = addonManifest(dir, "dns", v)
	if err != nil {
		t.Fatal(err)
	}
	if rendered, _ := addons.Render("dns", v); string(got) != string(rendered) {
		t.Errorf("addonManifest(dns) differs from Render")
	}
}
