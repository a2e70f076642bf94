package servicelb

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
)

// announcer answers ARP requests for the pool's assigned addresses with the
// node's own hardware address, on the interface that reaches the pool. The
// kernel does not answer for them (they are not the node's addresses), so
// their packets arrive addressed to the Service, which kube-proxy's rules
// for the status address match before routing.
type announcer struct {
	ifi    *net.Interface
	client *arp.Client
	pool   *pool
	logf   func(string, ...any)
}

// listen opens the ARP socket on the interface whose network holds the
// pool.
func listen(p *pool, logf func(string, ...any)) (*announcer, error) {
	ifi, err := interfaceFor(p.prefix)
	if err != nil {
		return nil, err
	}
	c, err := arp.Dial(ifi)
	if err != nil {
		return nil, fmt.Errorf("open an ARP socket on %s: %w", ifi.Name, err)
	}
	return &announcer{ifi: ifi, client: c, pool: p, logf: logf}, nil
}

// interfaceFor is the interface with an IPv4 network that contains the
// pool: the node's interface on the skiff Docker network.
func interfaceFor(pool netip.Prefix) (*net.Interface, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	for _, ifi := range ifs {
		addrs, err := ifi.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			n, ok := a.(*net.IPNet)
			if !ok || n.IP.To4() == nil {
				continue
			}
			if prefix, err := netip.ParsePrefix(n.String()); err == nil && prefix.Masked().Contains(pool.Addr()) {
				return &ifi, nil
			}
		}
	}
	return nil, fmt.Errorf("no interface of the node is on the network of the LoadBalancer pool %s", pool)
}

// serve answers requests until close.
func (a *announcer) serve() {
	for {
		req, _, err := a.client.Read()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil || req.Operation != arp.OperationRequest || !a.pool.assigned(req.TargetIP) {
			continue
		}
		if err := a.client.Reply(req, a.ifi.HardwareAddr, req.TargetIP); err != nil {
			a.logf("servicelb: answer ARP for %s: %v", req.TargetIP, err)
		}
	}
}

// announce sends a gratuitous ARP reply for addr, so that neighbours that
// knew it at another hardware address (the node's before a restart) learn
// the new one now instead of after their cache entry goes stale.
func (a *announcer) announce(addr netip.Addr) {
	p, err := arp.NewPacket(arp.OperationReply, a.ifi.HardwareAddr, addr, ethernet.Broadcast, addr)
	if err == nil {
		err = a.client.WriteTo(p, ethernet.Broadcast)
	}
	if err != nil {
		a.logf("servicelb: announce %s: %v", addr, err)
	}
}

func (a *announcer) close() error { return a.client.Close() }
