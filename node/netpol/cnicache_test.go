package netpol

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCNICache(t *testing.T) {
	t.Parallel()
	sample, err := os.ReadFile("testdata/cni-result.json")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name, ns, pod, ip string, mtime time.Time) {
		t.Helper()
		data := strings.NewReplacer(`"web"`, `"`+ns+`"`, `"client-0"`, `"`+pod+`"`, `10.244.0.12/24`, ip+"/24").Replace(string(sample))
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			t.Fatal(err)
		}
		// A new mtime for the directory, as a create gives it, whatever
		// the file system's timestamp granularity.
		if err := os.Chtimes(dir, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	base := time.Now().Add(-time.Hour)
	write("skiff-aaa-eth0", "web", "client-0", "10.244.0.12", base)
	// A sandbox whose teardown left its file, and a newer pod with its
	// address.
	write("skiff-bbb-eth0", "old", "gone", "10.244.0.13", base)
	write("skiff-ccc-eth0", "web", "server-0", "10.244.0.13", base.Add(time.Minute))
	if err := os.WriteFile(filepath.Join(dir, "skiff-ddd-eth0"), []byte("not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := newCNICache(dir, netip.MustParsePrefix("10.244.0.0/24"))
	for _, tc := range []struct{ ip, want string }{
		{"10.244.0.12", "web/client-0"},
		{"10.244.0.13", "web/server-0"},
		{"10.244.0.99", ""},
		{"8.8.8.8", ""},
		{"not an ip", ""},
	} {
		got, ok := c.LookupPod(tc.ip)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("LookupPod(%s) = %q, %t; want %q", tc.ip, got, ok, tc.want)
		}
	}
	// A pod set up after the last scan is found.
	write("skiff-eee-eth0", "web", "late", "10.244.0.14", base.Add(2*time.Minute))
	if got, ok := c.LookupPod("10.244.0.14"); !ok || got != "web/late" {
		t.Errorf("LookupPod of a new pod = %q, %t; want web/late", got, ok)
	}
}
