package netpol

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	nfqueue "github.com/florianl/go-nfqueue/v2"
	"github.com/mdlayher/netlink"
	"sigs.k8s.io/kube-network-policies/pkg/network"
)

// evaluateFunc is the policy engine's verdict on a packet: allowed or not.
type evaluateFunc func(ctx context.Context, p *network.Packet) (bool, error)

// answer is the queue's answer to one packet.
type answer struct {
	verdict int
	mark    uint32 // set on the packet when not 0
	outcome outcome
}

type outcome int

const (
	allowed outcome = iota
	refused
	unparsed // let through: fail open
	failed   // the engine erred: let through, fail open
)

// decide maps the engine's verdict on a queued packet to the queue's:
// accept, or repeat with denyMark, for the chain to reject it (a reset or
// an ICMP error: the client fails at once, where a drop would leave it
// waiting). A packet that cannot be parsed, or that the engine fails on,
// is accepted, as it would be with no agent at all.
func decide(ctx context.Context, payload []byte, evaluate evaluateFunc) (answer, error) {
	p, err := network.ParsePacket(payload)
	if err != nil {
		return answer{verdict: nfqueue.NfAccept, outcome: unparsed}, fmt.Errorf("failed to parse packet: %w", err)
	}
	ok, err := evaluate(ctx, &p)
	switch {
	case err != nil:
		return answer{verdict: nfqueue.NfAccept, outcome: failed}, fmt.Errorf("failed to evaluate %s:%d -> %s:%d: %w", p.SrcIP, p.SrcPort, p.DstIP, p.DstPort, err)
	case ok:
		return answer{verdict: nfqueue.NfAccept, outcome: allowed}, nil
	default:
		return answer{verdict: nfqueue.NfRepeat, mark: denyMark, outcome: refused}, nil
	}
}

// counts are the queue's answers so far.
type counts struct {
	allowed, refused, unparsed, failed atomic.Uint64
}

func (c *counts) add(o outcome) {
	switch o {
	case allowed:
		c.allowed.Add(1)
	case refused:
		c.refused.Add(1)
	case unparsed:
		c.unparsed.Add(1)
	case failed:
		c.failed.Add(1)
	}
}

// serveQueue reads QueueNum in the network namespace netns (an open file
// descriptor; 0: the caller's) until ctx ends and answers each packet. It
// returns once the queue is bound, so that rules sending packets to it
// can follow.
func serveQueue(ctx context.Context, netns int, evaluate evaluateFunc, n *counts, logf func(string, ...any)) (*nfqueue.Nfqueue, error) {
	q, err := nfqueue.Open(&nfqueue.Config{
		NetNS:        netns,
		NfQueue:      QueueNum,
		MaxPacketLen: 128, // the headers are enough
		MaxQueueLen:  1024,
		Copymode:     nfqueue.NfQnlCopyPacket,
		// GSO: a large packet is queued whole rather than segmented.
		// No FailOpen: a full queue drops rather than lets through.
		Flags:        nfqueue.NfQaCfgFlagGSO,
		WriteTimeout: 100 * time.Millisecond,
	})
	if err != nil {
		return nil, fmt.Errorf("failed to open netfilter queue %d: %w", QueueNum, err)
	}
	handle := func(a nfqueue.Attribute) int {
		if a.PacketID == nil {
			return 0
		}
		var payload []byte
		if a.Payload != nil {
			payload = *a.Payload
		}
		ans, err := decide(ctx, payload, evaluate)
		n.add(ans.outcome)
		if err != nil {
			logf("netpol: %v: accepted", err)
		}
		if ans.mark != 0 {
			err = q.SetVerdictWithOption(*a.PacketID, ans.verdict, nfqueue.WithMark(ans.mark))
		} else {
			err = q.SetVerdict(*a.PacketID, ans.verdict)
		}
		if err != nil {
			logf("netpol: failed to answer packet %d: %v", *a.PacketID, err)
		}
		return 0
	}
	onError := func(err error) int {
		if ctx.Err() != nil {
			return 1
		}
		var op *netlink.OpError
		if errors.As(err, &op) && (op.Timeout() || op.Temporary()) {
			return 0
		}
		// ENOBUFS (the socket's buffer overran: those packets wait for a
		// verdict that never comes, and go when the queue is full) and
		// the like: keep reading, but not in a tight loop.
		logf("netpol: reading the queue: %v", err)
		time.Sleep(100 * time.Millisecond)
		return 0
	}
	if err := q.RegisterWithErrorFunc(ctx, handle, onError); err != nil {
		q.Close()
		return nil, fmt.Errorf("failed to bind netfilter queue %d: %w", QueueNum, err)
	}
	return q, nil
}
