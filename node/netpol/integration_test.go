package netpol

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"
	"sigs.k8s.io/kube-network-policies/pkg/network"
)

// TestIntegrationDataplane runs the table and the queue in a network
// namespace of their own (the "node"), routing between two more (pods a
// and b) the way ptp does: a /32 on each pod's interface, a host route
// to it on the node. A fake engine decides; the kernel does the rest:
// queueing new connections only, rejecting what the engine denies at once,
// not asking about established packets, and letting everything through
// once nothing reads the queue. Needs root (network namespaces).
func TestIntegrationDataplane(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: needs root and network namespaces")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2's ip")
	}
	prefix := fmt.Sprintf("skiffnp%d", os.Getpid())
	node, a, b := prefix+"-node", prefix+"-a", prefix+"-b"
	for _, ns := range []string{node, a, b} {
		ip(t, "netns", "add", ns)
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
		ip(t, "-n", ns, "link", "set", "lo", "up")
	}
	const gw = "10.244.0.1"
	for _, p := range []struct{ ns, addr, hostIf string }{{a, "10.244.0.11", "veth-a"}, {b, "10.244.0.12", "veth-b"}} {
		ip(t, "-n", p.ns, "link", "add", "eth0", "type", "veth", "peer", "name", p.hostIf, "netns", node)
		ip(t, "-n", p.ns, "addr", "add", p.addr+"/32", "dev", "eth0")
		ip(t, "-n", p.ns, "link", "set", "eth0", "up")
		ip(t, "-n", p.ns, "route", "add", gw, "dev", "eth0", "scope", "link")
		ip(t, "-n", p.ns, "route", "add", "default", "via", gw, "dev", "eth0")
		ip(t, "-n", node, "addr", "add", gw+"/32", "dev", p.hostIf)
		ip(t, "-n", node, "link", "set", p.hostIf, "up")
		ip(t, "-n", node, "route", "add", p.addr+"/32", "dev", p.hostIf)
	}
	// An address of pod a that no pod has in the API (known lacks it).
	ip(t, "-n", a, "addr", "add", "10.244.0.13/32", "dev", "eth0")
	ip(t, "-n", node, "route", "add", "10.244.0.13/32", "dev", "veth-a")
	ip(t, "netns", "exec", node, "sysctl", "-qw", "net.ipv4.ip_forward=1")

	nodeFd := nsFd(t, node)
	serve(t, b, "tcp", "10.244.0.12:80")
	serve(t, b, "tcp", "10.244.0.12:81")
	serve(t, node, "tcp", gw+":82")

	// The engine: port 81, and the node's port 82, are refused.
	var mu sync.Mutex
	var asked []string
	evaluate := func(_ context.Context, p *network.Packet) (bool, error) {
		mu.Lock()
		asked = append(asked, fmt.Sprintf("%s %s:%d", p.Proto, p.DstIP, p.DstPort))
		mu.Unlock()
		return p.DstPort != 81 && p.DstPort != 82, nil
	}
	askedFor := func(dst string) int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, s := range asked {
			if strings.HasSuffix(s, " "+dst) {
				n++
			}
		}
		return n
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var n counts
	q, err := serveQueue(ctx, nodeFd, evaluate, &n, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	conn, err := nftables.New(nftables.WithNetNSFd(nodeFd))
	if err != nil {
		t.Fatal(err)
	}
	r := ruleset{podCIDR: netip.MustParsePrefix("10.244.0.0/24"), policies: true,
		managed: addrs("10.244.0.12"), known: addrs("10.244.0.11", "10.244.0.12")}
	if err := r.apply(conn); err != nil {
		t.Fatalf("the kernel refused the table: %v\n%s", err, r)
	}
	// nft reads the expressions back as the text they were written with.
	if out, err := exec.Command("ip", "netns", "exec", node, "nft", "list", "table", "ip", TableName).Output(); err != nil {
		t.Errorf("nft list: %v", err)
	} else if got := counterValues.ReplaceAllString(string(out), "counter "); got != r.String() {
		t.Errorf("nft lists the table as\n%s\nwritten as\n%s", got, r)
	}

	t.Run("allowed: answered, the engine asked once per connection", func(t *testing.T) {
		for range 3 {
			if err := exchange(t, a, "10.244.0.11", "10.244.0.12:80"); err != nil {
				t.Fatal(err)
			}
		}
		if got := askedFor("10.244.0.12:80"); got != 3 {
			t.Errorf("engine asked %d times for 3 connections of several packets each", got)
		}
	})
	t.Run("denied TCP: refused at once", func(t *testing.T) {
		start := time.Now()
		err := exchange(t, a, "10.244.0.11", "10.244.0.12:81")
		if !errors.Is(err, syscall.ECONNREFUSED) || time.Since(start) > time.Second {
			t.Errorf("got %v after %s, want connection refused at once", err, time.Since(start))
		}
	})
	t.Run("denied UDP: ICMP error at once", func(t *testing.T) {
		start := time.Now()
		err := udpExchange(t, a, "10.244.0.11", "10.244.0.12:81")
		if !errors.Is(err, syscall.EHOSTUNREACH) || time.Since(start) > time.Second {
			t.Errorf("got %v after %s, want host unreachable (administratively prohibited) at once", err, time.Since(start))
		}
	})
	t.Run("to the node: the sender's egress is asked", func(t *testing.T) {
		// a is neither managed nor unknown: not queued, so not refused.
		if err := exchange(t, a, "10.244.0.11", gw+":82"); err != nil {
			t.Errorf("unmanaged pod to the node: %v", err)
		}
		if err := exchange(t, b, "10.244.0.12", gw+":82"); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("managed pod to the node: %v, want refused", err)
		}
		if err := exchange(t, a, "10.244.0.13", gw+":82"); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("unknown pod address to the node: %v, want refused", err)
		}
	})
	t.Run("the node itself is not asked", func(t *testing.T) {
		before := askedFor("10.244.0.12:81")
		if err := exchange(t, node, "", "10.244.0.12:81"); err != nil {
			t.Errorf("node to a managed pod's refused port: %v", err)
		}
		if askedFor("10.244.0.12:81") != before {
			t.Error("the node's own connection was queued")
		}
	})
	t.Run("no policy: nothing queued", func(t *testing.T) {
		r := r
		r.policies = false
		if err := r.apply(conn); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := r.apply(conn); err != nil {
				t.Fatal(err)
			}
		}()
		r.policies = true
		if err := exchange(t, a, "10.244.0.11", "10.244.0.12:81"); err != nil {
			t.Errorf("without policies: %v", err)
		}
	})
	if n.refused.Load() == 0 || n.allowed.Load() == 0 {
		t.Errorf("counts: %d allowed, %d refused", n.allowed.Load(), n.refused.Load())
	}
	t.Run("nothing reads the queue: fail open", func(t *testing.T) {
		cancel()
		q.Close()
		if err := exchange(t, a, "10.244.0.11", "10.244.0.12:81"); err != nil {
			t.Errorf("with the queue unbound: %v", err)
		}
	})
	t.Run("remove", func(t *testing.T) {
		if err := remove(conn); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.ListTableOfFamily(TableName, nftables.TableFamilyIPv4); err == nil {
			t.Error("the table is still there")
		}
	})
}

