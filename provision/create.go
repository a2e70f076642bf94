package provision

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/errdefs"

	"github.com/skiff-k8s/skiff/node"
	"github.com/skiff-k8s/skiff/provision/kubeconfig"
	"github.com/skiff-k8s/skiff/provision/pki"
)

// Created describes a new cluster.
type Created struct {
	Context    string
	Kubeconfig string
	Server     string
	Privileged bool
	// Host ports of the ingress and the registry.
	HTTPPort, HTTPSPort, RegistryPort int
	Steps                             []StepTime
}

// StepTime is how long one create step took.
type StepTime struct {
	Name    string        `json:"name"`
	Seconds float64       `json:"seconds"`
	took    time.Duration `json:"-"`
}

// createRun carries state between create's steps.
type createRun struct {
	p       *Provider
	cfg     *Config
	files   pki.Files
	id      string
	host    hostInfo
	lbPool  *net.IPNet
	created bool // something exists that a failure must remove
	out     Created
}

// Create makes a cluster and returns when it is usable: the API server
// ready, the node Ready, system pods Ready and the default ServiceAccount
// present. A failed or interrupted create removes what it made unless
// cfg.Retain.
func (p *Provider) Create(ctx context.Context, cfg *Config) (*Created, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &createRun{p: p, cfg: cfg}
	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"Checking Docker, image and ports", r.preflight},
		{"Generating certificates", r.certificates},
		{"Starting node container", r.startNode},
		{"Waiting for the API server", r.waitAPIServer},
		{"Waiting for the node and system pods", r.waitNode},
		{"Writing kubeconfig", r.writeKubeconfig},
	}
	deadline := time.Now().Add(cfg.Wait)
	for _, s := range steps {
		p.status.Start(s.name)
		start := time.Now()
		sctx, cancel := context.WithDeadline(ctx, deadline)
		err := s.fn(sctx)
		cancel()
		r.out.Steps = append(r.out.Steps, StepTime{Name: s.name, Seconds: time.Since(start).Seconds()})
		if err != nil {
			p.status.End(false)
			if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
				err = &TimeoutError{Step: s.name, Wait: cfg.Wait, Err: err, Diagnosis: p.diagnose(context.WithoutCancel(ctx), cfg.Name)}
			}
			if ctx.Err() != nil {
				err = fmt.Errorf("create interrupted: %w", err)
			}
			if r.created && !cfg.Retain {
				cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
				if derr := p.remove(cctx, cfg.Name, cfg.KubeconfigPath); derr != nil {
					err = errors.Join(err, fmt.Errorf("cleanup also failed: %w", derr))
				}
				cancel()
			} else if r.created {
				err = fmt.Errorf("%w\n(the cluster was kept because of --retain: `skiff export logs --name %s` collects its logs, `skiff delete --name %s` removes it)", err, cfg.Name, cfg.Name)
			}
			return nil, err
		}
	}
	p.status.End(true)
	return &r.out, nil
}

// TimeoutError is a create step that did not finish in time.
type TimeoutError struct {
	Step      string
	Wait      time.Duration
	Err       error
	Diagnosis string
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("timed out after %s at step %q: %v%s", e.Wait, e.Step, e.Err, e.Diagnosis)
}

func (e *TimeoutError) Unwrap() error { return e.Err }

func (r *createRun) preflight(ctx context.Context) error {
	d := r.p.docker
	info, err := d.Info(ctx)
	if err != nil {
		return fmt.Errorf("failed to query Docker: %w", err)
	}
	r.host.CgroupV2 = info.CgroupVersion == "2"
	if _, err := d.ImageInspect(ctx, r.cfg.Image); err != nil {
		return fmt.Errorf("node image %s not found: build it with `skiff image build` (or `make image`), or load one with `skiff image load -i FILE`", r.cfg.Image)
	}
	if _, err := r.p.node(ctx, r.cfg.Name); err == nil {
		return fmt.Errorf("cluster %q already exists: delete it with `skiff delete --name %s` or pick another --name", r.cfg.Name, r.cfg.Name)
	} else if !errors.As(err, new(*NotFoundError)) {
		return err
	}
	// Ports the user asked for must be free; defaults are chosen later,
	// under the host lock (see choosePorts).
	for _, p := range []int{r.cfg.APIServerPort, r.cfg.HTTPPort, r.cfg.HTTPSPort, r.cfg.RegistryPort} {
		if p != 0 {
			if err := portFree(r.cfg.APIServerAddress, p); err != nil {
				return err
			}
		}
	}
	for _, pm := range r.cfg.PortMappings {
		if pm.HostPort != 0 && strings.ToLower(or(pm.Protocol, "tcp")) == "tcp" {
			if err := portFree(or(pm.ListenAddress, "0.0.0.0"), pm.HostPort); err != nil {
				return err
			}
		}
	}
	return nil
}

