package provision

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// refusedFile lists, one per line, the IDs of Docker engines that refused
// --privileged. create tries --privileged first and falls back to the
// explicit capability set; on an engine that refuses, the failed attempt
// costs 0.4 s of every create, so it is made once per engine. A missing or
// unreadable file only means trying again.
func refusedFile() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "skiff", "privileged-refused")
}

// privilegedRefused says whether the engine with this ID refused
// --privileged before.
func privilegedRefused(engineID string) bool {
	f := refusedFile()
	if f == "" || engineID == "" {
		return false
	}
	data, err := os.ReadFile(f)
	return err == nil && slices.Contains(strings.Fields(string(data)), engineID)
}

// rememberRefused records that the engine with this ID refused
// --privileged; failing to is harmless (the next create tries again).
func rememberRefused(engineID string) {
	f := refusedFile()
	if f == "" || engineID == "" || privilegedRefused(engineID) {
		return
	}
	if err := os.MkdirAll(filepath.Dir(f), 0o700); err != nil {
		return
	}
	if w, err := os.OpenFile(f, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600); err == nil {
		_, _ = w.WriteString(engineID + "\n")
		_ = w.Close()
	}
}
