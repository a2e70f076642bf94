package node

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/skiff-k8s/skiff/internal/waitfor"
)

// kubeletAPIAddr is where the kubelet reaches the API server: the agent's
// holding proxy (holdAPI), as k3s's agents reach theirs through a local
// load balancer on the same port.
const kubeletAPIAddr = "127.0.0.1:6444"

// kubeletKubeconfig is the kubelet's kubeconfig as the agent writes it at
// every boot: the node's kubelet.conf with the proxy as its server.
var kubeletKubeconfig = filepath.Join(RunDir, "kubelet.conf")

// writeKubeletKubeconfig writes dst, 0600: the kubeconfig src (the
// node's kubelet.conf, whose server is the API server itself) with the
// proxy as its server.
func writeKubeletKubeconfig(src, dst string) error {
	cfg, err := clientcmd.LoadFromFile(src)
	if err != nil {
		return fmt.Errorf("read the kubelet's kubeconfig: %w", err)
	}
	for _, c := range cfg.Clusters {
		c.Server = "https://" + kubeletAPIAddr
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if err := clientcmd.WriteToFile(*cfg, dst); err != nil {
		return fmt.Errorf("write the kubelet's kubeconfig: %w", err)
	}
	return os.Chmod(dst, 0o600)
}

// holdAPI forwards each connection accepted on l to the API server at
// target, dialing it every 10 ms until it answers: until the API server
// listens, a connection waits instead of being refused.
//
// The kubelet starts beside the API server and lists its Node at once.
// Refused, its informer retries 0.8-1.6 s later, and the kubelet starts
// the node's pods only at a check once a second from its own start that
// finds the list done: a start whose retry fell after that check lost a
// whole second (half of the starts here; alternating A/B in the README).
// Held, the first list returns as soon as the API server serves.
func holdAPI(ctx context.Context, l net.Listener, target string) {
	go func() {
		<-ctx.Done()
		l.Close()
	}()
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() == nil {
				log.Printf("the kubelet's API proxy: %v", err)
			}
			return
		}
		go forward(ctx, c, target)
	}
}

// holdFor bounds how long a connection waits for the API server to listen.
const holdFor = time.Minute

// forward copies between c and a new connection to target, both ways,
// until both sides have closed.
func forward(ctx context.Context, c net.Conn, target string) {
	defer c.Close()
	s, err := dialUntil(ctx, target, holdFor)
	if err != nil {
		return // the kubelet's client sees its connection closed, and retries
	}
	defer s.Close()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(s, c)
	go pipe(c, s)
	<-done
	<-done
}

// dialUntil dials target every 10 ms until it answers, ctx ends or
// timeout passes.
func dialUntil(ctx context.Context, target string, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var s net.Conn
	err := waitfor.Poll(ctx, 10*time.Millisecond, func(ctx context.Context) (bool, string, error) {
		var err error
		if s, err = (&net.Dialer{}).DialContext(ctx, "tcp", target); err != nil {
			return false, err.Error(), nil
		}
		return true, "", nil
	})
	return s, err
}
