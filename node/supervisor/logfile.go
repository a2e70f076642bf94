package supervisor

import (
	"fmt"
	"os"
	"path/filepath"
)

// openLog opens the log file for appending, creating it and its parent
// directories. It returns nil if no log file is configured.
func (p *Process) openLog() (*os.File, error) {
	if p.LogFile == "" {
		return nil, nil
	}
	if err := os.MkdirAll(filepath.Dir(p.LogFile), 0o755); err != nil {
		return nil, fmt.Errorf("failed to create log directory: %w", err)
	}
	f, err := os.OpenFile(p.LogFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("failed to open log file: %w", err)
	}
	return f, nil
}

// writeMarker appends a "--- skiff-node: ... ---" line to f, if not nil.
// Write errors are ignored: logging must not prevent supervision.
func writeMarker(f *os.File, format string, args ...any) {
	if f == nil {
		return
	}
	_, _ = fmt.Fprintf(f, "--- skiff-node: "+format+" ---\n", args...)
}
