package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
	"github.com/docker/go-connections/nat"

	"github.com/skiff-k8s/skiff/internal/engine"
	"github.com/skiff-k8s/skiff/provision/pki"
)

// floorScript starts etcd and kube-apiserver from the node image's binaries
// with the fewest flags that serve /readyz.
const floorScript = `etcd --data-dir /tmp/etcd --listen-client-urls http://127.0.0.1:2379 \
  --advertise-client-urls http://127.0.0.1:2379 --listen-peer-urls http://127.0.0.1:2380 >/tmp/etcd.log 2>&1 &
exec kube-apiserver --etcd-servers http://127.0.0.1:2379 --cert-dir /tmp/certs --secure-port 6443 \
  --service-account-issuer https://kubernetes.default.svc --service-account-key-file /floor/sa.pub \
  --service-account-signing-key-file /floor/sa.key >/tmp/apiserver.log 2>&1`

// measureFloor returns container_start_s (a trivial command in the node
// image) and floor_s (container start plus etcd and the API server until
// /readyz answers).
func measureFloor(ctx context.Context, docker *client.Client, image string) (map[string]float64, error) {
	r := map[string]float64{}
	t := time.Now()
	c, err := docker.ContainerCreate(ctx, &container.Config{Image: image, Entrypoint: []string{"/bin/true"}}, nil, nil, nil, "")
	if err != nil {
		return nil, err
	}
	if err := docker.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
		return nil, err
	}
	wc, errc := docker.ContainerWait(ctx, c.ID, container.WaitConditionNotRunning)
	select {
	case <-wc:
	case err := <-errc:
		return nil, err
	}
	r["container_start_s"] = time.Since(t).Seconds()
	_ = docker.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true})

	port, err := freePort()
	if err != nil {
		return nil, err
	}
	saTar, err := saKeys()
	if err != nil {
		return nil, err
	}
	t = time.Now()
	c, err = docker.ContainerCreate(ctx,
		&container.Config{Image: image, Entrypoint: []string{"sh", "-c", floorScript}, ExposedPorts: nat.PortSet{"6443/tcp": {}}},
		&container.HostConfig{
			PortBindings: nat.PortMap{"6443/tcp": {{HostIP: "127.0.0.1", HostPort: strconv.Itoa(port)}}},
			Tmpfs:        map[string]string{"/tmp": ""},
		}, nil, nil, "")
	if err != nil {
		return nil, err
	}
	defer docker.ContainerRemove(context.WithoutCancel(ctx), c.ID, container.RemoveOptions{Force: true})
	if err := docker.CopyToContainer(ctx, c.ID, "/", bytes.NewReader(saTar), container.CopyToContainerOptions{}); err != nil {
		return nil, err
	}
	if err := docker.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
		return nil, err
	}
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // local probe
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := hc.Get(fmt.Sprintf("https://127.0.0.1:%d/readyz", port))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			out, _ := engine.Exec(ctx, docker, c.ID, "tail", "-5", "/tmp/apiserver.log")
			return nil, fmt.Errorf("floor API server not ready within 2m: %s", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	r["floor_s"] = time.Since(t).Seconds()
	return r, nil
}

// saKeys returns a tar with /floor/sa.key and /floor/sa.pub.
func saKeys() ([]byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	return pki.Files{
		"floor/sa.key": pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}),
		"floor/sa.pub": pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}),
	}.Tar()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func jsonDecode(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }
