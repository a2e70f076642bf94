package servicelb

import (
	"net/netip"
	"strings"
	"testing"
)

func TestPool(t *testing.T) {
	p, err := newPool(netip.MustParsePrefix("172.30.7.0/24"))
	if err != nil {
		t.Fatal(err)
	}
	none := netip.Addr{}
	addr := netip.MustParseAddr
	assign := func(svc string, want, had netip.Addr) netip.Addr {
		t.Helper()
		a, _, err := p.assign(svc, want, had)
		if err != nil {
			t.Fatalf("assign %s: %v", svc, err)
		}
		return a
	}

	// A Service's address from before a restart is reserved before a new
	// Service could take it as the lowest free one.
	p.reserve("default/old", addr("172.30.7.1"))
	if got := assign("default/new", none, none); got != addr("172.30.7.2") {
		t.Errorf("new Service got %s, want the lowest free address 172.30.7.2", got)
	}
	if got := assign("default/old", none, addr("172.30.7.1")); got != addr("172.30.7.1") {
		t.Errorf("a Service that had 172.30.7.1 got %s", got)
	}
	// A status address from another pool (a clone's) is replaced.
	if got := assign("default/cloned", none, addr("172.30.3.9")); got != addr("172.30.7.3") {
		t.Errorf("a Service with an address outside the pool got %s, want 172.30.7.3", got)
	}
	// Asked for: honoured, and then held.
	if got := assign("default/asks", addr("172.30.7.200"), none); got != addr("172.30.7.200") {
		t.Errorf("spec.loadBalancerIP 172.30.7.200 gave %s", got)
	}
	if _, fresh, _ := p.assign("default/asks", addr("172.30.7.200"), addr("172.30.7.200")); fresh {
		t.Error("a held address was reported as fresh")
	}
	for _, bad := range []struct{ want, msg string }{
		{"172.30.7.0", "not in the cluster's LoadBalancer pool"},
		{"172.30.7.255", "not in the cluster's LoadBalancer pool"},
		{"10.0.0.1", "not in the cluster's LoadBalancer pool"},
		{"172.30.7.2", "taken by Service default/new"},
	} {
		if _, _, err := p.assign("default/bad", addr(bad.want), none); err == nil || !strings.Contains(err.Error(), bad.msg) {
			t.Errorf("spec.loadBalancerIP %s: err %v, want %q", bad.want, err, bad.msg)
		}
	}
	if !p.assigned(addr("172.30.7.2")) || p.assigned(addr("172.30.7.4")) {
		t.Error("assigned() disagrees with the assignments")
	}
	p.release("default/new")
	if p.assigned(addr("172.30.7.2")) {
		t.Error("a released address is still assigned")
	}
	if got := assign("default/next", none, none); got != addr("172.30.7.2") {
		t.Errorf("after a release the next Service got %s, want 172.30.7.2 again", got)
	}
}

func TestPoolFull(t *testing.T) {
	p, err := newPool(netip.MustParsePrefix("10.1.0.0/30")) // .1 and .2 usable
	if err != nil {
		t.Fatal(err)
	}
	for _, svc := range []string{"a/a", "a/b"} {
		if _, _, err := p.assign(svc, netip.Addr{}, netip.Addr{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := p.assign("a/c", netip.Addr{}, netip.Addr{}); err == nil || !strings.Contains(err.Error(), "are taken") {
		t.Errorf("third Service in a /30: err %v, want the pool full", err)
	}
	if _, err := newPool(netip.MustParsePrefix("10.1.0.0/31")); err == nil {
		t.Error("a /31 pool was accepted")
	}
}
