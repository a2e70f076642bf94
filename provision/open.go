package provision

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"

	"github.com/skiff-k8s/skiff/internal/waitfor"
)

// Opening is how the host reaches a Service now.
type Opening struct {
	URL string
	// Via is "ingress", "loadbalancer" or "port-forward".
	Via string
	// Done is closed when a port-forward ends (nil otherwise); it lives
	// until the context given to Open ends.
	Done <-chan struct{}
}

// lbReachTimeout bounds the check that a LoadBalancer address answers
// from the host (it does on Linux, not from Docker Desktop's VM). It is
// seconds, not one dial: an address just assigned answers only once
// kube-proxy has its rules.
const lbReachTimeout = 5 * time.Second

// Open finds a URL on the host that reaches the Service, in the order a
// user would pick: an Ingress rule or HTTPRoute that sends to it, its LoadBalancer
// address where the host can route to it, else a port-forward to one of
// its ready pods, which lives as long as ctx.
func (p *Provider) Open(ctx context.Context, cluster, namespace, service string) (*Opening, error) {
	c, err := p.node(ctx, cluster)
	if err != nil {
		return nil, err
	}
	kubeconfig, err := p.Kubeconfig(ctx, cluster, false)
	if err != nil {
		return nil, err
	}
	cs, err := clientFor(kubeconfig)
	if err != nil {
		return nil, err
	}
	rc, err := clientcmd.RESTConfigFromKubeConfig(kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig: %w", err)
	}
	svc, err := cs.CoreV1().Services(namespace).Get(ctx, service, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("service %s/%s: %w", namespace, service, err)
	}
	if len(svc.Spec.Ports) == 0 {
		return nil, fmt.Errorf("service %s/%s has no ports", namespace, service)
	}
	var httpPort string
	for _, b := range c.HostConfig.PortBindings["80/tcp"] {
		httpPort = b.HostPort
	}
	if httpPort != "" {
		u, err := ingressURL(ctx, cs, svc, httpPort)
		if err != nil {
			return nil, err
		}
		if u != "" {
			return &Opening{URL: u, Via: "ingress"}, nil
		}
		if u, err = routeURL(ctx, rc, svc, httpPort); err != nil {
			return nil, err
		}
		if u != "" {
			return &Opening{URL: u, Via: "HTTPRoute"}, nil
		}
	}
	if u := loadBalancerURL(ctx, svc); u != "" {
		return &Opening{URL: u, Via: "loadbalancer"}, nil
	}
	return portForward(ctx, rc, cs, svc)
}

// ingressURL is the URL of the first Ingress rule (of any Ingress in the
// Service's namespace) that sends to the Service and that a browser on the
// host reaches at 127.0.0.1: a rule without a host, or for a *.localhost
// name (which resolves to the loopback address). "" if there is none.
func ingressURL(ctx context.Context, cs *kubernetes.Clientset, svc *corev1.Service, hostPort string) (string, error) {
	list, err := cs.NetworkingV1().Ingresses(svc.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", fmt.Errorf("list ingresses: %w", err)
	}
	for _, ing := range list.Items {
		for _, r := range ing.Spec.Rules {
			if r.HTTP == nil || r.Host != "" && !strings.HasSuffix(r.Host, ".localhost") {
				continue
			}
			for _, path := range r.HTTP.Paths {
				if !sendsTo(path.Backend, svc.Name) {
					continue
				}
				host := or(r.Host, "127.0.0.1")
				return "http://" + net.JoinHostPort(host, hostPort) + or(path.Path, "/"), nil
			}
		}
		if b := ing.Spec.DefaultBackend; b != nil && sendsTo(*b, svc.Name) {
			return "http://" + net.JoinHostPort("127.0.0.1", hostPort) + "/", nil
		}
	}
	return "", nil
}

// httpRoutes is Gateway API's HTTPRoute resource (the gateway addon).
var httpRoutes = schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "httproutes"}

// routeURL is the URL of the first HTTPRoute rule in the Service's
// namespace that sends to it, for a route without hostnames or with a
// *.localhost one, on the cluster's HTTP port (where the Traefik that
// serves the gateway addon's class listens for port-80 listeners). "" if
// there is none or Gateway API is not installed.
func routeURL(ctx context.Context, rc *rest.Config, svc *corev1.Service, hostPort string) (string, error) {
	rc = rest.CopyConfig(rc)
	rc.Timeout = 5 * time.Second
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		return "", err
	}
	list, err := dyn.Resource(httpRoutes).Namespace(svc.Namespace).List(ctx, metav1.ListOptions{})
	if apierrors.IsNotFound(err) {
		return "", nil // no Gateway API in this cluster
	} else if err != nil {
		return "", fmt.Errorf("list HTTPRoutes: %w", err)
	}
	for _, r := range list.Items {
		host := "127.0.0.1"
		hostnames, _, _ := unstructured.NestedStringSlice(r.Object, "spec", "hostnames")
		if len(hostnames) > 0 {
			i := slices.IndexFunc(hostnames, func(h string) bool { return strings.HasSuffix(h, ".localhost") })
			if i < 0 {
				continue
			}
			host = hostnames[i]
		}
		rules, _, _ := unstructured.NestedSlice(r.Object, "spec", "rules")
		for _, rule := range rules {
			rm, _ := rule.(map[string]any)
			refs, _, _ := unstructured.NestedSlice(rm, "backendRefs")
			if !slices.ContainsFunc(refs, func(ref any) bool {
				m, _ := ref.(map[string]any)
				kind, _, _ := unstructured.NestedString(m, "kind")
				name, _, _ := unstructured.NestedString(m, "name")
				return name == svc.Name && (kind == "" || kind == "Service")
			}) {
				continue
			}
			path := "/"
			if matches, _, _ := unstructured.NestedSlice(rm, "matches"); len(matches) > 0 {
				if m, ok := matches[0].(map[string]any); ok {
					if v, _, _ := unstructured.NestedString(m, "path", "value"); v != "" {
						path = v
					}
				}
			}
			return "http://" + net.JoinHostPort(host, hostPort) + path, nil
		}
	}
	return "", nil
}

