package servicelb

import (
	"context"
	"fmt"
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/retry"
	cloudprovider "k8s.io/cloud-provider"
	servicecontroller "k8s.io/cloud-provider/controllers/service"
	"k8s.io/component-base/featuregate"
	controllersmetrics "k8s.io/component-base/metrics/prometheus/controllers"
	"k8s.io/utils/ptr"
)

// Config is what the balancer needs.
type Config struct {
	// Kubeconfig is an admin kubeconfig of the node's API server.
	Kubeconfig string
	// Pool is the cluster's LoadBalancer addresses.
	Pool netip.Prefix
	// ClusterName is passed to the cloud interface (and names nothing here).
	ClusterName string
	Logf        func(format string, args ...any)
}

// Status is the balancer in the agent's report.
type Status struct {
	Pool     string `json:"pool"`
	Assigned int    `json:"assigned"`
}

// Balancer runs the service controller with this package as its cloud.
type Balancer struct {
	pool   *pool
	arp    *announcer
	logf   func(string, ...any)
	cancel context.CancelFunc
	done   chan struct{}
}

// cleanupFinalizer is the finalizer the service controller keeps on every
// Service it gave a load balancer (servicecontroller's LoadBalancerCleanupFinalizer).
const cleanupFinalizer = "service.kubernetes.io/load-balancer-cleanup"

// Start starts the informers, reserves the addresses Services already
// have, and runs the service controller. It returns once the informers
// have synced; ctx bounds the start only.
func Start(ctx context.Context, cfg Config) (*Balancer, error) {
	p, err := newPool(cfg.Pool)
	if err != nil {
		return nil, err
	}
	cs, err := clientset(cfg.Kubeconfig)
	if err != nil {
		return nil, err
	}
	ann, err := listen(p, cfg.Logf)
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	factory := informers.NewSharedInformerFactory(cs, 0)
	b := &Balancer{pool: p, arp: ann, logf: cfg.Logf, cancel: cancel, done: make(chan struct{})}
	ctrl, err := servicecontroller.New(cloud{b}, cs, factory.Core().V1().Services(), factory.Core().V1().Nodes(), cfg.ClusterName, featuregate.NewFeatureGate())
	if err != nil {
		cancel()
		_ = ann.close()
		return nil, fmt.Errorf("start the service controller: %w", err)
	}
	factory.Start(runCtx.Done())
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			cancel()
			_ = ann.close()
			return nil, fmt.Errorf("list %v: %w", typ, context.Cause(ctx))
		}
	}
	// Before the controller runs: a Service that asks for an address
	// later must not take one another Service already has.
	svcs, _ := factory.Core().V1().Services().Lister().List(labels.Everything())
	for _, s := range svcs {
		if wantsAddress(s) {
			p.reserve(key(s), statusAddr(s))
		}
	}
	go ann.serve()
	go func() {
		defer close(b.done)
		ctrl.Run(runCtx, 1, controllersmetrics.NewControllerManagerMetrics("skiff-node"))
	}()
	return b, nil
}

// Stop stops the controller and the ARP answers. The Services keep their
// status and finalizers: the next start takes them over.
func (b *Balancer) Stop() error {
	b.cancel()
	<-b.done
	return b.arp.close()
}

// Status is the pool and how many of its addresses are assigned.
func (b *Balancer) Status() Status {
	return Status{Pool: b.pool.prefix.String(), Assigned: b.pool.len()}
}

// Release is for when the addon is disabled (its balancer stopped): it
// takes the cleanup finalizer and the status addresses in pool off every
// Service, so none waits for a controller that no longer runs.
func Release(ctx context.Context, kubeconfig string, pool netip.Prefix) error {
	cs, err := clientset(kubeconfig)
	if err != nil {
		return err
	}
	list, err := cs.CoreV1().Services("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, s := range list.Items {
		if !slices.Contains(s.Finalizers, cleanupFinalizer) && !pool.Contains(statusAddr(&s)) {
			continue
		}
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			cur, err := cs.CoreV1().Services(s.Namespace).Get(ctx, s.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if pool.Contains(statusAddr(cur)) {
				cur.Status.LoadBalancer = corev1.LoadBalancerStatus{}
				if cur, err = cs.CoreV1().Services(s.Namespace).UpdateStatus(ctx, cur, metav1.UpdateOptions{}); err != nil {
					return err
				}
			}
			if i := slices.Index(cur.Finalizers, cleanupFinalizer); i >= 0 {
				cur.Finalizers = slices.Delete(cur.Finalizers, i, i+1)
				_, err = cs.CoreV1().Services(s.Namespace).Update(ctx, cur, metav1.UpdateOptions{})
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("release Service %s/%s: %w", s.Namespace, s.Name, err)
		}
	}
	return nil
}

func clientset(kubeconfig string) (*kubernetes.Clientset, error) {
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", kubeconfig, err)
	}
	return kubernetes.NewForConfig(rc)
}

