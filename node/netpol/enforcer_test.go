package netpol

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/kube-network-policies/pkg/network"
)

const testNode = "np-control-plane"

func pod(ns, name string, labels map[string]string, ip string, mod ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec:       corev1.PodSpec{NodeName: testNode, Containers: []corev1.Container{{Name: "app"}}},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning},
	}
	if ip != "" {
		p.Status.PodIP, p.Status.PodIPs = ip, []corev1.PodIP{{IP: ip}}
	}
	for _, m := range mod {
		m(p)
	}
	return p
}

func withPort(name string, port int32, proto corev1.Protocol) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports, corev1.ContainerPort{Name: name, ContainerPort: port, Protocol: proto})
	}
}

func port(p intstr.IntOrString, proto corev1.Protocol) networkingv1.NetworkPolicyPort {
	return networkingv1.NetworkPolicyPort{Port: &p, Protocol: &proto}
}

// testEnforcer is an enforcer whose informers hold the objects given, as
// the API server would list them (defaults applied), never started.
func testEnforcer(t *testing.T, cniDir string, objs ...any) *Enforcer {
	t.Helper()
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: "https://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	e, err := newEnforcer(cs, Config{NodeName: testNode, PodCIDR: netip.MustParsePrefix("10.244.0.0/24"), CNICacheDir: cniDir, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	core, nw := e.factory.Core().V1(), e.factory.Networking().V1()
	for _, o := range objs {
		var err error
		switch o := o.(type) {
		case *corev1.Pod:
			err = core.Pods().Informer().GetIndexer().Add(o)
		case *corev1.Namespace:
			err = core.Namespaces().Informer().GetIndexer().Add(o)
		case *networkingv1.NetworkPolicy:
			err = nw.NetworkPolicies().Informer().GetIndexer().Add(o)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// cluster is a user's: a server with a named port, clients in its
// namespace and another, DNS, a host-network pod and a pod the API server
// has no address for yet (libcni's cache has it), and two policies.
func cluster(t *testing.T) *Enforcer {
	t.Helper()
	cniDir := t.TempDir()
	sample, err := os.ReadFile("testdata/cni-result.json")
	if err != nil {
		t.Fatal(err)
	}
	fresh := strings.NewReplacer(`"client-0"`, `"fresh"`, "10.244.0.12/24", "10.244.0.16/24").Replace(string(sample))
	if err := os.WriteFile(filepath.Join(cniDir, "skiff-fff-eth0"), []byte(fresh), 0o600); err != nil {
		t.Fatal(err)
	}
	ns := func(name string, labels map[string]string) *corev1.Namespace {
		return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	}
	return testEnforcer(t, cniDir,
		ns("web", map[string]string{"team": "web"}),
		ns("other", map[string]string{"team": "other"}),
		ns("kube-system", nil),
		pod("web", "server", map[string]string{"app": "server"}, "10.244.0.10", withPort("http", 8080, corev1.ProtocolTCP)),
		pod("web", "client", map[string]string{"role": "client"}, "10.244.0.11"),
		pod("web", "intruder", nil, "10.244.0.12"),
		pod("other", "friend", map[string]string{"role": "client"}, "10.244.0.13"),
		pod("web", "finished", map[string]string{"app": "server"}, "10.244.0.14", func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }),
		pod("web", "elsewhere", map[string]string{"app": "server"}, "10.244.1.15", func(p *corev1.Pod) { p.Spec.NodeName = "another" }),
		pod("web", "hostnet", map[string]string{"app": "server"}, "172.18.0.2", func(p *corev1.Pod) { p.Spec.HostNetwork = true }),
		pod("web", "fresh", map[string]string{"role": "client"}, ""),
		pod("kube-system", "coredns", map[string]string{"k8s-app": "kube-dns"}, "10.244.0.2", withPort("dns", 53, corev1.ProtocolUDP)),
		&networkingv1.NetworkPolicy{
			ObjectMeta: metav1.ObjectMeta{Namespace: "web", Name: "server-ingress"},
			Spec: networkingv1.NetworkPolicySpec{
				PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "server"}},
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
				Ingress: []networkingv1.NetworkPolicyIngressRule{
					{From: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"role": "client"}}}},
						Ports: []networkingv1.NetworkPolicyPort{port(intstr.FromString("http"), corev1.ProtocolTCP)}},
					{From: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "other"}}}},
						Ports: []networkingv1.NetworkPolicyPort{func() networkingv1.NetworkPolicyPort {
							p := port(intstr.FromInt32(9000), corev1.ProtocolTCP)
							p.EndPort = ptr.To[int32](9010)
							return p
						}()}},
					{From: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "172.18.0.0/16", Except: []string{"172.18.0.99/32"}}}}},
				},
			},
		},
		&networkingv1.NetworkPolicy{
			ObjectMeta: metav1.ObjectMeta{Namespace: "web", Name: "client-egress"},
			Spec: networkingv1.NetworkPolicySpec{
				PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"role": "client"}},
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
				Egress: []networkingv1.NetworkPolicyEgressRule{
					{Ports: []networkingv1.NetworkPolicyPort{port(intstr.FromInt32(53), corev1.ProtocolUDP)}},
					{To: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "server"}}}}},
				},
			},
		},
	)
}