func sendsTo(b networkingv1.IngressBackend, service string) bool {
	return b.Service != nil && b.Service.Name == service
}

// loadBalancerURL is the Service's LoadBalancer address and first port if
// the host can connect to it within lbReachTimeout, else "".
func loadBalancerURL(ctx context.Context, svc *corev1.Service) string {
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer || len(svc.Status.LoadBalancer.Ingress) == 0 {
		return ""
	}
	addr := net.JoinHostPort(svc.Status.LoadBalancer.Ingress[0].IP, strconv.Itoa(int(svc.Spec.Ports[0].Port)))
	ctx, cancel := context.WithTimeout(ctx, lbReachTimeout)
	defer cancel()
	var d net.Dialer
	err := waitfor.Poll(ctx, 250*time.Millisecond, func(ctx context.Context) (bool, string, error) {
		dialCtx, cancelDial := context.WithTimeout(ctx, time.Second)
		defer cancelDial()
		conn, err := d.DialContext(dialCtx, "tcp", addr)
		if err != nil {
			return false, err.Error(), nil
		}
		conn.Close()
		return true, "", nil
	})
	if err != nil {
		return ""
	}
	return scheme(svc.Spec.Ports[0].Port) + addr + "/"
}

func scheme(port int32) string {
	if port == 443 {
		return "https://"
	}
	return "http://"
}

// portForward forwards a free port on 127.0.0.1 to the Service's first
// port on one of its ready pods, as `kubectl port-forward svc/NAME` does.
// rc has no client timeout: the forward's streams live as long as ctx.
func portForward(ctx context.Context, rc *rest.Config, cs *kubernetes.Clientset, svc *corev1.Service) (*Opening, error) {
	pod, port, err := readyEndpoint(ctx, cs, svc)
	if err != nil {
		return nil, err
	}
	transport, upgrader, err := spdy.RoundTripperFor(rc)
	if err != nil {
		return nil, fmt.Errorf("port-forward: %w", err)
	}
	u := cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(svc.Namespace).Name(pod).SubResource("portforward").URL()
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, http.MethodPost, u)
	stop, ready := make(chan struct{}), make(chan struct{})
	fw, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{fmt.Sprintf("0:%d", port)}, stop, ready, io.Discard, io.Discard)
	if err != nil {
		return nil, fmt.Errorf("port-forward to pod %s: %w", pod, err)
	}
	done, errc := make(chan struct{}), make(chan error, 1)
	go func() {
		errc <- fw.ForwardPorts()
		close(done)
	}()
	go func() {
		<-ctx.Done()
		close(stop)
	}()
	select {
	case <-ready:
	case err := <-errc:
		return nil, fmt.Errorf("port-forward to pod %s: %w", pod, err)
	case <-time.After(30 * time.Second):
		close(stop)
		return nil, fmt.Errorf("port-forward to pod %s: not ready within 30s", pod)
	}
	ports, err := fw.GetPorts()
	if err != nil || len(ports) == 0 {
		return nil, fmt.Errorf("port-forward to pod %s: no local port: %v", pod, err)
	}
	return &Opening{URL: scheme(svc.Spec.Ports[0].Port) + net.JoinHostPort("127.0.0.1", strconv.Itoa(int(ports[0].Local))) + "/", Via: "port-forward to pod " + pod, Done: done}, nil
}

// readyEndpoint is a ready pod behind the Service's first port and the
// container port it serves that on.
func readyEndpoint(ctx context.Context, cs *kubernetes.Clientset, svc *corev1.Service) (string, int32, error) {
	eps, err := cs.DiscoveryV1().EndpointSlices(svc.Namespace).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + svc.Name})
	if err != nil {
		return "", 0, fmt.Errorf("list endpoints of %s/%s: %w", svc.Namespace, svc.Name, err)
	}
	want := svc.Spec.Ports[0].Name
	for _, s := range eps.Items {
		var port int32
		for _, sp := range s.Ports {
			if sp.Port != nil && (sp.Name == nil && want == "" || sp.Name != nil && *sp.Name == want) {
				port = *sp.Port
			}
		}
		for _, e := range s.Endpoints {
			if port != 0 && e.TargetRef != nil && e.TargetRef.Kind == "Pod" && (e.Conditions.Ready == nil || *e.Conditions.Ready) {
				return e.TargetRef.Name, port, nil
			}
		}
	}
	return "", 0, fmt.Errorf("service %s/%s has no ready pod: `kubectl get pods -n %s` shows why", svc.Namespace, svc.Name, svc.Namespace)
}
