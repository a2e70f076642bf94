package node

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestResetPodAddresses: at boot host-local's reservations of the last
// boot are freed, and only the records written since the boot before are
// kept.
func TestResetPodAddresses(t *testing.T) {
	hostLocal, sticky := t.TempDir(), t.TempDir()
	write := func(dir, name, data string, age time.Duration) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		at := time.Now().Add(-age)
		if err := os.Chtimes(p, at, at); err != nil {
			t.Fatal(err)
		}
	}
	write(hostLocal, "10.244.0.5", "4431b3fb\neth0", 0)
	write(hostLocal, "last_reserved_ip.0", "10.244.0.5", 0)
	write(hostLocal, "lock", "", 0)
	write(sticky, stickyBoot, "", time.Hour)
	write(sticky, "0b1c-0001", "10.244.0.3\n", 2*time.Hour) // no pod of the last boot
	write(sticky, "0b1c-0002", "10.244.0.5\n", time.Minute)

	if err := resetPodAddresses(hostLocal, sticky); err != nil {
		t.Fatal(err)
	}
	if got := names(t, hostLocal); !slices.Equal(got, []string{"last_reserved_ip.0", "lock"}) {
		t.Errorf("host-local's files after reset: %q, want its reservation gone", got)
	}
	if got := names(t, sticky); !slices.Equal(got, []string{stickyBoot, "0b1c-0002"}) {
		t.Errorf("records after reset: %q, want the last boot's", got)
	}
	if st, err := os.Stat(filepath.Join(sticky, stickyBoot)); err != nil || time.Since(st.ModTime()) > time.Minute {
		t.Errorf("boot mark not touched: %v", err)
	}

	// The first boot: nothing there yet.
	if err := resetPodAddresses(filepath.Join(t.TempDir(), "none"), filepath.Join(t.TempDir(), "sticky")); err != nil {
		t.Errorf("first boot: %v", err)
	}
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}