// TestManagedAndKnown checks which addresses the table holds: the local
// pods a policy selects, and every running local pod with an address.
func TestManagedAndKnown(t *testing.T) {
	t.Parallel()
	e := cluster(t)
	got, err := e.desired(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// server and client; finished is a selected local pod with an address
	// too (the engine does not look at phases): queued, harmlessly. Not
	// friend (no policy in its namespace), elsewhere (another node),
	// hostnet, nor fresh (no address in the API yet: the unknown rules
	// queue it).
	if want := addrs("10.244.0.10", "10.244.0.11", "10.244.0.14"); !slices.Equal(got.managed, want) {
		t.Errorf("managed %v, want %v", got.managed, want)
	}
	if want := addrs("10.244.0.2", "10.244.0.10", "10.244.0.11", "10.244.0.12", "10.244.0.13"); !slices.Equal(got.known, want) {
		t.Errorf("known %v, want %v", got.known, want)
	}
	if !got.policies {
		t.Error("policies = false with two policies")
	}
	if got.podCIDR != netip.MustParsePrefix("10.244.0.0/24") {
		t.Errorf("pod CIDR %s", got.podCIDR)
	}

	empty := testEnforcer(t, t.TempDir(), pod("web", "server", nil, "10.244.0.10"))
	got, err = empty.desired(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got.policies || len(got.managed) != 0 || !slices.Equal(got.known, addrs("10.244.0.10")) {
		t.Errorf("without policies: %+v", got)
	}
}

// TestVerdicts runs packets through the engine as the queue does, for the
// cases a user's policies mean to allow and refuse.
func TestVerdicts(t *testing.T) {
	t.Parallel()
	e := cluster(t)
	tcp, udp := corev1.ProtocolTCP, corev1.ProtocolUDP
	for _, tc := range []struct {
		name    string
		src     string
		dst     string
		dport   int
		proto   corev1.Protocol
		allowed bool
	}{
		{"labelled client to the named port", "10.244.0.11", "10.244.0.10", 8080, tcp, true},
		{"unlabelled pod to the named port", "10.244.0.12", "10.244.0.10", 8080, tcp, false},
		{"labelled client to another port", "10.244.0.11", "10.244.0.10", 9999, tcp, false},
		{"namespaceSelector, in endPort's range", "10.244.0.13", "10.244.0.10", 9005, tcp, true},
		{"namespaceSelector, past endPort", "10.244.0.13", "10.244.0.10", 9011, tcp, false},
		{"labelled pod of another namespace: podSelector alone is the policy's namespace", "10.244.0.13", "10.244.0.10", 8080, tcp, false},
		{"ipBlock", "172.18.0.1", "10.244.0.10", 8080, tcp, true},
		{"ipBlock except", "172.18.0.99", "10.244.0.10", 8080, tcp, false},
		{"egress: DNS allowed", "10.244.0.11", "10.244.0.2", 53, udp, true},
		{"egress: DNS over TCP not", "10.244.0.11", "10.244.0.2", 53, tcp, false},
		{"egress: another pod refused", "10.244.0.11", "10.244.0.12", 8080, tcp, false},
		{"egress: outside refused", "10.244.0.11", "8.8.8.8", 443, tcp, false},
		{"egress: the node (API server) refused", "10.244.0.11", "172.18.0.2", 6443, tcp, false},
		{"no policy on either side", "10.244.0.12", "10.244.0.13", 80, tcp, true},
		{"pod the API has no address for yet: egress applies (libcni's cache)", "10.244.0.16", "10.244.0.12", 80, tcp, false},
		{"pod the API has no address for yet: its policy allows the server", "10.244.0.16", "10.244.0.10", 8080, tcp, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := &network.Packet{Family: corev1.IPv4Protocol, SrcIP: net.ParseIP(tc.src), DstIP: net.ParseIP(tc.dst), SrcPort: 40000, DstPort: tc.dport, Proto: tc.proto}
			got, err := e.engine.EvaluatePacket(context.Background(), p)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.allowed {
				t.Errorf("%s -> %s:%d/%s allowed = %t, want %t", tc.src, tc.dst, tc.dport, tc.proto, got, tc.allowed)
			}
		})
	}
}