// choosePorts picks the ports left to skiff: a free API server port and the
// addon ports. It runs under the host lock, and skips ports another skiff
// cluster has published (Docker may hold them without a listening socket,
// or the cluster may be stopped).
func (r *createRun) choosePorts(ctx context.Context) error {
	reserved, err := r.p.reservedPorts(ctx)
	if err != nil {
		return err
	}
	if r.cfg.APIServerPort == 0 {
		if r.cfg.APIServerPort, err = freePort(r.cfg.APIServerAddress); err != nil {
			return err
		}
	}
	return r.addonPorts(reserved)
}

// addonPorts publishes the ingress and registry ports on 127.0.0.1: the
// requested port, else the usual one when free, else a free one. A kind
// extraPortMapping of the ingress node ports takes precedence. The
// registry listens in the node on the same port as on the host, so
// localhost:PORT/image names the same image on both.
func (r *createRun) addonPorts(reserved map[int]bool) error {
	for _, a := range []struct {
		node, want, usual int
	}{
		{NodeHTTPPort, r.cfg.HTTPPort, 80},
		{NodeHTTPSPort, r.cfg.HTTPSPort, 443},
		{0, r.cfg.RegistryPort, 5001},
	} {
		if a.node != 0 && slices.ContainsFunc(r.cfg.PortMappings, func(pm PortMapping) bool { return pm.ContainerPort == a.node }) {
			continue
		}
		port := a.want
		switch {
		case port != 0:
			if err := portFree("127.0.0.1", port); err != nil {
				return err
			}
		case !reserved[a.usual] && portFree("127.0.0.1", a.usual) == nil:
			port = a.usual
		default:
			p, err := freePort("127.0.0.1")
			if err != nil {
				return err
			}
			port = p
		}
		node := a.node
		if node == 0 {
			node, r.cfg.RegistryPort = port, port
		}
		r.cfg.PortMappings = append(r.cfg.PortMappings, PortMapping{ContainerPort: node, HostPort: port, ListenAddress: "127.0.0.1"})
	}
	return nil
}

