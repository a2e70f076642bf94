package provision

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"

	"github.com/skiff-k8s/skiff/images"
	"github.com/skiff-k8s/skiff/internal/signals"
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
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
}

// createRun carries state between create's steps.
type createRun struct {
	p      *Provider
	cfg    *Config
	files  pki.Files
	host   hostInfo
	lbPool *net.IPNet
	from   *clone // the snapshot a create --from starts from
	// registryNodePort is the registry's port in the node image's nodes
	// (its LabelRegistryNodePort); 0: the host's port, as older images.
	registryNodePort int
	made             made // what a failure must remove: only what this run made
	out              Created
	// refused: host ports Docker refused to publish for this create.
	refused map[int]bool
}

// made records the objects one create made, so a failed create removes
// those and nothing else (a concurrent create of the same name owns its
// own).
type made struct {
	container  string // ID
	volume     bool
	kubeconfig bool
}

func (m made) any() bool { return m.container != "" || m.volume || m.kubeconfig }

// Create makes a cluster and returns when it is usable: the API server
// ready, the node Ready, system pods Ready and the default ServiceAccount
// present. With cfg.From it starts from that snapshot's volume. A failed
// or interrupted create removes what it made unless cfg.Retain.
func (p *Provider) Create(ctx context.Context, cfg *Config) (*Created, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &createRun{p: p, cfg: cfg}
	startStep := "Starting node container"
	if cfg.From != "" {
		startStep = fmt.Sprintf("Copying snapshot %q and starting node container", cfg.From)
	}
	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"Checking Docker, image and ports", r.preflight},
		{"Generating certificates", r.certificates},
		{startStep, r.startNode},
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
				err = &TimeoutError{Step: s.name, Wait: cfg.Wait, Err: err, Diagnosis: p.diagnose(ctx, cfg.Name)}
			}
			if ctx.Err() != nil {
				err = fmt.Errorf("create interrupted: %w", err)
			}
			switch {
			case !r.made.any():
			case cfg.Retain:
				err = fmt.Errorf("%w\n(the cluster was kept because of --retain: `skiff export logs --name %s` collects its logs, `skiff delete --name %s` removes it)", err, cfg.Name, cfg.Name)
			default:
				err = errors.Join(err, r.cleanup(ctx))
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

// cleanup removes what this create made. A second interrupt stops it; the
// error then says what is left and how to remove it.
func (r *createRun) cleanup(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(signals.Cleanup(ctx), 30*time.Second)
	defer cancel()
	d := r.p.docker
	var errs []error
	if r.made.kubeconfig {
		if err := kubeconfig.Remove(kubeconfig.Path(r.cfg.KubeconfigPath), ContextName(r.cfg.Name)); err != nil {
			errs = append(errs, err)
		} else {
			r.made.kubeconfig = false
		}
	}
	if r.made.container != "" {
		if err := d.ContainerRemove(cctx, r.made.container, container.RemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove node container: %w", err))
		} else {
			r.made.container = ""
		}
	}
	if r.made.volume {
		if err := d.VolumeRemove(cctx, volumeName(r.cfg.Name), true); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove volume %s: %w", volumeName(r.cfg.Name), err))
		} else {
			r.made.volume = false
		}
	}
	if len(errs) == 0 {
		return nil
	}
	var left []string
	if r.made.container != "" {
		left = append(left, "container "+NodeName(r.cfg.Name))
	}
	if r.made.volume {
		left = append(left, "volume "+volumeName(r.cfg.Name))
	}
	if r.made.kubeconfig {
		left = append(left, "kubeconfig context "+ContextName(r.cfg.Name))
	}
	what := "cleanup failed"
	if cctx.Err() != nil && errors.Is(signals.Cleanup(ctx).Err(), context.Canceled) {
		what = "cleanup stopped by a second interrupt"
	}
	return fmt.Errorf("%s (%w): left %s: remove with `skiff delete --name %s`", what, errors.Join(errs...), strings.Join(left, ", "), r.cfg.Name)
}

func (r *createRun) preflight(ctx context.Context) error {
	d := r.p.docker
	if r.cfg.From != "" {
		c, err := r.p.readClone(ctx, r.cfg.From)
		if err != nil {
			return err
		}
		if err := c.applyTo(r.cfg); err != nil {
			return err
		}
		r.from = c
	}
	info, err := d.Info(ctx)
	if err != nil {
		return fmt.Errorf("failed to query Docker: %w", err)
	}
	r.host.EngineID, r.host.CgroupV2 = info.ID, info.CgroupVersion == "2"
	img, err := d.ImageInspect(ctx, r.cfg.Image)
	if err != nil {
		return fmt.Errorf("node image %s not found: build it with `skiff image build` (or `make image`), or load one with `skiff image load -i FILE`", r.cfg.Image)
	}
	if img.Config != nil {
		if err := checkFeatureGates(r.cfg.FeatureGates, img.Config.Labels[images.LabelFeatureGates]); err != nil {
			return err
		}
		if l := img.Config.Labels[images.LabelRegistryNodePort]; l != "" {
			if r.registryNodePort, err = strconv.Atoi(l); err != nil {
				return fmt.Errorf("node image %s: label %s=%q is not a port", r.cfg.Image, images.LabelRegistryNodePort, l)
			}
		}
	}
	if err := r.p.absent(ctx, r.cfg.Name); err != nil {
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

// absent fails with "already exists" when the cluster's container or
// volume exists.
func (p *Provider) absent(ctx context.Context, name string) error {
	if _, err := p.node(ctx, name); err == nil {
		return existsError(name)
	} else if !errors.As(err, new(*NotFoundError)) {
		return err
	}
	if _, err := p.docker.VolumeInspect(ctx, volumeName(name)); err == nil {
		return fmt.Errorf("cluster %q already exists (its volume %s does, without a container): `skiff delete --name %s` removes it", name, volumeName(name), name)
	} else if !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("inspect volume %s: %w", volumeName(name), err)
	}
	return nil
}

func existsError(name string) error {
	return fmt.Errorf("cluster %q already exists: delete it with `skiff delete --name %s` or pick another --name", name, name)
}

// checkFeatureGates refuses gate names the node image's Kubernetes does not
// know. known is the image's comma-separated list; an image without one
// (built by an older skiff) leaves the check to the node.
func checkFeatureGates(gates map[string]bool, known string) error {
	if known == "" {
		return nil
	}
	names := strings.Split(known, ",")
	for g := range gates {
		if !slices.Contains(names, g) {
			return fmt.Errorf("unknown feature gate %q: this node image's Kubernetes does not have it (names are case-sensitive; `kube-apiserver --help` lists them)", g)
		}
	}
	return nil
}

func (r *createRun) certificates(context.Context) error {
	if r.from != nil {
		files, err := r.from.stateFiles(r.cfg.Name, r.cfg.APIServerAddress)
		r.files = files
		return err
	}
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

func (r *createRun) writeKubeconfig(context.Context) error {
	path := kubeconfig.Path(r.cfg.KubeconfigPath)
	cfg, err := r.files.AdminKubeconfig(ContextName(r.cfg.Name), r.cfg.Server())
	if err != nil {
		return err
	}
	if err := kubeconfig.Merge(path, cfg); err != nil {
		return err
	}
	r.made.kubeconfig = true
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
