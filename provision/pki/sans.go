package pki

import (
	"net"
	"net/netip"
	"strings"
)

// sans collects deduplicated subject alternative names, in insertion order.
type sans struct {
	dns  []string
	ips  []net.IP
	seen map[string]bool
}

// add adds each name as an IP address if it parses as one, else as a DNS name.
func (s *sans) add(names ...string) {
	if s.seen == nil {
		s.seen = map[string]bool{}
	}
	for _, name := range names {
		name = strings.TrimSpace(name)
		if ip, err := netip.ParseAddr(name); err == nil {
			s.addIP(ip)
			continue
		}
		key := "dns:" + strings.ToLower(name)
		if name == "" || s.seen[key] {
			continue
		}
		s.seen[key] = true
		s.dns = append(s.dns, name)
	}
}

// addIP adds ip, unmapping IPv4-in-IPv6 addresses.
func (s *sans) addIP(ip netip.Addr) {
	if s.seen == nil {
		s.seen = map[string]bool{}
	}
	ip = ip.Unmap().WithZone("")
	key := "ip:" + ip.String()
	if s.seen[key] {
		return
	}
	s.seen[key] = true
	s.ips = append(s.ips, net.IP(ip.AsSlice()))
}
