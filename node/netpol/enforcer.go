package netpol

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/google/nftables"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	networkinglisters "k8s.io/client-go/listers/networking/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/kube-network-policies/pkg/api"
	"sigs.k8s.io/kube-network-policies/pkg/networkpolicy"
	"sigs.k8s.io/kube-network-policies/pkg/podinfo"
)

// Config is what the enforcer needs to know about the node.
type Config struct {
	// Kubeconfig is the file the informers' client uses.
	Kubeconfig string
	// NodeName is the node's name in the API: pods elsewhere are not its.
	NodeName string
	// PodCIDR is the node's pod address range (IPv4).
	PodCIDR netip.Prefix
	// CNICacheDir is libcni's result cache (CNICacheDir unless a test
	// says otherwise).
	CNICacheDir string
	// Logf logs a line.
	Logf func(format string, args ...any)
}

// Enforcer enforces NetworkPolicy on the node from Start until Stop.
type Enforcer struct {
	cfg     Config
	engine  *networkpolicy.PolicyEngine
	pods    corelisters.PodLister
	nps     networkinglisters.NetworkPolicyLister
	factory informers.SharedInformerFactory
	counts  counts

	cancel  context.CancelFunc
	done    chan struct{}
	trigger chan struct{}

	mu      sync.Mutex
	applied ruleset
	stopped bool
}

// Status is the enforcer's state for the node's status report.
type Status struct {
	Policies    int    `json:"policies"`
	ManagedPods int    `json:"managedPods"`
	Allowed     uint64 `json:"allowed"`
	Refused     uint64 `json:"refused"`
}

// Start starts the informers on pods, namespaces and policies, waits for
// them, binds the queue and writes the table. It returns once the policies
// are enforced; ctx bounds the start only.
func Start(ctx context.Context, cfg Config) (*Enforcer, error) {
	if !cfg.PodCIDR.Addr().Is4() {
		return nil, fmt.Errorf("pod CIDR %s is not IPv4", cfg.PodCIDR)
	}
	if cfg.CNICacheDir == "" {
		cfg.CNICacheDir = CNICacheDir
	}
	rc, err := clientcmd.BuildConfigFromFlags("", cfg.Kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("failed to load %s: %w", cfg.Kubeconfig, err)
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, err
	}
	e, err := newEnforcer(cs, cfg)
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	e.factory.Start(runCtx.Done())
	synced := e.factory.WaitForCacheSync(ctx.Done())
	for typ, ok := range synced {
		if !ok {
			e.shutdown()
			return nil, fmt.Errorf("the %v informer did not sync: %w", typ, context.Cause(ctx))
		}
	}
	// The queue first: the rules send packets to it.
	q, err := serveQueue(runCtx, 0, e.engine.EvaluatePacket, &e.counts, cfg.Logf)
	if err != nil {
		e.shutdown()
		return nil, err
	}
	if err := e.sync(runCtx); err != nil {
		e.shutdown()
		q.Close()
		return nil, err
	}
	go func() {
		defer close(e.done)
		e.loop(runCtx)
		q.Close()
	}()
	return e, nil
}

// newEnforcer wires the engine to informers that are not started yet.
func newEnforcer(cs kubernetes.Interface, cfg Config) (*Enforcer, error) {
	// Managed fields are most of an object and nothing here reads them.
	factory := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithTransform(stripManagedFields))
	pods := factory.Core().V1().Pods()
	namespaces := factory.Core().V1().Namespaces()
	policies := factory.Networking().V1().NetworkPolicies()
	byIP, err := podinfo.NewInformerResolver(pods.Informer())
	if err != nil {
		return nil, fmt.Errorf("failed to index pods by address: %w", err)
	}
	// The API's addresses first, then libcni's for pods the API has no
	// address for yet.
	provider := podinfo.NewInformerProvider(pods, namespaces, nil, []podinfo.IPResolver{byIP, newCNICache(cfg.CNICacheDir, cfg.PodCIDR)})
	standard := networkpolicy.NewStandardNetworkPolicy(cfg.NodeName, namespaces, pods, policies)
	e := &Enforcer{
		cfg:     cfg,
		engine:  networkpolicy.NewPolicyEngine(provider, []api.PolicyEvaluator{standard}),
		pods:    pods.Lister(),
		nps:     policies.Lister(),
		factory: factory,
		done:    make(chan struct{}),
		trigger: make(chan struct{}, 1),
	}
	// Any change to a local pod may change the known addresses, any
	// policy the managed ones; sync compares before it writes.
	onPod := func(obj any) {
		if p, ok := podOf(obj); ok && p.Spec.NodeName == cfg.NodeName {
			e.kick()
		}
	}
	onPolicy := func(any) { e.kick() }
	if _, err := pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: onPod, UpdateFunc: func(_, obj any) { onPod(obj) }, DeleteFunc: onPod,
	}); err != nil {
		return nil, err
	}
	if _, err := policies.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: onPolicy, UpdateFunc: func(_, obj any) { onPolicy(obj) }, DeleteFunc: onPolicy,
	}); err != nil {
		return nil, err
	}
	return e, nil
}

