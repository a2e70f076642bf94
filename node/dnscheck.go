package node

import (
	"context"
	"fmt"
	"log"
	"net"
	"net/netip"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// waitDNS waits until the cluster DNS Service answers (dnsAnswers), unless
// its CoreDNS is scaled to zero: a user's choice, which the wait must not
// turn into a failed boot.
func (a *Agent) waitDNS(ctx context.Context) error {
	ap, err := newApplier(kubeconfig("admin"))
	if err != nil {
		return err
	}
	if n, err := ap.replicas(ctx, "kube-system", "coredns"); err == nil && n == 0 {
		log.Printf("dns: CoreDNS is scaled to 0 replicas: not waiting for the DNS Service")
		return nil
	}
	api, err := ServiceIP(a.cfg.ServiceSubnet, 1)
	if err != nil {
		return err
	}
	answers := dnsAnswers(net.JoinHostPort(a.cfg.DNSIP, "53"), netip.MustParseAddr(api))
	since := a.started.Truncate(time.Second)
	check := func(ctx context.Context) error {
		// Answered through the last boot's EndpointSlice, which CoreDNS's
		// kept address makes right, the Service would still lose its
		// endpoint if the controller manager (which this step follows)
		// saw the restarted pod not Ready yet: wait for that Ready too.
		if ok, err := ap.podsReady(ctx, "kube-system", "k8s-app=kube-dns", since); err != nil || !ok {
			return fmt.Errorf("CoreDNS not Ready since this boot (%v)", err)
		}
		return answers(ctx)
	}
	return waitReady(ctx, check, func() error { return nil }, startTimeout)
}

// dnsAnswers passes once the cluster DNS Service, queried from the node
// through its Service address as a pod's lookup goes, answers with want:
// the kubernetes Service's address. After a stop, a snapshot's clone or a
// restore, kube-proxy routes the Service by the EndpointSlices of the last
// boot until the controller manager has seen the new CoreDNS pod Ready.
// CoreDNS gets its address back (skiff-ipam) and so answers as soon as it
// serves, unless another pod took that address first: a lookup sent to an
// address no pod has gets no answer. Only CoreDNS knows the kubernetes
// Service, so an answer from anything else cannot pass.
func dnsAnswers(server string, want netip.Addr) readyCheck {
	name := dnsmessage.MustNewName("kubernetes.default.svc." + clusterDomain + ".")
	return func(ctx context.Context) error {
		deadline := time.Now().Add(250 * time.Millisecond)
		conn, err := (&net.Dialer{Deadline: deadline}).DialContext(ctx, "udp", server)
		if err != nil {
			return err
		}
		defer conn.Close()
		_ = conn.SetDeadline(deadline)
		id := uint16(time.Now().UnixNano())
		q, err := (&dnsmessage.Message{
			Header:    dnsmessage.Header{ID: id, RecursionDesired: true},
			Questions: []dnsmessage.Question{{Name: name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET}},
		}).Pack()
		if err != nil {
			return err
		}
		if _, err := conn.Write(q); err != nil {
			return err
		}
		buf := make([]byte, 512)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return fmt.Errorf("no answer from the cluster DNS Service %s: %w", server, err)
			}
			var m dnsmessage.Message
			if m.Unpack(buf[:n]) != nil || m.Header.ID != id || !m.Header.Response {
				continue // not the answer to this query
			}
			for _, a := range m.Answers {
				if r, ok := a.Body.(*dnsmessage.AResource); ok && netip.AddrFrom4(r.A) == want {
					return nil
				}
			}
			return fmt.Errorf("the cluster DNS Service %s answered %s without %s", server, m.Header.RCode, want)
		}
	}
}
