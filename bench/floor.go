package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
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
exec kube-apiserver --etcd-servers http://127.0.0.1:2379 --secure-port 6443 \
  --tls-cert-file /floor/pki/apiserver.crt --tls-private-key-file /floor/pki/apiserver.key \
  --client-ca-file /floor/pki/ca.crt --service-account-issuer https://kubernetes.default.svc \
  --service-account-key-file /floor/pki/sa.pub --service-account-signing-key-file /floor/pki/sa.key \
  >/tmp/apiserver.log 2>&1`

// measureFloor returns container_start_s (a trivial command in the node
// image) and floor_s (container start plus etcd and the API server until
// /readyz answers).
func measureFloor(ctx context.Context, docker client.APIClient, image string) (map[string]float64, error) {
	r := map[string]float64{}
	t := time.Now()
	c, err := docker.ContainerCreate(ctx, &container.Config{Image: image, Entrypoint: []string{"/bin/true"}}, nil, nil, nil, "")
	if err != nil {
		return nil, err
	}
	defer remove(ctx, docker, c.ID)
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

	port, err := freePort()
	if err != nil {
		return nil, err
	}
	files, err := pki.Generate(pki.Config{ClusterName: "floor", NodeName: "floor", ServiceCIDR: "10.0.0.0/24"})
	if err != nil {
		return nil, err
	}
	floorFiles := pki.Files{}
	for k, v := range files {
		floorFiles["floor/"+k] = v
	}
	saTar, err := floorFiles.Tar()
	if err != nil {
		return nil, err
	}
	// Probe /readyz as the admin, as skiff itself does.
	cert, err := tls.X509KeyPair(files["pki/admin.crt"], files["pki/admin.key"])
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(files["pki/ca.crt"])
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
	defer remove(ctx, docker, c.ID)
	if err := docker.CopyToContainer(ctx, c.ID, "/", bytes.NewReader(saTar), container.CopyToContainerOptions{}); err != nil {
		return nil, err
	}
	if err := docker.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
		return nil, err
	}
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool}}}
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
			out, _ := engine.Output(ctx, docker, c.ID, "tail", "-5", "/tmp/apiserver.log")
			return nil, fmt.Errorf("floor API server not ready within 2m: %s", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	r["floor_s"] = time.Since(t).Seconds()
	return r, nil
}

// remove removes a container even when ctx is done (the bench's deadline
// passed), within a bound of its own.
func remove(ctx context.Context, docker client.APIClient, id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	_ = docker.ContainerRemove(ctx, id, container.RemoveOptions{Force: true})
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
