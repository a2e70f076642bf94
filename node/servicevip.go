package node

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
)

// Chains of the node's own Service rules, beside kube-proxy's.
const (
	// apiServiceChain (nat) sends the kubernetes Service's address to the
	// API server until kube-proxy serves it.
	apiServiceChain = "SKIFF-KUBERNETES"
	// unservedChain (filter) refuses what is still addressed to the
	// service range after every DNAT.
	unservedChain = "SKIFF-UNSERVED"
)

// routeServices installs the node's Service rules at every boot (each
// container start has a new network namespace):
//
//   - The kubernetes Service (the service subnet's first address, port
//     443) reaches the API server from the first moment. Pods that talk to
//     the API (CoreDNS, Traefik, the local-path provisioner) are bound
//     already when a stopped node starts again, so the kubelet runs them at
//     once, seconds before kube-proxy has written its rules; without this
//     they crash on "connection refused" and back off for 10 s or more.
//   - An address in the service range that no Service port serves (a
//     deleted Service, a removed port) is refused at once. Without a rule
//     it would leave the node by the default route, and whatever the
//     Docker host's network does with it would answer.
//
// kube-proxy prepends its jumps to the same built-in chains, so its rules
// match first: a served address is translated to an endpoint before the
// filter table sees it.
func routeServices(serviceSubnet, nodeIP string) error {
	vip, err := ServiceIP(serviceSubnet, 1)
	if err != nil {
		return err
	}
	if err := restoreRules("iptables-restore", serviceRules(serviceSubnet, vip, nodeIP)); err != nil {
		return fmt.Errorf("install the Service rules: %w", err)
	}
	return nil
}

// routePodSubnet makes the node answer "no route to host" for an address
// of the pod subnet that no pod here has: ptp routes each pod's own
// address, and without this route the rest left by the default route to
// the Docker host's network. That is where a Service's endpoint of the
// last boot pointed after a start, until the controller manager caught up:
// a client waited out its timeout, or got whatever the host's network
// answered there.
//
// The answer is an ICMP error, which the kernel sends a given pod at most
// once a second after a burst (icmp_ratelimit, for the types in
// icmp_ratemask); a connect that lost its answer to the limit waited for
// its SYN's retransmission instead of failing. Destination-unreachable
// errors are taken out of the mask (the node's own network namespace only):
// the global limit, icmp_msgs_per_sec, still holds.
func routePodSubnet(podSubnet string) error {
	if out, err := exec.Command("ip", "route", "replace", "unreachable", podSubnet).CombinedOutput(); err != nil {
		return fmt.Errorf("route the pod subnet %s: %w: %s", podSubnet, err, strings.TrimSpace(string(out)))
	}
	if err := os.WriteFile("/proc/sys/net/ipv4/icmp_ratemask", []byte(icmpRateMask), 0o644); err != nil {
		return fmt.Errorf("set icmp_ratemask: %w", err)
	}
	return nil
}

// podMasqChain (nat) masquerades what pods send out of the pod subnet.
const podMasqChain = "SKIFF-POD-MASQ"

// masqueradePods installs podMasqChain at every boot, as ptp's ipMasq
// would per pod: one rule set instead of five iptables runs in every
// sandbox's set-up and teardown, which wait for kube-proxy's lock while a
// node starts.
func masqueradePods(podSubnet string) error {
	if err := restoreRules("iptables-restore", podMasqueradeRules(podSubnet)); err != nil {
		return fmt.Errorf("masquerade the pod subnet: %w", err)
	}
	return nil
}

func podMasqueradeRules(podSubnet string) string {
	return fmt.Sprintf(`*nat
:%[1]s - [0:0]
-A %[1]s -d %[2]s -j RETURN
-A %[1]s -d 224.0.0.0/4 -j RETURN
-A %[1]s -j MASQUERADE
-A POSTROUTING -s %[2]s -j %[1]s
COMMIT
`, podMasqChain, podSubnet)
}

// icmpRateMask is the kernel's default (6168: destination unreachable,
// source quench, time exceeded, parameter problem) less destination
// unreachable (1<<3).
const icmpRateMask = "6160"

// serviceRules is the iptables-restore input for routeServices.
func serviceRules(serviceSubnet, vip, nodeIP string) string {
	return fmt.Sprintf(`*nat
:%[1]s - [0:0]
-A %[1]s -d %[2]s/32 -p tcp --dport 443 -j DNAT --to-destination %[3]s:%[4]d
-A OUTPUT -j %[1]s
-A PREROUTING -j %[1]s
COMMIT
*filter
:%[5]s - [0:0]
-A %[5]s -d %[6]s -p tcp -j REJECT --reject-with tcp-reset
-A %[5]s -d %[6]s -j REJECT --reject-with icmp-port-unreachable
-A OUTPUT -j %[5]s
-A FORWARD -j %[5]s
COMMIT
`, apiServiceChain, vip, nodeIP, APIServerPort, unservedChain, serviceSubnet)
}

// ServiceIP is the n-th address of an IPv4 service subnet: 1 is the
// kubernetes Service, 10 the cluster DNS.
func ServiceIP(subnet string, n byte) (string, error) {
	_, ipnet, err := net.ParseCIDR(subnet)
	if err != nil {
		return "", fmt.Errorf("invalid service subnet %q: %w", subnet, err)
	}
	ip := ipnet.IP.To4()
	if ip == nil {
		return "", fmt.Errorf("service subnet %q is not IPv4", subnet)
	}
	return net.IPv4(ip[0], ip[1], ip[2], ip[3]+n).String(), nil
}
