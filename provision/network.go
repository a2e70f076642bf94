package provision

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"golang.org/x/sys/unix"
)

// The shared "skiff" network: Docker gives containers addresses only from
// the lower half of its subnet; the upper half is cut into one /24 per
// cluster for LoadBalancer Services, so no container is ever given one.
var subnetCandidates = []string{"172.30.0.0/16", "172.31.0.0/16", "10.210.0.0/16", "10.211.0.0/16"}

// ensureNetwork makes the shared network if it is missing and returns its
// subnet. Clusters share it, like kind's "kind" network; it is never removed.
func (p *Provider) ensureNetwork(ctx context.Context) (*net.IPNet, error) {
	if n, err := p.docker.NetworkInspect(ctx, networkName, network.InspectOptions{}); err == nil {
		return networkSubnet(n)
	}
	subnet, err := p.freeSubnet(ctx)
	if err != nil {
		return nil, err
	}
	_, err = p.docker.NetworkCreate(ctx, networkName, network.CreateOptions{
		Driver: "bridge",
		Labels: map[string]string{"dev.skiff.network": "true"},
		IPAM: &network.IPAM{Config: []network.IPAMConfig{{
			Subnet:  subnet.String(),
			IPRange: containerRange(subnet).String(),
		}}},
	})
	if err != nil && !cerrdefs.IsConflict(err) {
		return nil, fmt.Errorf("failed to create Docker network %s: %w", networkName, err)
	}
	n, err := p.docker.NetworkInspect(ctx, networkName, network.InspectOptions{})
	if err != nil {
		return nil, fmt.Errorf("failed to inspect Docker network %s: %w", networkName, err)
	}
	return networkSubnet(n)
}

func networkSubnet(n network.Inspect) (*net.IPNet, error) {
	for _, c := range n.IPAM.Config {
		if _, s, err := net.ParseCIDR(c.Subnet); err == nil && s.IP.To4() != nil {
			return s, nil
		}
	}
	return nil, fmt.Errorf("Docker network %s has no IPv4 subnet: remove it (docker network rm %s) and retry", networkName, networkName)
}

// freeSubnet picks the first candidate that overlaps no Docker network and
// no address of this host.
func (p *Provider) freeSubnet(ctx context.Context) (*net.IPNet, error) {
	var used []*net.IPNet
	nets, err := p.docker.NetworkList(ctx, network.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("failed to list Docker networks: %w", err)
	}
	for _, n := range nets {
		for _, c := range n.IPAM.Config {
			if _, s, err := net.ParseCIDR(c.Subnet); err == nil {
				used = append(used, s)
			}
		}
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				used = append(used, n)
			}
		}
	}
	return pickSubnet(subnetCandidates, used)
}

func pickSubnet(candidates []string, used []*net.IPNet) (*net.IPNet, error) {
	for _, c := range candidates {
		_, s, _ := net.ParseCIDR(c)
		free := true
		for _, u := range used {
			if u.Contains(s.IP) || s.Contains(u.IP) {
				free = false
				break
			}
		}
		if free {
			return s, nil
		}
	}
	return nil, fmt.Errorf("no free subnet for the skiff network among %v: remove an overlapping Docker network", candidates)
}

// containerRange is the lower half of the subnet, where Docker assigns
// container addresses.
func containerRange(s *net.IPNet) *net.IPNet {
	ones, bits := s.Mask.Size()
	return &net.IPNet{IP: s.IP, Mask: net.CIDRMask(ones+1, bits)}
}

// lbPool returns the index-th /24 of the subnet's upper half: cluster
// number index's LoadBalancer addresses.
func lbPool(s *net.IPNet, index int) (*net.IPNet, error) {
	ones, _ := s.Mask.Size()
	if ones > 23 {
		return nil, fmt.Errorf("skiff network %s is too small for LoadBalancer pools", s)
	}
	count := 1 << (24 - ones - 1)
	if index < 0 || index >= count {
		return nil, fmt.Errorf("all %d LoadBalancer pools of the skiff network are taken: delete a cluster", count)
	}
	ip := s.IP.To4()
	base := uint32(ip[0])<<24 | uint32(ip[1])<<16 | uint32(ip[2])<<8
	base += uint32(count+index) << 8
	return &net.IPNet{IP: net.IPv4(byte(base>>24), byte(base>>16), byte(base>>8), 0).To4(), Mask: net.CIDRMask(24, 32)}, nil
}

// freePool returns the lowest LoadBalancer pool no cluster's container
// claims (by label).
func (p *Provider) freePool(ctx context.Context, subnet *net.IPNet) (*net.IPNet, error) {
	list, err := p.docker.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", LabelLBPool))})
	if err != nil {
		return nil, fmt.Errorf("failed to list clusters: %w", err)
	}
	taken := map[string]bool{}
	for _, c := range list {
		taken[c.Labels[LabelLBPool]] = true
	}
	for i := 0; ; i++ {
		pool, err := lbPool(subnet, i)
		if err != nil {
			return nil, err
		}
		if !taken[pool.String()] {
			return pool, nil
		}
	}
}

// hostLock serialises the short critical sections of concurrent creates on
// this host (a flock, released on unlock or when the process dies). The lock
// file is in the user's own cache directory, not a predictable name in /tmp
// that another user could create first or swap for a symlink.
func hostLock(ctx context.Context) (unlock func(), err error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return nil, fmt.Errorf("failed to find a directory for the create lock: %w", err)
	}
	f, err := openLock(filepath.Join(dir, "skiff"), "create.lock")
	if err != nil {
		return nil, err
	}
	for {
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err == nil {
			return func() { f.Close() }, nil
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for another skiff create: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// openLock opens dir/name, never through a symlink, making dir 0700 if it
// is missing.
func openLock(dir, name string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("failed to create %s: %w", dir, err)
	}
	if st, err := os.Lstat(dir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("lock directory %s is not a directory: remove it", dir)
	}
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_RDWR|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("failed to open lock %s: %w", filepath.Join(dir, name), err)
	}
	return f, nil
}

// reservedPorts returns the host ports every skiff cluster has published,
// running or stopped.
func (p *Provider) reservedPorts(ctx context.Context) (map[int]bool, error) {
	list, err := p.docker.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", LabelCluster))})
	if err != nil {
		return nil, fmt.Errorf("failed to list clusters: %w", err)
	}
	ports := map[int]bool{}
	for _, c := range list {
		insp, err := p.docker.ContainerInspect(ctx, c.ID)
		if err != nil {
			continue
		}
		for _, bindings := range insp.HostConfig.PortBindings {
			for _, b := range bindings {
				if n, err := strconv.Atoi(b.HostPort); err == nil {
					ports[n] = true
				}
			}
		}
	}
	return ports, nil
}
