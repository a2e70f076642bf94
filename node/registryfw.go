package node

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/skiff-k8s/skiff/images"
)

// registryChain is the filter chain that guards the registry port.
const registryChain = "SKIFF-REGISTRY"

// registryNodePort is the registry addon's port on the node's network, 0
// without the addon's host port.
func registryNodePort(c *Config) int {
	if c.RegistryPort <= 0 {
		return 0
	}
	return images.RegistryNodePort
}

// isolateRegistry keeps containers of other clusters on the shared Docker
// network from using this node's registry: the registry listens on the
// node's network (hostNetwork), and on eth0 only the host may reach it. The
// host's traffic through the published 127.0.0.1 port arrives from the
// Docker network's gateway, both through Docker's userland proxy and through
// its NAT rules without it; the node's pods (their own interfaces) and
// containerd (localhost) never come in on eth0. Each container start has a
// new network namespace and maybe a new gateway, so this runs at every
// boot. It runs before the agent's reaper starts, so plain exec is safe.
func isolateRegistry(port int) error {
	if port <= 0 {
		return nil
	}
	gw, err := defaultGateway("/proc/net/route", "eth0")
	if err != nil {
		return fmt.Errorf("failed to isolate the registry: %w", err)
	}
	if err := restoreRules("iptables-restore", registryRules(port, gw)); err != nil {
		return fmt.Errorf("failed to isolate the registry: %w", err)
	}
	// The registry listens on IPv6 too, where a link-local address can reach
	// it; the host never does.
	if _, err := os.Stat("/proc/net/if_inet6"); err == nil {
		if err := restoreRules("ip6tables-restore", registryRules(port, nil)); err != nil {
			return fmt.Errorf("failed to isolate the registry: %w", err)
		}
	}
	return nil
}

// registryRules is the iptables-restore input that lets only allowed (when
// not nil) reach port over eth0. Declaring the chain empties it, so
// applying the rules twice leaves a second jump into the same chain, which
// changes nothing.
func registryRules(port int, allowed net.IP) string {
	var b strings.Builder
	fmt.Fprintf(&b, "*filter\n:%s - [0:0]\n", registryChain)
	if allowed != nil {
		fmt.Fprintf(&b, "-A %s -s %s/32 -j RETURN\n", registryChain, allowed)
	}
	// A reset, not a silent drop: the other side fails at once instead of
	// hanging until its timeout.
	fmt.Fprintf(&b, "-A %s -p tcp -j REJECT --reject-with tcp-reset\n", registryChain)
	fmt.Fprintf(&b, "-I INPUT 1 -i eth0 -p tcp --dport %d -j %s\nCOMMIT\n", port, registryChain)
	return b.String()
}

func restoreRules(tool, rules string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, tool, "--noflush", "--wait", "10")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %w: %s", tool, err, bytes.TrimSpace(out))
	}
	return nil
}

// defaultGateway reads the IPv4 default route's gateway on iface from a
// /proc/net/route table (each address is its network-order bytes read as a native integer, in hex).
func defaultGateway(routeTable, iface string) (net.IP, error) {
	data, err := os.ReadFile(routeTable)
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(string(data), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 3 || f[0] != iface || f[1] != "00000000" {
			continue
		}
		v, err := strconv.ParseUint(f[2], 16, 32)
		if err != nil {
			return nil, fmt.Errorf("bad gateway %q in %s: %w", f[2], routeTable, err)
		}
		ip := make(net.IP, 4)
		binary.NativeEndian.PutUint32(ip, uint32(v))
		return ip, nil
	}
	return nil, fmt.Errorf("no default route on %s in %s", iface, routeTable)
}
