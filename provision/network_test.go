package provision

import (
	"net"
	"os"
	"path/filepath"
	"testing"
)

func TestPickSubnet(t *testing.T) {
	t.Parallel()
	_, docker0, _ := net.ParseCIDR("172.17.0.0/16")
	_, taken, _ := net.ParseCIDR("172.30.5.0/24")
	s, err := pickSubnet([]string{"172.30.0.0/16", "172.31.0.0/16"}, []*net.IPNet{docker0, taken})
	if err != nil || s.String() != "172.31.0.0/16" {
		t.Fatalf("pickSubnet = %v, %v; want 172.31.0.0/16", s, err)
	}
	if _, err := pickSubnet([]string{"172.30.0.0/16"}, []*net.IPNet{taken}); err == nil {
		t.Fatal("want an error when every candidate overlaps")
	}
}

func TestPools(t *testing.T) {
	t.Parallel()
	_, s, _ := net.ParseCIDR("172.30.0.0/16")
	if got := containerRange(s).String(); got != "172.30.0.0/17" {
		t.Errorf("containerRange = %s", got)
	}
	for _, tc := range []struct {
		index int
		want  string
	}{{0, "172.30.128.0/24"}, {1, "172.30.129.0/24"}, {127, "172.30.255.0/24"}, {128, ""}} {
		p, err := lbPool(s, tc.index)
		if tc.want == "" {
			if err == nil {
				t.Errorf("lbPool(%d) = %s, want an error", tc.index, p)
			}
			continue
		}
		if err != nil || p.String() != tc.want {
			t.Errorf("lbPool(%d) = %v, %v; want %s", tc.index, p, err, tc.want)
		}
		if containerRange(s).Contains(p.IP) {
			t.Errorf("pool %s overlaps the container range", p)
		}
	}
}

func TestOpenLockRefusesSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	if err := os.WriteFile(target, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(dir, "create.lock")); err != nil {
		t.Fatal(err)
	}
	if f, err := openLock(dir, "create.lock"); err == nil {
		f.Close()
		t.Fatal("openLock followed a symlink")
	}
	f, err := openLock(filepath.Join(dir, "sub"), "create.lock")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	st, err := os.Stat(filepath.Join(dir, "sub"))
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("lock directory mode = %v, %v; want 0700", st.Mode().Perm(), err)
	}
}
