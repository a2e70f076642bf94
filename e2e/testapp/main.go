//go:build ignore

// Command hello is skiff's own test workload, in the spirit of Kubernetes'
// agnhost: one static binary whose first argument picks what it does, so a
// single image serves every e2e test without a registry.
//
//	hello [serve]            HTTP on $PORT (default 8080): / /healthz /readyz /burn?ms=N
//	hello lookup NAME...     resolve names, print "NAME -> IPs"
//	hello get URL [COUNT [INTERVAL [CONCURRENCY]]]
//	                         GET URL COUNT times (INTERVAL apart per worker),
//	                         print each body or an ERROR line
//	hello write FILE TEXT    write TEXT to FILE, creating directories
//	hello read FILE          print FILE
//	hello burn SECONDS       burn one CPU
//	hello sleep              block until SIGTERM
//
// BuildImage (build.go) compiles it; the build tag keeps it out of package
// testapp, which tests import.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// version is set at build time with -X main.version; $VERSION overrides it.
var version = "v1"

const maxBurn = 10 * time.Second

// sink keeps burn's loop from being optimized away.
var sink atomic.Uint64

func main() {
	log.SetFlags(0)
	log.SetOutput(os.Stdout)
	args := os.Args[1:]
	mode := "serve"
	if len(args) > 0 {
		mode, args = args[0], args[1:]
	}
	var err error
	switch mode {
	case "serve":
		err = serve()
	case "lookup":
		err = lookup(args)
	case "get":
		err = get(args)
	case "write":
		err = write(args)
	case "read":
		err = read(args)
	case "burn":
		err = burnCmd(args)
	case "sleep":
		waitSignal()
	default:
		err = fmt.Errorf("unknown mode %q: use serve, lookup, get, write, read, burn or sleep", mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ERROR:", err)
		os.Exit(1)
	}
}

func env(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func podName() string {
	if n := os.Getenv("POD_NAME"); n != "" {
		return n
	}
	n, _ := os.Hostname()
	return n
}

func waitSignal() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM, os.Interrupt)
	<-ch
}

func serve() error {
	name, ver := podName(), env("VERSION", version)
	var stopping atomic.Bool
	mux := http.NewServeMux()
	// Any path: ingress tests route several paths to the same app.
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s version %s\n", name, ver)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	// /readyz fails once SIGTERM arrived, so endpoints drop the pod while it
	// still serves the requests already routed to it.
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if stopping.Load() {
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /burn", func(w http.ResponseWriter, r *http.Request) {
		ms, err := strconv.Atoi(r.URL.Query().Get("ms"))
		if err != nil || ms < 0 {
			http.Error(w, "give ?ms=N", http.StatusBadRequest)
			return
		}
		d := burn(time.Duration(ms) * time.Millisecond)
		fmt.Fprintf(w, "burned %s on %s\n", d, name)
	})
	srv := &http.Server{
		Addr:              ":" + env("PORT", "8080"),
		Handler:           logRequests(mux),
		ReadHeaderTimeout: 5 * time.Second,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Printf("%s version %s listening on %s", name, ver, srv.Addr)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	select {
	case err := <-errc:
		return err
	case s := <-sig:
		stopping.Store(true)
		log.Printf("%s: finishing in-flight requests", s)
	}
	// Shutdown stops accepting and waits for in-flight requests, so a
	// rolling update loses none.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Printf("stopped")
	return nil
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

// logRequests logs one line per request so `kubectl logs` shows which
// replica answered.
func logRequests(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(sw, r)
		log.Printf("%s %s %s %d %s", time.Now().Format(time.RFC3339), r.Method, r.URL.RequestURI(), sw.code, time.Since(start).Round(time.Microsecond))
	})
}

// burn keeps one CPU busy for d (at most maxBurn) and returns how long.
func burn(d time.Duration) time.Duration {
	d = min(d, maxBurn)
	start := time.Now()
	x := uint64(1)
	for time.Since(start) < d {
		for i := 0; i < 100000; i++ {
			x = x*6364136223846793005 + 1442695040888963407
		}
	}
	sink.Store(x)
	return time.Since(start).Round(time.Millisecond)
}

