package netpol

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/xt"
	"golang.org/x/sys/unix"
)

const (
	// TableName is the nftables table (family ip) the rules live in.
	TableName = "skiff-netpol"
	// QueueNum is the netfilter queue the rules send packets to.
	QueueNum = 100
	// denyMark is the packet mark a denied packet comes back with, for the
	// chain to reject it. Bit 20: kube-proxy marks with 0x4000 (and
	// 0x8000), CNI portmap with 0x2000.
	denyMark = 0x00100000
	// chainPriority is before iptables' filter table (0) and after DNAT
	// (prerouting, -100): a Service's packets carry their endpoint.
	chainPriority = -10
	// icmpAdminProhibited is ICMP "communication administratively
	// prohibited" (destination unreachable, code 13).
	icmpAdminProhibited = 13
)

// ruleset is what the table holds: the node's pod CIDR, the local pods
// some policy selects (managed) and every local pod the API server has an
// address for (known). Without a policy (policies false) nothing is
// queued.
type ruleset struct {
	podCIDR  netip.Prefix
	managed  []netip.Addr
	known    []netip.Addr
	policies bool
}

// equal reports whether two rulesets make the same table.
func (r ruleset) equal(o ruleset) bool {
	return r.podCIDR == o.podCIDR && r.policies == o.policies && slices.Equal(r.managed, o.managed) && slices.Equal(r.known, o.known)
}

// part is a piece of a rule: its nft syntax and its expressions.
type part struct {
	text  string
	exprs []expr.Any
}

// rule is the parts of one rule, matches first, then the statement.
type rule []part

func (r rule) String() string {
	var words []string
	for _, p := range r {
		words = append(words, p.text)
	}
	return strings.Join(words, " ")
}

func (r rule) exprs() []expr.Any {
	var out []expr.Any
	for _, p := range r {
		out = append(out, p.exprs...)
	}
	return out
}

// chainRules are the rules of the forward and input chains, in order.
func (r ruleset) chainRules() (forward, input []rule) {
	head := []rule{
		// A packet the queue denied, back with denyMark.
		{denied(), l4proto(unix.IPPROTO_TCP, "tcp"), counter(), rejectTCP()},
		{denied(), counter(), rejectICMP()},
		// Established, related (replies, ICMP errors), invalid and
		// untracked: none is the first packet of a connection.
		{ctStateNotNew(), accept()},
	}
	forward, input = slices.Clone(head), slices.Clone(head)
	if !r.policies {
		return forward, input
	}
	forward = append(forward,
		rule{addrIn(saddr, "managed"), counter(), queue()},
		rule{addrIn(daddr, "managed"), counter(), queue()},
		rule{addrInPrefix(saddr, r.podCIDR), addrNotIn(saddr, "known"), counter(), queue()},
		rule{addrInPrefix(daddr, r.podCIDR), addrNotIn(daddr, "known"), counter(), queue()},
	)
	// To the node: only the sender's egress policy can apply.
	input = append(input,
		rule{addrIn(saddr, "managed"), counter(), queue()},
		rule{addrInPrefix(saddr, r.podCIDR), addrNotIn(saddr, "known"), counter(), queue()},
	)
	return forward, input
}

// String is the table as `nft list table ip skiff-netpol` shows it, but
// for the counters' values.
func (r ruleset) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "table ip %s {\n", TableName)
	for _, s := range []struct {
		name  string
		elems []netip.Addr
	}{{"managed", r.managed}, {"known", r.known}} {
		fmt.Fprintf(&b, "\tset %s {\n\t\ttype ipv4_addr\n", s.name)
		if len(s.elems) > 0 {
			fmt.Fprintf(&b, "\t\telements = { %s }\n", joinAddrs(s.elems))
		}
		b.WriteString("\t}\n\n")
	}
	forward, input := r.chainRules()
	for i, c := range []struct {
		name  string
		rules []rule
	}{{"forward", forward}, {"input", input}} {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "\tchain %s {\n\t\ttype filter hook %s priority filter - %d; policy accept;\n", c.name, c.name, -chainPriority)
		for _, rl := range c.rules {
			fmt.Fprintf(&b, "\t\t%s\n", rl)
		}
		b.WriteString("\t}\n")
	}
	b.WriteString("}\n")
	return b.String()
}

func joinAddrs(addrs []netip.Addr) string {
	var s []string
	for _, a := range addrs {
		s = append(s, a.String())
	}
	return strings.Join(s, ", ")
}

