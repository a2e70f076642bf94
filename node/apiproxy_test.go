package node

import (
	"bufio"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// TestHoldAPI: a connection made before the API server listens is held,
// then carried both ways once it does; closing either side closes the
// other.
func TestHoldAPI(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// A port nothing listens on yet: the API server's, before it starts.
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target := probe.Addr().String()
	probe.Close()

	proxy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go holdAPI(ctx, proxy, target)

	c, err := net.Dial("tcp", proxy.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("list nodes\n")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // refused dials meanwhile

	// The API server starts: it answers each line, then closes.
	api, err := net.Listen("tcp", target)
	if err != nil {
		t.Fatalf("the target port was taken meanwhile: %v", err)
	}
	defer api.Close()
	go func() {
		s, err := api.Accept()
		if err != nil {
			return
		}
		defer s.Close()
		line, _ := bufio.NewReader(s).ReadString('\n')
		_, _ = s.Write([]byte("answer to " + line))
	}()

	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read through the proxy: %v", err)
	}
	if string(got) != "answer to list nodes\n" {
		t.Errorf("through the proxy: %q, want the answer, then EOF", got)
	}
}

// TestWriteKubeletKubeconfig: the kubelet's copy names the proxy and
// keeps its credentials, readable by root only.
func TestWriteKubeletKubeconfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "kubelet.conf"), filepath.Join(dir, "run", "kubelet.conf")
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["c"] = &clientcmdapi.Cluster{Server: "https://127.0.0.1:6443", CertificateAuthorityData: []byte("ca")}
	cfg.AuthInfos["u"] = &clientcmdapi.AuthInfo{ClientKeyData: []byte("key")}
	cfg.Contexts["x"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"}
	cfg.CurrentContext = "x"
	if err := clientcmd.WriteToFile(*cfg, src); err != nil {
		t.Fatal(err)
	}
	if err := writeKubeletKubeconfig(src, dst); err != nil {
		t.Fatal(err)
	}
	got, err := clientcmd.LoadFromFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	if s := got.Clusters["c"].Server; s != "https://"+kubeletAPIAddr {
		t.Errorf("server %s, want the proxy's https://%s", s, kubeletAPIAddr)
	}
	if string(got.AuthInfos["u"].ClientKeyData) != "key" || string(got.Clusters["c"].CertificateAuthorityData) != "ca" || got.CurrentContext != "x" {
		t.Errorf("credentials or context lost: %+v", got)
	}
	if fi, err := os.Stat(dst); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("%s: mode %v (%v), want 0600", dst, fi.Mode().Perm(), err)
	}
}
