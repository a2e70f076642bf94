// Package textutil has small helpers for showing logs to people.
package textutil

import (
	"os"
	"strings"
)

// TailFile returns the last n lines of the file at path (empty if it cannot
// be read), reading at most its last 64 KiB.
func TailFile(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	const window = 64 << 10
	if st, err := f.Stat(); err == nil && st.Size() > window {
		_, _ = f.Seek(st.Size()-window, 0)
	}
	buf := make([]byte, window)
	k, _ := f.Read(buf)
	return Tail(string(buf[:k]), n)
}

// Tail returns the last n lines of s.
func Tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