func key(s *corev1.Service) string {
	k, _ := cache.MetaNamespaceKeyFunc(s)
	return k
}

// wantsAddress: what the service controller gives a load balancer to.
func wantsAddress(s *corev1.Service) bool {
	return s.Spec.Type == corev1.ServiceTypeLoadBalancer && s.Spec.LoadBalancerClass == nil && s.DeletionTimestamp == nil
}

// statusAddr is the first IPv4 address in s's load balancer status.
func statusAddr(s *corev1.Service) netip.Addr {
	for _, in := range s.Status.LoadBalancer.Ingress {
		if a, err := netip.ParseAddr(in.IP); err == nil && a.Is4() {
			return a
		}
	}
	return netip.Addr{}
}

// cloud is the cloud provider the service controller asks: load balancers
// only.
type cloud struct{ b *Balancer }

func (c cloud) Initialize(cloudprovider.ControllerClientBuilder, <-chan struct{}) {}
func (c cloud) LoadBalancer() (cloudprovider.LoadBalancer, bool)                  { return c.b, true }
func (cloud) Instances() (cloudprovider.Instances, bool)                          { return nil, false }
func (cloud) InstancesV2() (cloudprovider.InstancesV2, bool)                      { return nil, false }
func (cloud) Zones() (cloudprovider.Zones, bool)                                  { return nil, false }
func (cloud) Clusters() (cloudprovider.Clusters, bool)                            { return nil, false }
func (cloud) Routes() (cloudprovider.Routes, bool)                                { return nil, false }
func (cloud) ProviderName() string                                                { return "skiff" }
func (cloud) HasClusterID() bool                                                  { return true }

// GetLoadBalancer implements cloudprovider.LoadBalancer.
func (b *Balancer) GetLoadBalancer(_ context.Context, _ string, s *corev1.Service) (*corev1.LoadBalancerStatus, bool, error) {
	a, ok := b.pool.lookup(key(s))
	if !ok {
		return nil, false, nil
	}
	return lbStatus(a), true, nil
}

// GetLoadBalancerName implements cloudprovider.LoadBalancer.
func (b *Balancer) GetLoadBalancerName(_ context.Context, _ string, s *corev1.Service) string {
	return cloudprovider.DefaultLoadBalancerName(s)
}

// EnsureLoadBalancer implements cloudprovider.LoadBalancer: an address
// for s, answered for on the network.
func (b *Balancer) EnsureLoadBalancer(_ context.Context, _ string, s *corev1.Service, _ []*corev1.Node) (*corev1.LoadBalancerStatus, error) {
	if len(s.Spec.IPFamilies) > 0 && !slices.Contains(s.Spec.IPFamilies, corev1.IPv4Protocol) {
		return nil, fmt.Errorf("the cluster's LoadBalancer pool %s is IPv4 and Service %s is not", b.pool.prefix, key(s))
	}
	var want netip.Addr
	if s.Spec.LoadBalancerIP != "" {
		var err error
		if want, err = netip.ParseAddr(s.Spec.LoadBalancerIP); err != nil {
			return nil, fmt.Errorf("spec.loadBalancerIP %q is not an address", s.Spec.LoadBalancerIP)
		}
	}
	a, fresh, err := b.pool.assign(key(s), want, statusAddr(s))
	if err != nil {
		return nil, err
	}
	if fresh {
		b.logf("servicelb: Service %s has address %s", key(s), a)
	}
	// Every time, one packet: an address held since before this start may
	// be known at the node's hardware address of a previous boot.
	b.arp.announce(a)
	return lbStatus(a), nil
}

// UpdateLoadBalancer implements cloudprovider.LoadBalancer: the node set
// does not matter to an address the node itself answers for.
func (b *Balancer) UpdateLoadBalancer(context.Context, string, *corev1.Service, []*corev1.Node) error {
	return nil
}

// EnsureLoadBalancerDeleted implements cloudprovider.LoadBalancer.
func (b *Balancer) EnsureLoadBalancerDeleted(_ context.Context, _ string, s *corev1.Service) error {
	if a, ok := b.pool.lookup(key(s)); ok {
		b.logf("servicelb: Service %s gave up address %s", key(s), a)
	}
	b.pool.release(key(s))
	return nil
}

func lbStatus(a netip.Addr) *corev1.LoadBalancerStatus {
	return &corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: a.String(), IPMode: ptr.To(corev1.LoadBalancerIPModeVIP)}}}
}
