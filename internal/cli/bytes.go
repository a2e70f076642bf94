package cli

import (
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"
)

// Bytes shows a byte count with rate: a progress bar on a terminal, a line
// at the start and at the end elsewhere. It is an io.Writer to tee into.
type Bytes struct {
	bar   *progressbar.ProgressBar
	out   io.Writer
	desc  string
	n     int64
	start time.Time
}

// NewBytes starts a byte counter for total bytes (-1 if unknown).
func NewBytes(w io.Writer, total int64, desc string) *Bytes {
	b := &Bytes{out: w, desc: desc, start: time.Now()}
	if IsTerminal(w) {
		b.bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription(desc),
			progressbar.OptionShowBytes(true),
			progressbar.OptionShowTotalBytes(true),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionSetElapsedTime(true),
		)
		return b
	}
	fmt.Fprintf(w, "%s %s ...\n", time.Now().Format("15:04:05"), desc)
	return b
}

func (b *Bytes) Write(p []byte) (int, error) {
	b.n += int64(len(p))
	if b.bar != nil {
		return b.bar.Write(p)
	}
	return len(p), nil
}

// Done ends the counter with a summary line.
func (b *Bytes) Done() {
	if b.bar != nil {
		_ = b.bar.Finish()
		fmt.Fprintln(b.out)
		return
	}
	d := time.Since(b.start)
	fmt.Fprintf(b.out, "%s ✓ %s: %d MiB in %s (%.0f MiB/s)\n", time.Now().Format("15:04:05"), b.desc, b.n>>20, d.Round(100*time.Millisecond), float64(b.n)/(1<<20)/d.Seconds())
}