func freePort(addr string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
	if err != nil {
		return 0, fmt.Errorf("failed to find a free port on %s: %w", addr, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// PortInUseError says a host port is taken.
type PortInUseError struct {
	Addr string
	Port int
}

func (e *PortInUseError) Error() string {
	return fmt.Sprintf("port %d on %s is already in use: free it or choose another port", e.Port, e.Addr)
}

func portFree(addr string, port int) error {
	l, err := net.Listen("tcp", net.JoinHostPort(addr, strconv.Itoa(port)))
	if err != nil {
		return &PortInUseError{Addr: addr, Port: port}
	}
	return l.Close()
}

func (r *createRun) certificates(context.Context) error {
	files, err := pki.Generate(pki.Config{
		ClusterName:   r.cfg.Name,
		NodeName:      NodeName(r.cfg.Name),
		ServiceCIDR:   r.cfg.ServiceSubnet,
		APIServerSANs: []string{r.cfg.APIServerAddress},
	})
	if err != nil {
		return err
	}
	r.files = files
	return nil
}

func (r *createRun) startNode(ctx context.Context) error {
	d := r.p.docker
	subnet, err := r.p.ensureNetwork(ctx)
	if err != nil {
		return err
	}
	// Picking a free LoadBalancer pool and creating the container that
	// records it must not interleave with another create on this host.
	unlock, err := hostLock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	if r.lbPool, err = r.p.freePool(ctx, subnet); err != nil {
		return err
	}
	if err := r.choosePorts(ctx); err != nil {
		return err
	}
	r.created = true
	if _, err := d.VolumeCreate(ctx, volume.CreateOptions{Name: volumeName(r.cfg.Name), Labels: map[string]string{LabelCluster: r.cfg.Name}}); err != nil {
		return fmt.Errorf("failed to create volume: %w", err)
	}
	dns, err := serviceIP(r.cfg.ServiceSubnet, 10)
	if err != nil {
		return err
	}
	nc := node.Config{
		ClusterName:   r.cfg.Name,
		NodeName:      NodeName(r.cfg.Name),
		PodSubnet:     r.cfg.PodSubnet,
		ServiceSubnet: r.cfg.ServiceSubnet,
		DNSIP:         dns,
		KubeProxyMode: r.cfg.KubeProxyMode,
		FeatureGates:  r.cfg.FeatureGates,
		RuntimeConfig: r.cfg.RuntimeConfig,
		NodeLabels:    r.cfg.NodeLabels,
		Addons:        r.cfg.Addons,
	}
	nc.LoadBalancerPool, nc.RegistryPort = r.lbPool.String(), r.cfg.RegistryPort
	// Prefer --privileged; fall back to the explicit capability set where
	// the daemon refuses it (it cannot pass on every capability).
	for _, privileged := range []bool{true, false} {
		r.host.Privileged = privileged
		nc.Privileged = privileged
		err = r.createAndStart(ctx, nc)
		if err == nil {
			r.out.Privileged = privileged
			r.p.logf("node container %s started (privileged: %t)", NodeName(r.cfg.Name), privileged)
			return nil
		}
		if !privileged || !errdefs.IsSystem(err) && !strings.Contains(err.Error(), "operation not permitted") {
			return err
		}
		r.p.logf("--privileged refused (%v); using the explicit capability set", err)
		if rerr := d.ContainerRemove(ctx, NodeName(r.cfg.Name), container.RemoveOptions{Force: true}); rerr != nil {
			return errors.Join(err, rerr)
		}
	}
	return err
}

func (r *createRun) createAndStart(ctx context.Context, nc node.Config) error {
	d := r.p.docker
	spec, err := translate(r.cfg, r.host)
	if err != nil {
		return err
	}
	spec.Config.Labels[LabelLBPool] = r.lbPool.String()
	c, err := d.ContainerCreate(ctx, spec.Config, spec.Host, spec.Networking, nil, spec.Name)
	if err != nil {
		return fmt.Errorf("failed to create node container: %w", err)
	}
	r.id = c.ID
	cfgJSON, err := json.MarshalIndent(nc, "", "  ")
	if err != nil {
		return err
	}
	files := pki.Files{"skiff/config.json": cfgJSON}
	for k, v := range r.files {
		files["skiff/"+k] = v
	}
	tarball, err := files.Tar()
	if err != nil {
		return err
	}
	if err := d.CopyToContainer(ctx, c.ID, "/var/lib", bytes.NewReader(tarball), container.CopyToContainerOptions{}); err != nil {
		return fmt.Errorf("failed to copy configuration into the node: %w", err)
	}
	if err := d.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
		return fmt.Errorf("failed to start node container: %w", err)
	}
	return nil
}

// serviceIP returns the n-th address of a service subnet (10 is the DNS
// Service, by convention).
func serviceIP(subnet string, n byte) (string, error) {
	_, ipnet, err := net.ParseCIDR(subnet)
	if err != nil {
		return "", fmt.Errorf("invalid service subnet %q: %w", subnet, err)
	}
	ip := ipnet.IP.To4()
	out := net.IPv4(ip[0], ip[1], ip[2], ip[3]+n)
	return out.String(), nil
}

func (r *createRun) writeKubeconfig(context.Context) error {
	path := kubeconfig.Path(r.cfg.KubeconfigPath)
	cfg, err := r.files.AdminKubeconfig(ContextName(r.cfg.Name), r.cfg.Server())
	if err != nil {
		return err
	}
	if err := kubeconfig.Merge(path, cfg); err != nil {
		return err
	}
	r.out.Context, r.out.Kubeconfig, r.out.Server = ContextName(r.cfg.Name), path, r.cfg.Server()
	for _, pm := range r.cfg.PortMappings {
		switch pm.ContainerPort {
		case NodeHTTPPort:
			r.out.HTTPPort = pm.HostPort
		case NodeHTTPSPort:
			r.out.HTTPSPort = pm.HostPort
		}
	}
	r.out.RegistryPort = r.cfg.RegistryPort
	return nil
}