func burnCmd(args []string) error {
	if len(args) != 1 {
		return errors.New("usage: burn SECONDS")
	}
	s, err := strconv.ParseFloat(args[0], 64)
	if err != nil || s < 0 {
		return fmt.Errorf("invalid SECONDS %q", args[0])
	}
	fmt.Printf("burned %s\n", burn(time.Duration(s*float64(time.Second))))
	return nil
}

func lookup(names []string) error {
	if len(names) == 0 {
		return errors.New("usage: lookup NAME...")
	}
	var failed []string
	for _, n := range names {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		ips, err := net.DefaultResolver.LookupHost(ctx, n)
		cancel()
		if err != nil {
			fmt.Printf("%s -> ERROR %v\n", n, err)
			failed = append(failed, n)
			continue
		}
		fmt.Printf("%s -> %s\n", n, strings.Join(ips, ","))
	}
	if len(failed) > 0 {
		return fmt.Errorf("failed to resolve %s", strings.Join(failed, ", "))
	}
	return nil
}

func get(args []string) error {
	if len(args) < 1 || len(args) > 5 {
		return errors.New("usage: get URL [COUNT [INTERVAL [CONCURRENCY [RETRY_FOR]]]]")
	}
	url, count, interval, workers, retryFor := args[0], 1, time.Duration(0), 1, time.Duration(0)
	var err error
	if len(args) > 1 {
		if count, err = strconv.Atoi(args[1]); err != nil || count < 1 {
			return fmt.Errorf("invalid COUNT %q", args[1])
		}
	}
	if len(args) > 2 {
		if interval, err = time.ParseDuration(args[2]); err != nil || interval < 0 {
			return fmt.Errorf("invalid INTERVAL %q: give a duration such as 50ms", args[2])
		}
	}
	if len(args) > 3 {
		if workers, err = strconv.Atoi(args[3]); err != nil || workers < 1 || workers > 64 {
			return fmt.Errorf("invalid CONCURRENCY %q: give 1-64", args[3])
		}
	}
	if len(args) > 4 {
		// Retry each request for this long: for a Service just created.
		if retryFor, err = time.ParseDuration(args[4]); err != nil || retryFor < 0 || retryFor > 5*time.Minute {
			return fmt.Errorf("invalid RETRY_FOR %q: give a duration up to 5m", args[4])
		}
	}
	// A new connection per request, so a Service spreads them over replicas
	// and none is left on a pod that goes away.
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var next, failures atomic.Int64
	var mu sync.Mutex // whole lines, whatever the concurrency
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(count) {
				body, err := getOnce(c, url)
				for deadline := time.Now().Add(retryFor); err != nil && time.Now().Before(deadline); {
					time.Sleep(200 * time.Millisecond)
					body, err = getOnce(c, url)
				}
				mu.Lock()
				if err != nil {
					fmt.Printf("ERROR %v\n", err)
					failures.Add(1)
				} else {
					fmt.Println(strings.TrimRight(body, "\n"))
				}
				mu.Unlock()
				time.Sleep(interval)
			}
		}()
	}
	wg.Wait()
	if n := failures.Load(); n > 0 {
		return fmt.Errorf("%d of %d requests to %s failed", n, count, url)
	}
	return nil
}

func getOnce(c *http.Client, url string) (string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	return string(body), nil
}

func write(args []string) error {
	if len(args) != 2 {
		return errors.New("usage: write FILE TEXT")
	}
	if err := os.MkdirAll(filepath.Dir(args[0]), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(args[0], []byte(args[1]+"\n"), 0o644); err != nil {
		return err
	}
	fmt.Printf("wrote %s\n", args[0])
	return nil
}

func read(args []string) error {
	if len(args) != 1 {
		return errors.New("usage: read FILE")
	}
	data, err := os.ReadFile(args[0])
	if err != nil {
		return err
	}
	_, err = os.Stdout.Write(data)
	return err
}
