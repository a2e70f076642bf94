package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
)

func TestTailBuffer(t *testing.T) {
	b := &TailBuffer{Max: 4}
	b.Write([]byte("abc"))
	b.Write([]byte("defg"))
	if b.String() != "defg" {
		t.Errorf("tail = %q", b.String())
	}
}

func TestExitErrorMessage(t *testing.T) {
	stderr := "time=\"x\" level=warning msg=\"DEPRECATION: cgroup v1\"\n\n1\n2\n3\n4\nctr: image config \"a.json\" not found\n"
	err := &ExitError{Cmd: []string{"ctr", "images", "import", "-"}, Code: 1, Stderr: stderr}
	want := `ctr images import - exited with status 1: 1; 2; 3; 4; ctr: image config "a.json" not found`
	if err.Error() != want {
		t.Errorf("Error() = %q, want %q", err.Error(), want)
	}
	if got := (&ExitError{Cmd: []string{"false"}, Code: 1}).Error(); got != "false exited with status 1: (no error message)" {
		t.Errorf("Error() without stderr = %q", got)
	}
}

func TestWatchIdle(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	var last atomic.Int64
	last.Store(time.Now().UnixNano())
	start := time.Now()
	watchIdle(ctx, cancel, &last, 100*time.Millisecond)
	if took := time.Since(start); took < 100*time.Millisecond || took > 2*time.Second {
		t.Errorf("watchdog fired after %s, want just after 100ms", took)
	}
	if cause := context.Cause(ctx); cause == nil || !strings.Contains(cause.Error(), "no progress for 100ms") {
		t.Errorf("cause = %v", cause)
	}
}

// testContainer runs `sleep` in a local image that has a shell (a skiff
// node image, or the one SKIFF_TEST_SHELL_IMAGE names); without Docker or
// such an image the test is skipped.
func testContainer(t *testing.T) (*client.Client, string) {
	t.Helper()
	ctx := context.Background()
	c, err := Connect(ctx)
	if err != nil {
		t.Skipf("no Docker: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	ref := os.Getenv("SKIFF_TEST_SHELL_IMAGE")
	if ref == "" {
		list, err := c.ImageList(ctx, image.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, img := range list {
			for _, tag := range img.RepoTags {
				if strings.HasPrefix(tag, "skiff/node-base:") || strings.HasPrefix(tag, "skiff/node:") {
					ref = tag
				}
			}
		}
	}
	if ref == "" {
		t.Skip("no image with a shell: build the node image, or set SKIFF_TEST_SHELL_IMAGE")
	}
	cr, err := c.ContainerCreate(ctx, &container.Config{Image: ref, Entrypoint: []string{"sleep", "600"}}, nil, nil, nil, fmt.Sprintf("skiff-exec-test-%d", os.Getpid()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.ContainerRemove(context.Background(), cr.ID, container.RemoveOptions{Force: true}) })
	if err := c.ContainerStart(ctx, cr.ID, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	return c, cr.ID
}

func TestRunInContainer(t *testing.T) {
	c, id := testContainer(t)
	ctx := context.Background()

	t.Run("exit code and both outputs, every time", func(t *testing.T) {
		// Docker can end the output before it records the exit: a single
		// early read of the exit code says 0 now and then.
		for i := range 50 {
			var stdout, stderr bytes.Buffer
			err := Run(ctx, c, id, []string{"sh", "-c", "echo out; echo err >&2; exit 7"}, ExecOptions{Stdout: &stdout, Stderr: &stderr})
			var xe *ExitError
			if !errors.As(err, &xe) || xe.Code != 7 || xe.Stderr != "err\n" {
				t.Fatalf("run %d: err = %v, want exit 7 with stderr", i, err)
			}
			if stdout.String() != "out\n" || stderr.String() != "err\n" {
				t.Fatalf("run %d: stdout %q, stderr %q", i, stdout.String(), stderr.String())
			}
		}
	})
	t.Run("success", func(t *testing.T) {
		out, err := Output(ctx, c, id, "sh", "-c", "echo hello")
		if err != nil || string(out) != "hello\n" {
			t.Errorf("Output = %q, %v", out, err)
		}
	})
	t.Run("missing command fails", func(t *testing.T) {
		err := Run(ctx, c, id, []string{"/no/such/command"}, ExecOptions{})
		var xe *ExitError
		if !errors.As(err, &xe) || xe.Code == 0 {
			t.Errorf("err = %v, want a non-zero exit", err)
		}
	})
	t.Run("stdin is streamed and closed", func(t *testing.T) {
		in := strings.Repeat("0123456789abcdef", 1<<16) // 1 MiB
		var out bytes.Buffer
		if err := Run(ctx, c, id, []string{"sh", "-c", "cat; echo end"}, ExecOptions{Stdin: strings.NewReader(in), Stdout: &out}); err != nil {
			t.Fatal(err)
		}
		if out.String() != in+"end\n" {
			t.Errorf("got %d bytes back, want %d", out.Len(), len(in)+4)
		}
	})
	t.Run("input read error", func(t *testing.T) {
		in := io.MultiReader(strings.NewReader("data"), errorReader{})
		err := Run(ctx, c, id, []string{"cat"}, ExecOptions{Stdin: in})
		if err == nil || !strings.Contains(err.Error(), "broken source") {
			t.Errorf("err = %v, want the source's error", err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		start := time.Now()
		err := Run(ctx, c, id, []string{"sleep", "30"}, ExecOptions{Timeout: 500 * time.Millisecond})
		if err == nil || !strings.Contains(err.Error(), "did not finish within 500ms") {
			t.Errorf("err = %v, want a timeout", err)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("returned after %s", took)
		}
	})
	t.Run("idle watchdog", func(t *testing.T) {
		pr, pw := io.Pipe() // input that never comes
		defer pw.Close()
		start := time.Now()
		err := Run(ctx, c, id, []string{"cat"}, ExecOptions{Stdin: pr, Idle: 500 * time.Millisecond})
		if err == nil || !strings.Contains(err.Error(), "no progress for 500ms") {
			t.Errorf("err = %v, want the watchdog's", err)
		}
		if took := time.Since(start); took > inputWait+5*time.Second {
			t.Errorf("returned after %s", took)
		}
	})
	t.Run("cancelled context", func(t *testing.T) {
		cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		if err := Run(cctx, c, id, []string{"sleep", "30"}, ExecOptions{}); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want the context's deadline", err)
		}
	})
}

type errorReader struct{}

func (errorReader) Read([]byte) (int, error) { return 0, errors.New("broken source") }
