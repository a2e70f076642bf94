// Create's host ports: the API server's, and the ingress and registry
// ports published on 127.0.0.1.

package provision

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"syscall"
	"time"
)

// choosePorts picks the ports left to skiff: a free API server port and the
// addon ports. It runs under the host lock, and skips ports another skiff
// cluster has published (Docker may hold them without a listening socket,
// or the cluster may be stopped).
func (r *createRun) choosePorts(ctx context.Context) error {
	reserved, err := r.p.reservedPorts(ctx)
	if err != nil {
		return err
	}
	for port := range r.refused {
		reserved[port] = true
	}
	if r.cfg.APIServerPort == 0 {
		if r.cfg.APIServerPort, err = freePort(r.cfg.APIServerAddress, reserved); err != nil {
			return err
		}
	}
	return r.addonPorts(reserved)
}

// addonPorts publishes the ingress and registry ports on 127.0.0.1, for
// the addons that are on: the requested port, else the usual one when free,
// else a free one. A kind extraPortMapping of the ingress node ports takes
// precedence. The registry's host port goes to its port in the node (an
// older image's registry listens on the host's port itself);
// localhost:PORT/image names the same image on the host and in the node.
func (r *createRun) addonPorts(reserved map[int]bool) error {
	for _, a := range []struct {
		addon             string
		node, want, usual int
	}{
		{"ingress", NodeHTTPPort, r.cfg.HTTPPort, 80},
		{"ingress", NodeHTTPSPort, r.cfg.HTTPSPort, 443},
		{"registry", 0, r.cfg.RegistryPort, 5001},
	} {
		if !r.cfg.addonEnabled(a.addon) {
			if a.node == 0 {
				r.cfg.RegistryPort = 0
			}
			continue
		}
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
			p, err := freePort("127.0.0.1", reserved)
			if err != nil {
				return err
			}
			port = p
		}
		node := a.node
		if node == 0 {
			node, r.cfg.RegistryPort = cmp.Or(r.registryNodePort, port), port
		}
		r.cfg.PortMappings = append(r.cfg.PortMappings, PortMapping{ContainerPort: node, HostPort: port, ListenAddress: "127.0.0.1"})
	}
	return nil
}

// freePort returns a port the kernel finds free on addr and no skiff
// cluster has published. A stopped cluster's ports are free to the kernel;
// given to a new cluster, the stopped one could not start again ("port is
// already allocated").
func freePort(addr string, reserved map[int]bool) (int, error) {
	return unreservedPort(reserved, func() (int, error) {
		l, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
		if err != nil {
			return 0, fmt.Errorf("failed to find a free port on %s: %w", addr, err)
		}
		defer l.Close()
		return l.Addr().(*net.TCPAddr).Port, nil
	})
}

// unreservedPort asks pick for ports until one is not reserved.
func unreservedPort(reserved map[int]bool, pick func() (int, error)) (int, error) {
	for range 100 {
		p, err := pick()
		if err != nil || !reserved[p] {
			return p, err
		}
	}
	return 0, errors.New("failed to find a free port that no skiff cluster has published")
}

// PortInUseError says a host port is taken.
type PortInUseError struct {
	Addr string
	Port int
}

func (e *PortInUseError) Error() string {
	return fmt.Sprintf("port %d on %s is already in use: free it or choose another port", e.Port, e.Addr)
}

// portFree reports whether Docker can publish port on addr. Docker binds
// it, not the caller, so a port below 1024 that a non-root user may not
// bind counts as free when nothing listens on it.
func portFree(addr string, port int) error {
	hostPort := net.JoinHostPort(addr, strconv.Itoa(port))
	l, err := net.Listen("tcp", hostPort)
	switch {
	case err == nil:
		return l.Close()
	case errors.Is(err, syscall.EADDRINUSE):
		return &PortInUseError{Addr: addr, Port: port}
	case errors.Is(err, syscall.EACCES):
		dial := addr
		if ip := net.ParseIP(addr); ip != nil && ip.IsUnspecified() {
			dial = "127.0.0.1"
		}
		c, derr := net.DialTimeout("tcp", net.JoinHostPort(dial, strconv.Itoa(port)), time.Second)
		if derr != nil {
			return nil
		}
		c.Close()
		return &PortInUseError{Addr: addr, Port: port}
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return fmt.Errorf("address %s is not one of this host's: use 127.0.0.1 or an address of this machine", addr)
	default:
		return fmt.Errorf("check port %d on %s: %w", port, addr, err)
	}
}

// allocatedPort is the host port in Docker's refusal to publish one that
// something took since it was found free ("Bind for 127.0.0.1:41515
// failed: port is already allocated"): another process, or a port Docker
// still holds for a container being removed.
var allocatedPort = regexp.MustCompile(`Bind for [^ ]*:(\d+) failed: port is already allocated`)

// portRefused returns the port of such a refusal, 0 for any other error.
func portRefused(err error) int {
	if err == nil {
		return 0
	}
	m := allocatedPort.FindStringSubmatch(err.Error())
	if m == nil {
		return 0
	}
	port, _ := strconv.Atoi(m[1])
	return port
}

// portChoice is what the user asked for, before choosePorts fills in the
// rest.
type portChoice struct {
	apiServer, registry, http, https int
	mappings                         []PortMapping
}

func (r *createRun) savePorts() portChoice {
	return portChoice{r.cfg.APIServerPort, r.cfg.RegistryPort, r.cfg.HTTPPort, r.cfg.HTTPSPort, slices.Clone(r.cfg.PortMappings)}
}

func (r *createRun) restorePorts(c portChoice) {
	r.cfg.APIServerPort, r.cfg.RegistryPort, r.cfg.PortMappings = c.apiServer, c.registry, slices.Clone(c.mappings)
}

// asked reports whether the user chose host port port.
func (c portChoice) asked(port int) bool {
	return port == c.apiServer || port == c.registry || port == c.http || port == c.https ||
		slices.ContainsFunc(c.mappings, func(pm PortMapping) bool { return pm.HostPort == port })
}