// counterValues are the counters' values in nft's listing.
var counterValues = regexp.MustCompile(`counter packets \d+ bytes \d+ `)

func ip(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

func nsFd(t *testing.T, ns string) int {
	t.Helper()
	f, err := os.Open("/run/netns/" + ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return int(f.Fd())
}

// inNetns runs fn on a thread in network namespace ns; sockets fn opens
// stay there.
func inNetns(t *testing.T, ns string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		// The thread is never unlocked: it dies with the goroutine
		// instead of going back to the pool in another namespace.
		f, err := os.Open("/run/netns/" + ns)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			t.Errorf("setns %s: %v", ns, err)
			return
		}
		fn()
	}()
	<-done
}

// serve answers each line with "echo: " and the line.
func serve(t *testing.T, ns, network, addr string) {
	t.Helper()
	var l net.Listener
	var err error
	inNetns(t, ns, func() { l, err = net.Listen(network, addr) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				line, err := bufio.NewReader(c).ReadString('\n')
				if err == nil {
					fmt.Fprintf(c, "echo: %s", line)
				}
			}()
		}
	}()
}

// exchange connects from ns (from address src, if given) to dst, sends a
// line and reads the answer.
func exchange(t *testing.T, ns, src, dst string) error {
	t.Helper()
	var c net.Conn
	var err error
	inNetns(t, ns, func() {
		d := net.Dialer{Timeout: 3 * time.Second}
		if src != "" {
			d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
		}
		c, err = d.Dial("tcp", dst)
	})
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := fmt.Fprintln(c, "hello"); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "echo: hello\n" {
		return fmt.Errorf("answer %q", line)
	}
	return nil
}

// udpExchange sends a datagram from ns to dst and waits for an answer or
// an error (nothing serves UDP: an answer never comes).
func udpExchange(t *testing.T, ns, src, dst string) error {
	t.Helper()
	var c net.Conn
	var err error
	inNetns(t, ns, func() {
		d := net.Dialer{LocalAddr: &net.UDPAddr{IP: net.ParseIP(src)}}
		c, err = d.Dial("udp", dst)
	})
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.Write([]byte("hello")); err != nil {
		return err
	}
	_, err = c.Read(make([]byte, 16))
	return err
}
