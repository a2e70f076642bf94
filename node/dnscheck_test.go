package node

import (
	"context"
	"net"
	"net/netip"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// dnsServer answers each query on a local UDP port through reply, which
// returns the bytes to send back (nil: stay silent).
func dnsServer(t *testing.T, reply func(query []byte) []byte) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			n, addr, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if r := reply(buf[:n]); r != nil {
				_, _ = pc.WriteTo(r, addr)
			}
		}
	}()
	return pc.LocalAddr().String()
}

// answer is a response to query with rcode, the ID moved by shift and an
// A record of addr, if valid.
func answer(t *testing.T, query []byte, rcode dnsmessage.RCode, shift uint16, addr netip.Addr) []byte {
	var m dnsmessage.Message
	if err := m.Unpack(query); err != nil {
		t.Errorf("the check sent no valid DNS query: %v", err)
		return nil
	}
	if len(m.Questions) != 1 || m.Questions[0].Name.String() != "kubernetes.default.svc.cluster.local." {
		t.Errorf("questions = %v, want the kubernetes Service's name", m.Questions)
	}
	m.Header.ID += shift
	m.Header.Response, m.Header.RCode = true, rcode
	if addr.IsValid() {
		m.Answers = []dnsmessage.Resource{{
			Header: dnsmessage.ResourceHeader{Name: m.Questions[0].Name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET, TTL: 5},
			Body:   &dnsmessage.AResource{A: addr.As4()},
		}}
	}
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDNSAnswers(t *testing.T) {
	api, other := netip.MustParseAddr("10.96.0.1"), netip.MustParseAddr("10.96.0.2")
	for name, tc := range map[string]struct {
		reply func(t *testing.T, q []byte) []byte
		ok    bool
	}{
		"the kubernetes Service's address": {func(t *testing.T, q []byte) []byte { return answer(t, q, dnsmessage.RCodeSuccess, 0, api) }, true},
		// What the host's network may answer for a stale endpoint.
		"NXDOMAIN":               {func(t *testing.T, q []byte) []byte { return answer(t, q, dnsmessage.RCodeNameError, 0, netip.Addr{}) }, false},
		"another address":        {func(t *testing.T, q []byte) []byte { return answer(t, q, dnsmessage.RCodeSuccess, 0, other) }, false},
		"silence":                {func(*testing.T, []byte) []byte { return nil }, false},
		"another query's answer": {func(t *testing.T, q []byte) []byte { return answer(t, q, dnsmessage.RCodeSuccess, 1, api) }, false},
		"not DNS":                {func(*testing.T, []byte) []byte { return []byte("no") }, false},
	} {
		t.Run(name, func(t *testing.T) {
			addr := dnsServer(t, func(q []byte) []byte { return tc.reply(t, q) })
			err := dnsAnswers(addr, api)(context.Background())
			if tc.ok && err != nil {
				t.Errorf("check failed: %v", err)
			}
			if !tc.ok && err == nil {
				t.Error("check passed without an answer to its query")
			}
		})
	}
}
