package provision

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/go-connections/nat"

	"github.com/skiff-k8s/skiff/node"
)

// nodeSpec is everything Docker needs to create a node container.
type nodeSpec struct {
	Name       string
	Config     *container.Config
	Host       *container.HostConfig
	Networking *network.NetworkingConfig
}

// hostInfo is what translate needs to know about the Docker engine.
type hostInfo struct {
	EngineID   string // Docker's ID of the engine
	CgroupV2   bool
	Privileged bool // false: the explicit capability set
}

// translate turns a cluster config into a node container spec. It is pure,
// so it is tested without a daemon.
func translate(c *Config, h hostInfo) (*nodeSpec, error) {
	name := NodeName(c.Name)
	ports := nat.PortMap{}
	exposed := nat.PortSet{}
	add := func(containerPort int, proto, addr string, hostPort int) error {
		if proto == "" {
			proto = "tcp"
		}
		proto = strings.ToLower(proto)
		switch proto {
		case "tcp", "udp", "sctp":
		default:
			return fmt.Errorf("invalid port mapping protocol %q: use TCP, UDP or SCTP", proto)
		}
		if containerPort <= 0 || containerPort > 65535 || hostPort < 0 || hostPort > 65535 {
			return fmt.Errorf("invalid port mapping %d:%d: ports must be within 1-65535", hostPort, containerPort)
		}
		p := nat.Port(fmt.Sprintf("%d/%s", containerPort, proto))
		exposed[p] = struct{}{}
		hp := ""
		if hostPort != 0 {
			hp = strconv.Itoa(hostPort)
		}
		ports[p] = append(ports[p], nat.PortBinding{HostIP: addr, HostPort: hp})
		return nil
	}
	if err := add(node.APIServerPort, "tcp", c.APIServerAddress, c.APIServerPort); err != nil {
		return nil, err
	}
	for _, pm := range c.PortMappings {
		addr := pm.ListenAddress
		if addr == "" {
			addr = "0.0.0.0"
		}
		if err := add(pm.ContainerPort, pm.Protocol, addr, pm.HostPort); err != nil {
			return nil, err
		}
	}
	mounts := []mount.Mount{
		// All state (etcd, containerd, kubelet, volumes, PKI, logs) lives on
		// one named volume, so stop/start and Docker restarts keep it.
		{Type: mount.TypeVolume, Source: volumeName(c.Name), Target: "/var"},
	}
	for _, m := range c.Mounts {
		if m.HostPath == "" || !strings.HasPrefix(m.ContainerPath, "/") {
			return nil, fmt.Errorf("invalid extraMount %q -> %q: give a host path and an absolute container path", m.HostPath, m.ContainerPath)
		}
		bm := mount.Mount{Type: mount.TypeBind, Source: m.HostPath, Target: m.ContainerPath, ReadOnly: m.ReadOnly}
		switch m.Propagation {
		case "", "None":
		case "HostToContainer":
			bm.BindOptions = &mount.BindOptions{Propagation: mount.PropagationRSlave}
		case "Bidirectional":
			bm.BindOptions = &mount.BindOptions{Propagation: mount.PropagationRShared}
		default:
			return nil, fmt.Errorf("invalid extraMount propagation %q: use None, HostToContainer or Bidirectional", m.Propagation)
		}
		mounts = append(mounts, bm)
	}
	host := &container.HostConfig{
		PortBindings:  ports,
		Mounts:        mounts,
		RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyUnlessStopped},
		// The agent's own output; components log to capped files in the node.
		LogConfig:   container.LogConfig{Type: "json-file", Config: map[string]string{"max-size": "10m", "max-file": "2"}},
		Tmpfs:       map[string]string{"/run": "rw,nosuid,nodev,exec", "/tmp": "rw,nosuid,nodev,exec"},
		SecurityOpt: []string{"seccomp=unconfined", "apparmor=unconfined", "label=disable"},
		Privileged:  h.Privileged,
	}
	if !h.Privileged {
		// What --privileged grants, minus CAP_SYS_RESOURCE, which some
		// daemons cannot pass on (see PLATFORM.md). Empty masked and read-only
		// path lists are what `--security-opt systempaths=unconfined` sends.
		host.CapAdd = []string{"ALL"}
		host.CapDrop = []string{"SYS_RESOURCE"}
		host.MaskedPaths = []string{}
		host.ReadonlyPaths = []string{}
		host.Resources.DeviceCgroupRules = []string{"a *:* rwm"}
	}
	if h.CgroupV2 {
		host.CgroupnsMode = container.CgroupnsModePrivate
	} else {
		// cgroup v1: the node sees the host hierarchy and puts pods under
		// its own cgroup (see node.prepareCgroups).
		host.CgroupnsMode = container.CgroupnsModeHost
		host.Mounts = append(host.Mounts, mount.Mount{Type: mount.TypeBind, Source: "/sys/fs/cgroup", Target: "/sys/fs/cgroup"})
	}
	return &nodeSpec{
		Name: name,
		Config: &container.Config{
			Image:        c.Image,
			Hostname:     name,
			Env:          []string{"container=docker"},
			ExposedPorts: exposed,
			Labels: map[string]string{
				LabelCluster:    c.Name,
				LabelAPIServer:  c.Server(),
				LabelPrivileged: strconv.FormatBool(h.Privileged),
			},
			StopSignal: "SIGTERM",
		},
		Host: host,
		Networking: &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
			networkName: {Aliases: []string{name}},
		}},
	}, nil
}
