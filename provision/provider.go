package provision

import (
	"context"
	"fmt"
	"sort"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"github.com/skiff-k8s/skiff/images"
)

// Provider manages skiff clusters on one Docker engine.
type Provider struct {
	docker client.APIClient
	status Steps
	logf   func(format string, args ...any)
}

// Steps is where a long operation (create, start, snapshot) reports each
// step as it begins and ends; cli.Steps shows them to people.
type Steps interface {
	// Start begins a step, ending the previous one as successful.
	Start(step string)
	// End finishes the current step, if any.
	End(ok bool)
}

// quiet reports nothing.
type quiet struct{}

func (quiet) Start(string) {}
func (quiet) End(bool)     {}

// NewProvider returns a provider that reports steps on status (nil: quiet)
// and detail through logf (nil: none).
func NewProvider(docker client.APIClient, status Steps, logf func(string, ...any)) *Provider {
	if status == nil {
		status = quiet{}
	}
	if logf == nil {
		logf = func(string, ...any) {}
	}
	return &Provider{docker: docker, status: status, logf: logf}
}

// Docker returns the provider's Docker client.
func (p *Provider) Docker() client.APIClient { return p.docker }

// Cluster is one cluster as Docker shows it.
type Cluster struct {
	Name  string `json:"name"`
	Node  string `json:"node"`
	State string `json:"state"`
	Image string `json:"image"`
	// Kubernetes is the node image's Kubernetes version.
	Kubernetes string `json:"kubernetes"`
	APIServer  string `json:"apiServer"`
}

// List returns every skiff cluster, sorted by name.
func (p *Provider) List(ctx context.Context) ([]Cluster, error) {
	list, err := p.docker.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", LabelCluster))})
	if err != nil {
		return nil, fmt.Errorf("failed to list clusters: %w", err)
	}
	var out []Cluster
	for _, c := range list {
		name := c.Labels[LabelCluster]
		node := name
		if len(c.Names) > 0 {
			node = c.Names[0][1:]
		}
		out = append(out, Cluster{Name: name, Node: node, State: c.State, Image: c.Image,
			Kubernetes: c.Labels[images.LabelKubernetes], APIServer: c.Labels[LabelAPIServer]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// node returns the cluster's container, or an error that says the cluster
// does not exist.
func (p *Provider) node(ctx context.Context, name string) (container.InspectResponse, error) {
	c, err := p.docker.ContainerInspect(ctx, NodeName(name))
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return c, &NotFoundError{Name: name}
		}
		return c, fmt.Errorf("failed to inspect cluster %q: %w", name, err)
	}
	if c.Config.Labels[LabelCluster] != name {
		return c, fmt.Errorf("container %s exists but was not made by skiff: remove or rename it", NodeName(name))
	}
	return c, nil
}

// NotFoundError says a cluster does not exist.
type NotFoundError struct{ Name string }

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("cluster %q not found: `skiff list` shows the clusters there are", e.Name)
}
