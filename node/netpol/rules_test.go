package netpol

import (
	"encoding/binary"
	"net/netip"
	"reflect"
	"testing"

	"github.com/google/nftables/expr"
	"github.com/google/nftables/xt"
	"golang.org/x/sys/unix"
)

func addrs(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, a := range s {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

func TestRulesetString(t *testing.T) {
	t.Parallel()
	cidr := netip.MustParsePrefix("10.244.0.0/24")
	for _, tc := range []struct {
		name string
		r    ruleset
		want string
	}{
		{"no policy: nothing queued", ruleset{podCIDR: cidr, known: addrs("10.244.0.5")}, `table ip skiff-netpol {
	set managed {
		type ipv4_addr
	}

	set known {
		type ipv4_addr
		elements = { 10.244.0.5 }
	}

	chain forward {
		type filter hook forward priority filter - 10; policy accept;
		meta mark & 0x00100000 == 0x00100000 meta l4proto tcp counter reject with tcp reset
		meta mark & 0x00100000 == 0x00100000 counter reject with icmp admin-prohibited
		ct state ! new accept
	}

	chain input {
		type filter hook input priority filter - 10; policy accept;
		meta mark & 0x00100000 == 0x00100000 meta l4proto tcp counter reject with tcp reset
		meta mark & 0x00100000 == 0x00100000 counter reject with icmp admin-prohibited
		ct state ! new accept
	}
}
`},
		{"policies: managed pods and unknown addresses queued", ruleset{podCIDR: cidr, policies: true,
			managed: addrs("10.244.0.7", "10.244.0.9"), known: addrs("10.244.0.5", "10.244.0.7", "10.244.0.9")}, `table ip skiff-netpol {
	set managed {
		type ipv4_addr
		elements = { 10.244.0.7, 10.244.0.9 }
	}

	set known {
		type ipv4_addr
		elements = { 10.244.0.5, 10.244.0.7, 10.244.0.9 }
	}

	chain forward {
		type filter hook forward priority filter - 10; policy accept;
		meta mark & 0x00100000 == 0x00100000 meta l4proto tcp counter reject with tcp reset
		meta mark & 0x00100000 == 0x00100000 counter reject with icmp admin-prohibited
		ct state ! new accept
		ip saddr @managed counter queue num 100 bypass
		ip daddr @managed counter queue num 100 bypass
		ip saddr 10.244.0.0/24 ip saddr != @known counter queue num 100 bypass
		ip daddr 10.244.0.0/24 ip daddr != @known counter queue num 100 bypass
	}

	chain input {
		type filter hook input priority filter - 10; policy accept;
		meta mark & 0x00100000 == 0x00100000 meta l4proto tcp counter reject with tcp reset
		meta mark & 0x00100000 == 0x00100000 counter reject with icmp admin-prohibited
		ct state ! new accept
		ip saddr @managed counter queue num 100 bypass
		ip saddr 10.244.0.0/24 ip saddr != @known counter queue num 100 bypass
	}
}
`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := tc.r.String(); got != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

// TestParts checks the expressions of each kind of match and statement.
// TestIntegrationDataplane checks that nft reads them back as their text.
func TestParts(t *testing.T) {
	t.Parallel()
	native := func(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }
	for _, tc := range []struct {
		text string
		p    part
		want []expr.Any
	}{
		{"ip saddr @managed", addrIn(saddr, "managed"), []expr.Any{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
			&expr.Lookup{SourceRegister: 1, SetName: "managed"},
		}},
		{"ip daddr != @known", addrNotIn(daddr, "known"), []expr.Any{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
			&expr.Lookup{SourceRegister: 1, SetName: "known", Invert: true},
		}},
		{"ip saddr 10.244.0.0/24", addrInPrefix(saddr, netip.MustParsePrefix("10.244.0.9/24")), []expr.Any{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: []byte{255, 255, 255, 0}, Xor: []byte{0, 0, 0, 0}},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{10, 244, 0, 0}},
		}},
		{"ip daddr 10.96.0.0/12", addrInPrefix(daddr, netip.MustParsePrefix("10.96.0.0/12")), []expr.Any{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: []byte{255, 240, 0, 0}, Xor: []byte{0, 0, 0, 0}},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{10, 96, 0, 0}},
		}},
		{"meta mark & 0x00100000 == 0x00100000", denied(), []expr.Any{
			&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: native(0x100000), Xor: []byte{0, 0, 0, 0}},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: native(0x100000)},
		}},
		{"ct state ! new", ctStateNotNew(), []expr.Any{
			&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: native(8), Xor: []byte{0, 0, 0, 0}},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{0, 0, 0, 0}},
		}},
		{"meta l4proto tcp", l4proto(unix.IPPROTO_TCP, "tcp"), []expr.Any{
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{6}},
		}},
		{"reject with tcp reset", rejectTCP(), []expr.Any{&expr.Reject{Type: unix.NFT_REJECT_TCP_RST}}},
		{"reject with icmp admin-prohibited", rejectICMP(), []expr.Any{&expr.Reject{Type: unix.NFT_REJECT_ICMP_UNREACH, Code: 13}}},
	} {
		t.Run(tc.text, func(t *testing.T) {
			t.Parallel()
			if tc.p.text != tc.text {
				t.Errorf("text %q, want %q", tc.p.text, tc.text)
			}
			if !reflect.DeepEqual(tc.p.exprs, tc.want) {
				t.Errorf("expressions %#v, want %#v", tc.p.exprs, tc.want)
			}
		})
	}
}

