package node

import (
	"fmt"
	"net"
)

// apiServiceChain is the nat chain that sends the kubernetes Service's
// address to the API server until kube-proxy serves it.
const apiServiceChain = "SKIFF-KUBERNETES"

// routeAPIService makes the kubernetes Service (the service subnet's first
// address, port 443) reach the API server from the first moment of boot.
// Pods that talk to the API (CoreDNS, MetalLB, the local-path provisioner)
// are bound already when a stopped node starts again, so the kubelet runs
// them at once, seconds before kube-proxy has written its rules; without
// this they crash on "connection refused" and back off for 10 s or more.
// kube-proxy prepends its own jumps to OUTPUT and PREROUTING, so once it
// serves the Service its rules match first, to the same one endpoint.
func routeAPIService(serviceSubnet, nodeIP string) error {
	vip, err := ServiceIP(serviceSubnet, 1)
	if err != nil {
		return err
	}
	if err := restoreRules("iptables-restore", apiServiceRules(vip, nodeIP)); err != nil {
		return fmt.Errorf("route the kubernetes Service: %w", err)
	}
	return nil
}

// apiServiceRules is the iptables-restore input for routeAPIService.
func apiServiceRules(vip, nodeIP string) string {
	return fmt.Sprintf(`*nat
:%[1]s - [0:0]
-A %[1]s -d %[2]s/32 -p tcp --dport 443 -j DNAT --to-destination %[3]s:%[4]d
-A OUTPUT -j %[1]s
-A PREROUTING -j %[1]s
COMMIT
`, apiServiceChain, vip, nodeIP, APIServerPort)
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
