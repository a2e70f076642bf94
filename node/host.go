package node

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"golang.org/x/sys/unix"
)

// prepareHost makes the container look enough like a machine for the
// kubelet: shared mount propagation, /dev/kmsg, a machine-id, forwarding,
// and a cgroup the kubelet may create pod cgroups under. It returns that
// cgroup (the kubelet's cgroupRoot).
func prepareHost() (string, error) {
	// Volume mounts made by the kubelet must propagate into containers.
	if err := unix.Mount("", "/", "", unix.MS_SHARED|unix.MS_REC, ""); err != nil {
		return "", fmt.Errorf("failed to make / shared: %w", err)
	}
	if err := ensureKmsg(); err != nil {
		return "", err
	}
	if err := ensureMachineID(); err != nil {
		return "", err
	}
	for _, d := range []string{RunDir, LogDir, "/etc/cni/net.d", etcdDataDir, "/var/lib/kubelet"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", err
		}
	}
	if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644); err != nil {
		return "", fmt.Errorf("failed to enable IP forwarding: %w", err)
	}
	return prepareCgroups()
}

func ensureKmsg() error {
	if _, err := os.Stat("/dev/kmsg"); err == nil {
		return nil
	}
	// The kubelet's OOM watcher reads /dev/kmsg; Docker only passes it to
	// --privileged containers.
	if err := unix.Mknod("/dev/kmsg", unix.S_IFCHR|0o600, int(unix.Mkdev(1, 11))); err != nil {
		if err := os.Symlink("/dev/console", "/dev/kmsg"); err != nil {
			return fmt.Errorf("failed to create /dev/kmsg: %w", err)
		}
	}
	return nil
}

func ensureMachineID() error {
	if data, err := os.ReadFile("/etc/machine-id"); err == nil && len(strings.TrimSpace(string(data))) == 32 {
		return nil
	}
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return err
	}
	return os.WriteFile("/etc/machine-id", []byte(hex.EncodeToString(id)+"\n"), 0o444)
}

// prepareCgroups returns the cgroup under which the kubelet puts pods.
//
// cgroup v1 (host cgroup namespace, /sys/fs/cgroup bind-mounted): pods go
// under the node container's own cgroup, so two clusters never share
// /kubepods and `docker rm` cleans everything up.
//
// cgroup v2 (private cgroup namespace): the container's cgroup is the root;
// the agent moves itself to /init so that controllers can be delegated to
// the kubelet's cgroups (no processes may live in an inner cgroup).
func prepareCgroups() (string, error) {
	if cgroupV1() {
		return ownCgroupV1()
	}
	// Docker mounts the cgroup2 tree read-only for unprivileged containers.
	_ = unix.Mount("", "/sys/fs/cgroup", "", unix.MS_REMOUNT, "")
	if err := os.MkdirAll("/sys/fs/cgroup/init", 0o755); err != nil {
		return "", fmt.Errorf("failed to create init cgroup: %w", err)
	}
	procs, err := os.ReadFile("/sys/fs/cgroup/cgroup.procs")
	if err != nil {
		return "", err
	}
	for _, pid := range strings.Fields(string(procs)) {
		_ = os.WriteFile("/sys/fs/cgroup/init/cgroup.procs", []byte(pid), 0o644)
	}
	ctrls, err := os.ReadFile("/sys/fs/cgroup/cgroup.controllers")
	if err != nil {
		return "", err
	}
	var enable []string
	for _, c := range strings.Fields(string(ctrls)) {
		enable = append(enable, "+"+c)
	}
	if err := os.WriteFile("/sys/fs/cgroup/cgroup.subtree_control", []byte(strings.Join(enable, " ")), 0o644); err != nil {
		return "", fmt.Errorf("failed to delegate cgroup controllers: %w", err)
	}
	return "/", nil
}

// cgroupV1 is true when the node has no unified (v2) cgroup hierarchy.
func cgroupV1() bool {
	_, err := os.Stat("/sys/fs/cgroup/cgroup.controllers")
	return errors.Is(err, os.ErrNotExist)
}

// describeCgroups says which cgroup path prepareCgroups took, as the node
// sees it: "v2 ..." or "v1 ...", and where the kubelet puts pods.
func describeCgroups(root string) string {
	if cgroupV1() {
		return "v1, pods under the node's own cgroup " + root
	}
	return "v2, pods under " + root + " of the node's cgroup namespace, agent in /init"
}

func ownCgroupV1() (string, error) {
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(data), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) == 3 && strings.Contains(","+parts[1]+",", ",memory,") {
			return filepath.Clean(parts[2]), nil
		}
	}
	return "", fmt.Errorf("no memory cgroup in /proc/self/cgroup")
}

// nodeIP returns the container's IPv4 address on eth0.
func nodeIP() (string, error) {
	iface, err := net.InterfaceByName("eth0")
	if err != nil {
		return "", fmt.Errorf("failed to find eth0: %w", err)
	}
	addrs, err := iface.Addrs()
	if err != nil {
		return "", err
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
			return n.IP.String(), nil
		}
	}
	return "", fmt.Errorf("eth0 has no IPv4 address")
}

var extServers = regexp.MustCompile(`ExtServers: \[([^\]]*)\]`)

// upstreamNameservers returns the DNS servers pods may forward to: the
// container's resolvers, except loopback ones such as Docker's embedded
// 127.0.0.11 (unreachable from a pod), replaced by the servers Docker notes
// behind it. Empty when the host has none, e.g. offline.
func upstreamNameservers(resolvConf string) []string {
	var out []string
	for _, line := range strings.Split(resolvConf, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "nameserver" {
			if ip := net.ParseIP(f[1]); ip != nil && !ip.IsLoopback() {
				out = append(out, f[1])
			}
		}
		if m := extServers.FindStringSubmatch(line); m != nil {
			for _, s := range strings.Fields(m[1]) {
				s = strings.TrimSuffix(strings.TrimPrefix(s, "host("), ")")
				if ip := net.ParseIP(s); ip != nil && !ip.IsLoopback() {
					out = append(out, s)
				}
			}
		}
	}
	return out
}
