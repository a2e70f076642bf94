package netpol

import (
	"context"
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"

	nfqueue "github.com/florianl/go-nfqueue/v2"
	v1 "k8s.io/api/core/v1"
	"sigs.k8s.io/kube-network-policies/pkg/network"
)

// ipv4 is the first bytes of an IPv4 packet (header without options, then
// the first 20 bytes of a TCP or UDP header) from src:sport to dst:dport.
func ipv4(proto byte, src string, sport uint16, dst string, dport uint16) []byte {
	b := make([]byte, 40)
	b[0] = 0x45 // version 4, 5 words
	binary.BigEndian.PutUint16(b[2:], 40)
	b[8] = 64
	b[9] = proto
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	copy(b[12:], s[:])
	copy(b[16:], d[:])
	binary.BigEndian.PutUint16(b[20:], sport)
	binary.BigEndian.PutUint16(b[22:], dport)
	if proto == 6 {
		b[32] = 5 << 4 // data offset: 5 words
		b[33] = 0x02   // SYN
	}
	return b
}

func TestDecide(t *testing.T) {
	t.Parallel()
	syn := ipv4(6, "10.244.0.5", 40000, "10.244.0.7", 8080)
	for _, tc := range []struct {
		name    string
		payload []byte
		allow   bool
		err     error
		want    answer
		wantErr bool
	}{
		{"allowed: accept", syn, true, nil, answer{verdict: nfqueue.NfAccept, outcome: allowed}, false},
		{"denied: back through the chain with the deny mark", syn, false, nil, answer{verdict: nfqueue.NfRepeat, mark: denyMark, outcome: refused}, false},
		{"engine error: accept (fail open)", syn, false, errors.New("boom"), answer{verdict: nfqueue.NfAccept, outcome: failed}, true},
		{"unparsable: accept (fail open)", []byte{0x45, 0}, false, nil, answer{verdict: nfqueue.NfAccept, outcome: unparsed}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var seen *network.Packet
			got, err := decide(context.Background(), tc.payload, func(_ context.Context, p *network.Packet) (bool, error) {
				seen = p
				return tc.allow, tc.err
			})
			if (err != nil) != tc.wantErr {
				t.Errorf("error %v, want one: %t", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("answer %+v, want %+v", got, tc.want)
			}
			if tc.want.outcome == unparsed {
				return
			}
			if seen == nil || seen.SrcIP.String() != "10.244.0.5" || seen.DstIP.String() != "10.244.0.7" || seen.SrcPort != 40000 || seen.DstPort != 8080 || seen.Proto != v1.ProtocolTCP {
				t.Errorf("engine saw %+v, want TCP 10.244.0.5:40000 -> 10.244.0.7:8080", seen)
			}
		})
	}
}

func TestCounts(t *testing.T) {
	t.Parallel()
	var c counts
	for _, o := range []outcome{allowed, refused, refused, unparsed, failed, allowed, allowed} {
		c.add(o)
	}
	if c.allowed.Load() != 3 || c.refused.Load() != 2 || c.unparsed.Load() != 1 || c.failed.Load() != 1 {
		t.Errorf("counts allowed %d refused %d unparsed %d failed %d", c.allowed.Load(), c.refused.Load(), c.unparsed.Load(), c.failed.Load())
	}
}
