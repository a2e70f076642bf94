package pki

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// Config describes the cluster the certificates are for.
type Config struct {
	ClusterName   string   // e.g. "skiff"; used in CA common names
	NodeName      string   // the node's hostname, e.g. "skiff-control-plane"
	ServiceCIDR   string   // e.g. "10.96.0.0/12"; its first address (10.96.0.1) is a SAN of the API server
	APIServerSANs []string // extra SANs, each an IP or a DNS name (e.g. "127.0.0.1", the node container's name)
}

// validate checks cfg and returns the API server's service IP, the first
// address of ServiceCIDR.
func (cfg Config) validate() (netip.Addr, error) {
	if strings.TrimSpace(cfg.ClusterName) == "" {
		return netip.Addr{}, errors.New("invalid pki config: ClusterName must not be empty")
	}
	if strings.TrimSpace(cfg.NodeName) == "" {
		return netip.Addr{}, errors.New("invalid pki config: NodeName must not be empty")
	}
	for _, san := range cfg.APIServerSANs {
		if strings.TrimSpace(san) == "" {
			return netip.Addr{}, errors.New("invalid pki config: APIServerSANs must not contain empty entries")
		}
	}
	ip, err := firstIP(cfg.ServiceCIDR)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("invalid pki config: %w", err)
	}
	return ip, nil
}

// firstIP returns the first usable address of cidr, e.g. 10.96.0.1 for
// 10.96.0.0/12.
func firstIP(cidr string) (netip.Addr, error) {
	prefix, err := netip.ParsePrefix(strings.TrimSpace(cidr))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("failed to parse ServiceCIDR %q: %w", cidr, err)
	}
	prefix = prefix.Masked()
	ip := prefix.Addr().Next()
	if !ip.IsValid() || !prefix.Contains(ip) {
		return netip.Addr{}, fmt.Errorf("ServiceCIDR %q is too small to hold a service IP", cidr)
	}
	return ip, nil
}