// TestQueueTarget checks the NFQUEUE target's info: struct xt_NFQ_info_v3
// {u16 queuenum; u16 queues_total; u16 flags} in host order, padded to 8.
func TestQueueTarget(t *testing.T) {
	t.Parallel()
	q := queue()
	if len(q.exprs) != 1 {
		t.Fatalf("queue is %d expressions", len(q.exprs))
	}
	target, ok := q.exprs[0].(*expr.Target)
	if !ok || target.Name != "NFQUEUE" || target.Rev != 3 {
		t.Fatalf("queue target %#v, want NFQUEUE revision 3", q.exprs[0])
	}
	info := *target.Info.(*xt.Unknown)
	if len(info) != 8 {
		t.Fatalf("info is %d bytes, want 8", len(info))
	}
	for _, f := range []struct {
		name      string
		off, want uint16
	}{{"queuenum", 0, QueueNum}, {"queues_total", 2, 1}, {"flags (bypass)", 4, 1}, {"padding", 6, 0}} {
		if got := binary.NativeEndian.Uint16(info[f.off:]); got != f.want {
			t.Errorf("%s = %d, want %d", f.name, got, f.want)
		}
	}
}

func TestRulesetEqual(t *testing.T) {
	t.Parallel()
	cidr := netip.MustParsePrefix("10.244.0.0/24")
	a := ruleset{podCIDR: cidr, policies: true, managed: addrs("10.244.0.7"), known: addrs("10.244.0.7")}
	for _, tc := range []struct {
		name string
		b    ruleset
		want bool
	}{
		{"same", ruleset{podCIDR: cidr, policies: true, managed: addrs("10.244.0.7"), known: addrs("10.244.0.7")}, true},
		{"no policies", ruleset{podCIDR: cidr, managed: addrs("10.244.0.7"), known: addrs("10.244.0.7")}, false},
		{"another managed", ruleset{podCIDR: cidr, policies: true, managed: addrs("10.244.0.8"), known: addrs("10.244.0.7")}, false},
		{"one more known", ruleset{podCIDR: cidr, policies: true, managed: addrs("10.244.0.7"), known: addrs("10.244.0.7", "10.244.0.8")}, false},
	} {
		if got := a.equal(tc.b); got != tc.want {
			t.Errorf("%s: equal = %t, want %t", tc.name, got, tc.want)
		}
	}
}
