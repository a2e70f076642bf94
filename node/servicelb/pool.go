package servicelb

import (
	"fmt"
	"net/netip"
	"sync"
)

// pool hands out the cluster's LoadBalancer addresses, one per Service.
type pool struct {
	prefix netip.Prefix

	mu    sync.Mutex
	owner map[netip.Addr]string // address → Service (namespace/name)
	addr  map[string]netip.Addr // Service → address
}

func newPool(prefix netip.Prefix) (*pool, error) {
	if !prefix.Addr().Is4() || prefix.Bits() > 30 {
		return nil, fmt.Errorf("LoadBalancer pool %s: want an IPv4 prefix of /30 or larger", prefix)
	}
	return &pool{prefix: prefix.Masked(), owner: map[netip.Addr]string{}, addr: map[string]netip.Addr{}}, nil
}

// usable: in the pool, and neither its first nor its last address (the
// network and broadcast addresses, which some clients refuse: MetalLB's
// avoidBuggyIPs).
func (p *pool) usable(a netip.Addr) bool {
	if !p.prefix.Contains(a) || a == p.prefix.Addr() {
		return false
	}
	return a.Next().IsValid() && p.prefix.Contains(a.Next())
}

// assign returns svc's address: want (its spec.loadBalancerIP) if given,
// else the one it has, else had (its status, from before a restart) if
// still free and usable, else the lowest free one. fresh reports an
// address svc did not hold before.
func (p *pool) assign(svc string, want, had netip.Addr) (a netip.Addr, fresh bool, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	cur, holds := p.addr[svc]
	if want.IsValid() {
		if !p.usable(want) {
			return netip.Addr{}, false, fmt.Errorf("spec.loadBalancerIP %s is not in the cluster's LoadBalancer pool %s (nor its first or last address)", want, p.prefix)
		}
		if o, taken := p.owner[want]; taken && o != svc {
			return netip.Addr{}, false, fmt.Errorf("spec.loadBalancerIP %s is taken by Service %s", want, o)
		}
		if holds && cur == want {
			return want, false, nil
		}
		p.take(svc, want)
		return want, true, nil
	}
	if holds {
		return cur, false, nil
	}
	if p.usable(had) {
		if _, taken := p.owner[had]; !taken {
			p.take(svc, had)
			return had, true, nil
		}
	}
	for a := p.prefix.Addr().Next(); p.usable(a); a = a.Next() {
		if _, taken := p.owner[a]; !taken {
			p.take(svc, a)
			return a, true, nil
		}
	}
	return netip.Addr{}, false, fmt.Errorf("all addresses of the cluster's LoadBalancer pool %s are taken: delete a LoadBalancer Service or use another type", p.prefix)
}

// reserve gives svc the address had if it is usable and free, as assign
// would: for the addresses Services already have when the pool starts,
// before any new Service takes one of them.
func (p *pool) reserve(svc string, had netip.Addr) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, holds := p.addr[svc]; holds || !p.usable(had) {
		return
	}
	if _, taken := p.owner[had]; !taken {
		p.take(svc, had)
	}
}

// take must be called with mu held.
func (p *pool) take(svc string, a netip.Addr) {
	if cur, ok := p.addr[svc]; ok {
		delete(p.owner, cur)
	}
	p.owner[a], p.addr[svc] = svc, a
}

func (p *pool) lookup(svc string) (netip.Addr, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	a, ok := p.addr[svc]
	return a, ok
}

func (p *pool) release(svc string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if a, ok := p.addr[svc]; ok {
		delete(p.owner, a)
		delete(p.addr, svc)
	}
}

// assigned reports whether a is some Service's address.
func (p *pool) assigned(a netip.Addr) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.owner[a]
	return ok
}

func (p *pool) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.addr)
}
