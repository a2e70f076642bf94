package kubeconfig

import (
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Not root: a uid and gid no account on the test machine has.
const userUID, userGID = 4242, 4343

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: only root can chown")
	}
}

func owner(t *testing.T, path string) (int, int) {
	t.Helper()
	info, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := info.Sys().(*syscall.Stat_t)
	return int(st.Uid), int(st.Gid)
}

func assertOwner(t *testing.T, path string, uid, gid int) {
	t.Helper()
	if u, g := owner(t, path); u != uid || g != gid {
		t.Errorf("owner of %s = %d:%d, want %d:%d", path, u, g, uid, gid)
	}
}

func sudoAs(t *testing.T, uid, gid int) {
	t.Setenv("SUDO_UID", strconv.Itoa(uid))
	t.Setenv("SUDO_GID", strconv.Itoa(gid))
}

func TestRewriteKeepsOwnerAndMode(t *testing.T) {
	needRoot(t)
	for _, c := range []struct {
		name       string
		mode, want os.FileMode
	}{
		{"0600 stays", 0o600, 0o600},
		{"stricter stays", 0o400, 0o400},
		{"group-readable becomes 0600", 0o640, 0o600},
		{"world-readable becomes 0600", 0o644, 0o600},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "config")
			if err := os.WriteFile(path, clusterConfig(t, "other", "https://other:6443"), c.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, c.mode); err != nil { // past the umask
				t.Fatal(err)
			}
			if err := os.Chown(path, userUID, userGID); err != nil {
				t.Fatal(err)
			}
			mustMerge(t, path, clusterConfig(t, "skiff-a", "https://127.0.0.1:1001"))
			assertOwner(t, path, userUID, userGID)
			assertMode(t, path, c.want)
			if err := Remove(path, "skiff-a"); err != nil {
				t.Fatal(err)
			}
			assertOwner(t, path, userUID, userGID)
			assertMode(t, path, c.want)
			assertOnly(t, dir, "config")
		})
	}
}

func TestRewriteThroughSymlinkKeepsTargetOwner(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	target, link := filepath.Join(dir, "real-config"), filepath.Join(dir, "config")
	mustMerge(t, target, clusterConfig(t, "other", "https://other:6443"))
	if err := os.Chown(target, userUID, userGID); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	mustMerge(t, link, clusterConfig(t, "skiff-a", "https://127.0.0.1:1001"))
	assertOwner(t, target, userUID, userGID)
	if info, err := os.Lstat(link); err != nil || info.Mode()&os.ModeSymlink == 0 {
		t.Errorf("symlink %s was replaced", link)
	}
}

func TestNewFileUnderSudo(t *testing.T) {
	needRoot(t)
	t.Run("directory of the user: theirs", func(t *testing.T) {
		sudoAs(t, userUID, userGID)
		home := t.TempDir()
		if err := os.Chown(home, userUID, userGID); err != nil {
			t.Fatal(err)
		}
		// ~/.kube does not exist yet: it is made for the user too.
		kube := filepath.Join(home, ".kube")
		path := filepath.Join(kube, "config")
		mustMerge(t, path, clusterConfig(t, "skiff-a", "https://127.0.0.1:1001"))
		assertOwner(t, kube, userUID, userGID)
		assertOwner(t, path, userUID, userGID)
		assertMode(t, path, 0o600)
		assertOnly(t, kube, "config")
	})
	t.Run("directory of someone else: root's", func(t *testing.T) {
		sudoAs(t, userUID, userGID)
		dir := t.TempDir() // root's
		path := filepath.Join(dir, "sub", "config")
		mustMerge(t, path, clusterConfig(t, "skiff-a", "https://127.0.0.1:1001"))
		assertOwner(t, filepath.Join(dir, "sub"), 0, 0)
		assertOwner(t, path, 0, 0)
		assertMode(t, path, 0o600)
	})
	t.Run("not under sudo: the writer's", func(t *testing.T) {
		t.Setenv("SUDO_UID", "")
		t.Setenv("SUDO_GID", "")
		dir := t.TempDir()
		if err := os.Chown(dir, userUID, userGID); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "config")
		mustMerge(t, path, clusterConfig(t, "skiff-a", "https://127.0.0.1:1001"))
		assertOwner(t, path, 0, 0)
	})
}

func TestLockNeverFollowsSymlink(t *testing.T) {
	for _, c := range []struct {
		name     string
		existing bool // whether the symlink's target exists
	}{{"dangling", false}, {"to a file", true}} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "config")
			victim := filepath.Join(dir, "victim")
			if c.existing {
				if err := os.WriteFile(victim, []byte("keep"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Symlink(victim, path+".lock"); err != nil {
				t.Fatal(err)
			}
			if _, err := lock(path, 100*time.Millisecond); err == nil {
				t.Fatal("lock() through a symlink succeeded")
			}
			data, err := os.ReadFile(victim)
			switch {
			case c.existing && (err != nil || string(data) != "keep"):
				t.Errorf("symlink target changed: %q, %v", data, err)
			case !c.existing && !os.IsNotExist(err):
				t.Errorf("symlink target created (err %v)", err)
			}
		})
	}
}