func stripManagedFields(obj any) (any, error) {
	if m, err := meta.Accessor(obj); err == nil {
		m.SetManagedFields(nil)
	}
	return obj, nil
}

func podOf(obj any) (*corev1.Pod, bool) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	p, ok := obj.(*corev1.Pod)
	return p, ok
}

func (e *Enforcer) kick() {
	select {
	case e.trigger <- struct{}{}:
	default:
	}
}

// loop syncs the table after each change until ctx ends; a failed write is
// retried a second later.
func (e *Enforcer) loop(ctx context.Context) {
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.trigger:
		case <-retry.C:
		}
		if err := e.sync(ctx); err != nil {
			e.cfg.Logf("netpol: %v (retrying in 1s)", err)
			retry.Reset(time.Second)
		}
	}
}

// sync writes the table if what it should hold changed.
func (e *Enforcer) sync(ctx context.Context) error {
	want, err := e.desired(ctx)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stopped || (e.applied.podCIDR.IsValid() && want.equal(e.applied)) {
		return nil
	}
	c, err := nftables.New()
	if err != nil {
		return fmt.Errorf("failed to open nftables: %w", err)
	}
	if err := want.apply(c); err != nil {
		return err
	}
	if !e.applied.podCIDR.IsValid() || want.policies != e.applied.policies || len(want.managed) != len(e.applied.managed) {
		e.cfg.Logf("netpol: %s", want.summary())
	}
	e.applied = want
	return nil
}

// desired is the ruleset for the informers' current state.
func (e *Enforcer) desired(ctx context.Context) (ruleset, error) {
	policies, err := e.nps.List(labels.Everything())
	if err != nil {
		return ruleset{}, fmt.Errorf("failed to list policies: %w", err)
	}
	managed, _, err := e.engine.GetManagedIPs(ctx)
	if err != nil {
		return ruleset{}, err
	}
	pods, err := e.pods.List(labels.Everything())
	if err != nil {
		return ruleset{}, fmt.Errorf("failed to list pods: %w", err)
	}
	return ruleset{
		podCIDR:  e.cfg.PodCIDR,
		managed:  sortedIPv4(managed),
		known:    knownAddrs(pods, e.cfg.NodeName),
		policies: len(policies) > 0,
	}, nil
}

func (r ruleset) summary() string {
	if !r.policies {
		return "no NetworkPolicy: nothing to enforce"
	}
	return fmt.Sprintf("enforcing; %d local pod addresses selected by a policy", len(r.managed))
}

// knownAddrs are the IPv4 addresses the API server has for the node's
// pods that still run or may (not Succeeded or Failed: a finished pod's
// address may already be a new pod's), sorted.
func knownAddrs(pods []*corev1.Pod, nodeName string) []netip.Addr {
	var out []netip.Addr
	for _, p := range pods {
		if p.Spec.NodeName != nodeName || p.Spec.HostNetwork || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		for _, ip := range p.Status.PodIPs {
			if a, err := netip.ParseAddr(ip.IP); err == nil {
				out = append(out, a)
			}
		}
	}
	return sortedIPv4(out)
}

// sortedIPv4 keeps the IPv4 addresses, sorted and without duplicates.
func sortedIPv4(addrs []netip.Addr) []netip.Addr {
	out := slices.DeleteFunc(slices.Clone(addrs), func(a netip.Addr) bool { return !a.Is4() })
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}

// Status reports the policies and the queue's answers so far.
func (e *Enforcer) Status() Status {
	e.mu.Lock()
	managed := len(e.applied.managed)
	e.mu.Unlock()
	policies, _ := e.nps.List(labels.Everything())
	return Status{
		Policies:    len(policies),
		ManagedPods: managed,
		Allowed:     e.counts.allowed.Load(),
		Refused:     e.counts.refused.Load(),
	}
}

// Stop removes the table, then unbinds the queue and stops the informers.
// It is safe to call more than once.
func (e *Enforcer) Stop() error {
	e.mu.Lock()
	if e.stopped {
		e.mu.Unlock()
		return nil
	}
	e.stopped = true
	var err error
	if c, cerr := nftables.New(); cerr != nil {
		err = cerr
	} else {
		err = remove(c)
	}
	e.mu.Unlock()
	e.shutdown()
	<-e.done
	return err
}

func (e *Enforcer) shutdown() {
	if e.cancel != nil {
		e.cancel()
	}
	e.factory.Shutdown()
}