// apply replaces the table with r in one transaction: the kernel switches
// from the old rules to the new at once.
func (r ruleset) apply(c *nftables.Conn) error {
	t := &nftables.Table{Name: TableName, Family: nftables.TableFamilyIPv4}
	// Add first: deleting a table that does not exist fails the batch.
	c.AddTable(t)
	c.DelTable(t)
	c.AddTable(t)
	sets := map[string]*nftables.Set{}
	for name, addrs := range map[string][]netip.Addr{"managed": r.managed, "known": r.known} {
		s := &nftables.Set{Table: t, Name: name, KeyType: nftables.TypeIPAddr}
		var elems []nftables.SetElement
		for _, a := range addrs {
			elems = append(elems, nftables.SetElement{Key: a.AsSlice()})
		}
		if err := c.AddSet(s, elems); err != nil {
			return fmt.Errorf("failed to add set %s: %w", name, err)
		}
		sets[name] = s
	}
	forward, input := r.chainRules()
	for _, ch := range []struct {
		hook  *nftables.ChainHook
		name  string
		rules []rule
	}{{nftables.ChainHookForward, "forward", forward}, {nftables.ChainHookInput, "input", input}} {
		chain := c.AddChain(&nftables.Chain{
			Name: ch.name, Table: t, Type: nftables.ChainTypeFilter,
			Hooknum: ch.hook, Priority: nftables.ChainPriorityRef(chainPriority),
		})
		for _, rl := range ch.rules {
			exprs := rl.exprs()
			for _, e := range exprs {
				if l, ok := e.(*expr.Lookup); ok {
					l.SetID = sets[l.SetName].ID
				}
			}
			c.AddRule(&nftables.Rule{Table: t, Chain: chain, Exprs: exprs})
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("failed to write nftables table %s: %w", TableName, err)
	}
	return nil
}

// remove deletes the table, if there is one.
func remove(c *nftables.Conn) error {
	t := &nftables.Table{Name: TableName, Family: nftables.TableFamilyIPv4}
	c.AddTable(t)
	c.DelTable(t)
	if err := c.Flush(); err != nil {
		return fmt.Errorf("failed to remove nftables table %s: %w", TableName, err)
	}
	return nil
}

// Offsets of the IPv4 header's addresses.
const (
	saddr = 12
	daddr = 16
)

func addrName(offset uint32) string {
	if offset == saddr {
		return "ip saddr"
	}
	return "ip daddr"
}

func loadAddr(offset uint32) *expr.Payload {
	return &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4}
}

func addrIn(offset uint32, set string) part {
	return part{addrName(offset) + " @" + set, []expr.Any{loadAddr(offset), &expr.Lookup{SourceRegister: 1, SetName: set}}}
}

func addrNotIn(offset uint32, set string) part {
	return part{addrName(offset) + " != @" + set, []expr.Any{loadAddr(offset), &expr.Lookup{SourceRegister: 1, SetName: set, Invert: true}}}
}

func addrInPrefix(offset uint32, p netip.Prefix) part {
	p = p.Masked()
	mask := make([]byte, 4)
	binary.BigEndian.PutUint32(mask, ^uint32(0)<<(32-p.Bits()))
	return part{addrName(offset) + " " + p.String(), []expr.Any{
		loadAddr(offset),
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask, Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: p.Addr().AsSlice()},
	}}
}

func denied() part {
	return part{fmt.Sprintf("meta mark & 0x%08x == 0x%08x", denyMark, denyMark), []expr.Any{
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: binaryutil.NativeEndian.PutUint32(denyMark), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(denyMark)},
	}}
}

func l4proto(proto byte, name string) part {
	return part{"meta l4proto " + name, []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
	}}
}

func ctStateNotNew() part {
	return part{"ct state ! new", []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitNEW), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: make([]byte, 4)},
	}}
}

func counter() part { return part{"counter", []expr.Any{&expr.Counter{}}} }

func accept() part {
	return part{"accept", []expr.Any{&expr.Verdict{Kind: expr.VerdictAccept}}}
}

func rejectTCP() part {
	return part{"reject with tcp reset", []expr.Any{&expr.Reject{Type: unix.NFT_REJECT_TCP_RST}}}
}

func rejectICMP() part {
	return part{"reject with icmp admin-prohibited", []expr.Any{&expr.Reject{Type: unix.NFT_REJECT_ICMP_UNREACH, Code: icmpAdminProhibited}}}
}

// queue is iptables' NFQUEUE target, revision 3 (struct xt_NFQ_info_v3:
// queue number, number of queues, flags; padded to 8 bytes), with
// --queue-bypass: while nothing reads the queue, packets pass. nftables'
// own queue expression would be simpler, but kernels built without
// CONFIG_NFT_QUEUE (skiff's CI host) refuse it.
func queue() part {
	const bypass = 0x01 // NFQ_FLAG_BYPASS
	info := make(xt.Unknown, 8)
	binary.NativeEndian.PutUint16(info[0:], QueueNum)
	binary.NativeEndian.PutUint16(info[2:], 1)
	binary.NativeEndian.PutUint16(info[4:], bypass)
	// nft shows the target in its own words.
	return part{fmt.Sprintf("queue num %d bypass", QueueNum), []expr.Any{
		&expr.Target{Name: "NFQUEUE", Rev: 3, Info: &info},
	}}
}
