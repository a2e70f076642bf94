package supervisor

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// DefaultLogMaxSize caps a Process's log file when LogMaxSize is zero.
const DefaultLogMaxSize = 10 << 20

// rotatingLog is a log file that never grows past maxSize: when a write
// would pass it, the file becomes path+".1" (replacing the previous
// generation) and a new one is started. A component thus uses at most twice
// maxSize of disk however long the cluster runs, and path always holds the
// newest lines for readers that only know it (`skiff export logs`, the
// CLI's diagnosis). Files are cut at line ends where possible.
type rotatingLog struct {
	path    string
	maxSize int64

	mu     sync.Mutex
	f      *os.File // opened lazily; nil after a rotation or Close
	size   int64
	closed bool
}

func newRotatingLog(path string, maxSize int64) *rotatingLog {
	if maxSize <= 0 {
		maxSize = DefaultLogMaxSize
	}
	return &rotatingLog{path: path, maxSize: maxSize}
}

// Write appends p, rotating first whenever p does not fit.
func (l *rotatingLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, fs.ErrClosed
	}
	written := 0
	for len(p) > 0 {
		if l.f == nil {
			if err := l.open(); err != nil {
				return written, err
			}
		}
		n := len(p)
		if room := l.maxSize - l.size; int64(n) > room {
			// Up to the last line end that fits; a line longer than a
			// whole file is cut at the cap.
			switch i := bytes.LastIndexByte(p[:max(room, 0)], '\n'); {
			case i >= 0:
				n = i + 1
			case l.size > 0:
				n = 0
			default:
				n = int(room)
			}
		}
		if n > 0 {
			k, err := l.f.Write(p[:n])
			l.size += int64(k)
			written += k
			if err != nil {
				return written, fmt.Errorf("failed to write log %s: %w", l.path, err)
			}
			p = p[n:]
		}
		if len(p) > 0 {
			if err := l.rotate(); err != nil {
				return written, err
			}
		}
	}
	return written, nil
}

// open opens path for appending, creating it and its directory. l.mu must
// be held.
func (l *rotatingLog) open() error {
	if err := os.MkdirAll(filepath.Dir(l.path), 0o755); err != nil {
		return fmt.Errorf("failed to create log directory: %w", err)
	}
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("failed to open log file: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("failed to stat log file: %w", err)
	}
	l.f, l.size = f, st.Size()
	return nil
}

// rotate moves the current file to path+".1". l.mu must be held.
func (l *rotatingLog) rotate() error {
	if l.f != nil {
		_ = l.f.Close()
		l.f = nil
	}
	// If this fails, the next write finds the file full and tries again:
	// lines are dropped, but the file never passes the cap.
	if err := os.Rename(l.path, l.path+".1"); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("failed to rotate log %s: %w", l.path, err)
	}
	return nil
}

// marker appends a "--- skiff-node: ... ---" line. Errors are ignored:
// logging must not prevent supervision. l may be nil (no log).
func (l *rotatingLog) marker(format string, args ...any) {
	if l == nil {
		return
	}
	_, _ = fmt.Fprintf(l, "--- skiff-node: "+format+" ---\n", args...)
}

// copyFrom writes everything read from r to the log until r ends, then
// closes r and done. Write errors (a full disk) are dropped rather than
// left to block the child on a full pipe.
func (l *rotatingLog) copyFrom(r *os.File, done chan<- struct{}) {
	defer close(done)
	defer r.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			_, _ = l.Write(buf[:n])
		}
		if err != nil {
			return
		}
	}
}

// Close closes the file; later writes fail. l may be nil.
func (l *rotatingLog) Close() error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	if err != nil {
		return fmt.Errorf("failed to close log %s: %w", l.path, err)
	}
	return nil
}
