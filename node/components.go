package node

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"time"

	"k8s.io/client-go/tools/clientcmd"
)

// containerdSocket is where containerd serves its API and the CRI.
const containerdSocket = "/run/containerd/containerd.sock"

// component is one supervised child: how to run it, what it needs first and
// how to tell it is serving.
type component struct {
	name  string
	path  string
	args  []string
	after []string
	ready readyCheck
	// kube: a command of the multi-call Kubernetes binary, whose GC settles.
	kube bool
	// members: the Kubernetes components this process runs (kube-controllers),
	// in start order; each is ready on its own check.
	members []member
}

// member is a Kubernetes component inside a kube-controllers process. The
// multi-call binary reads the exported fields as JSON (membersFile) and
// starts each member once the one before it serves.
type member struct {
	Name    string   `json:"name"`
	Args    []string `json:"args"`
	Serving string   `json:"serving"`
	// AfterFile is a mark the agent writes when what the member waits for
	// is ready (apiHealthyMark).
	AfterFile string `json:"afterFile,omitempty"`
	after     []string
	ready     readyCheck
}

// membersFile is where the agent writes the members of the process name.
func membersFile(name string) string { return filepath.Join(RunDir, name+".json") }

// apiHealthyMark exists once the API server's /healthz has passed in this
// boot (/run is the node's tmpfs).
var apiHealthyMark = filepath.Join(RunDir, "api-healthy")

// Each component is a Go program whose heap, at the default GOGC of 100,
// grows to twice what it holds before a collection. At 25 an idle node's
// working set was 95 MiB smaller than at 100 (the API server's heap 190 ->
// 163 MiB), but a create on two cores spent about 6 s more CPU collecting
// while the heaps grew, and took 3-4 s longer. So the Kubernetes components
// start at 100 and settle at 25 once start-up is over (the multi-call
// binary's settleGC, images/recipe/kube-main.go.tmpl); etcd and containerd,
// whose heaps are small, run at 25 throughout.
const (
	startGOGC   = 100
	settledGOGC = 25
	// settleAfter is past a create's start-up on two cores, metrics-server's
	// first scrapes included.
	settleAfter = 45 * time.Second
)

// settleOwnGC does for the agent what the multi-call binary's settleGC
// does for the Kubernetes components: the agent applies every addon at
// boot and then only watches (NetworkPolicy, Services). At 25 its idle
// heap is about a third smaller.
func settleOwnGC() {
	time.AfterFunc(settleAfter, func() {
		debug.SetGCPercent(settledGOGC)
		debug.FreeOSMemory()
	})
}

// componentEnv is a component's environment: the agent's, with its GOGC.
func componentEnv(c component) []string {
	env := os.Environ()
	if !c.kube {
		return append(env, fmt.Sprintf("GOGC=%d", settledGOGC))
	}
	return append(env, fmt.Sprintf("GOGC=%d", startGOGC), fmt.Sprintf("SKIFF_SETTLED_GOGC=%d", settledGOGC), "SKIFF_SETTLE_AFTER="+settleAfter.String())
}

// etcdDataDir holds etcd's data; its member directory exists once etcd has
// run on this volume.
const etcdDataDir = "/var/lib/etcd"

// bootstrapHooks are the API server's start-up hooks that write the
// default RBAC policy and priority classes. Each first waits a second, then
// checks or writes a few hundred objects one request at a time: 2.5-3 s
// of /readyz here, while the API server serves every other request from
// about a second after its start.
var bootstrapHooks = []string{"poststarthook/rbac/bootstrap-roles", "poststarthook/scheduling/bootstrap-system-priority-classes"}

// apiServingURL answers once the API server serves: its /readyz without
// the bootstrap hooks. The controller-manager (in system:masters) and the
// agent's own clients (admin) need no more. The scheduler and kube-proxy
// need their roles: they wait for bootstrapped.
func apiServingURL() string {
	return fmt.Sprintf("https://127.0.0.1:%d/readyz?exclude=%s", APIServerPort, strings.Join(bootstrapHooks, "&exclude="))
}

// etcdPeerURL is etcd's peer URL, also the member's in a restored seed:
// a restored member must be the one etcd then runs as.
const etcdPeerURL = "http://127.0.0.1:2380"

// etcdClientURL is where etcd serves its clients (TLS, client
// certificates): the API server, and the agent pruning a new seed.
const etcdClientURL = "https://127.0.0.1:2379"

// apiHealthyURL is the API server's /healthz, which passes once its
// bootstrap hooks are done, however much of the policy was in etcd.
func apiHealthyURL() string {
	return fmt.Sprintf("https://127.0.0.1:%d/healthz", APIServerPort)
}

// bootstrapped is ready once the default RBAC policy is in etcd: at once on
// a volume where etcd has run before, else when all of /readyz passes. The
// scheduler and kube-proxy wait for it: refused for want of their roles,
// their clients back off for seconds.
func bootstrapped(booted bool) readyCheck {
	if booted {
		return func(context.Context) error { return nil }
	}
	return httpReady(fmt.Sprintf("https://127.0.0.1:%d/readyz", APIServerPort), adminTLS)
}

// booted reports whether etcd has run on this volume before.
func booted() bool {
	_, err := os.Stat(filepath.Join(etcdDataDir, "member"))
	return err == nil
}

// components lists the node's processes. Order is the start order when their
// dependencies allow; Agent.stop stops the Kubernetes components together,
// then the others in reverse.
func components(c *Config, ip string) []component {
	gates := featureGatesFlag(c.FeatureGates)
	apiserver := []string{
		"--advertise-address=" + ip,
		// The Service "kubernetes" must point at this node's address alone
		// from the API server's first second. The default reconciler keeps
		// each address it has served from for its lease's 15 s, so after a
		// clone, a restore or an engine restart that moved the node, pods
		// that dialled kubernetes.default half the time reached the old
		// address: for a clone, the running cluster it was copied from,
		// which trusts the same CA and service-account key. master-count
		// (deprecated upstream, present through 1.37) with its default of
		// one API server replaces any other address at once.
		"--endpoint-reconciler-type=master-count",
		"--allow-privileged=true",
		"--authorization-mode=Node,RBAC",
		"--client-ca-file=" + pki("ca.crt"),
		"--enable-admission-plugins=NodeRestriction",
		"--etcd-servers=" + etcdClientURL,
		"--etcd-cafile=" + pki("etcd/ca.crt"),
		"--etcd-certfile=" + pki("apiserver-etcd-client.crt"),
		"--etcd-keyfile=" + pki("apiserver-etcd-client.key"),
		"--kubelet-client-certificate=" + pki("apiserver-kubelet-client.crt"),
		"--kubelet-client-key=" + pki("apiserver-kubelet-client.key"),
		// Logs, exec and port-forward go to a kubelet proven by the CA.
		"--kubelet-certificate-authority=" + pki("ca.crt"),
		"--kubelet-preferred-address-types=InternalIP,Hostname",
		"--proxy-client-cert-file=" + pki("front-proxy-client.crt"),
		"--proxy-client-key-file=" + pki("front-proxy-client.key"),
		"--requestheader-allowed-names=front-proxy-client",
		"--requestheader-client-ca-file=" + pki("front-proxy-ca.crt"),
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--requestheader-group-headers=X-Remote-Group",
		"--requestheader-username-headers=X-Remote-User",
		fmt.Sprintf("--secure-port=%d", APIServerPort),
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + pki("sa.pub"),
		"--service-account-signing-key-file=" + pki("sa.key"),
		"--service-cluster-ip-range=" + c.ServiceSubnet,
		"--tls-cert-file=" + pki("apiserver.crt"),
		"--tls-private-key-file=" + pki("apiserver.key"),
		"--profiling=false",
		// No watch cache: with one node's handful of clients, each watch
		// and list can be served by etcd itself. The ~85 caches (a ring of
		// events, about ten goroutines and a timer a second each) cost the
		// idle node 16-40 MiB of working set and 1-2 points of a core, for
		// nothing a create or a start gained (alternating A/B).
		"--watch-cache=false",
	}
	if gates != "" {
		apiserver = append(apiserver, "--feature-gates="+gates)
	}
	if rc := runtimeConfigFlag(c.RuntimeConfig); rc != "" {
		apiserver = append(apiserver, "--runtime-config="+rc)
	}
	controllerManager := []string{
		"--kubeconfig=" + kubeconfig("controller-manager"),
		"--authentication-kubeconfig=" + kubeconfig("controller-manager"),
		"--authorization-kubeconfig=" + kubeconfig("controller-manager"),
		"--bind-address=127.0.0.1",
		"--client-ca-file=" + pki("ca.crt"),
		"--cluster-name=" + c.ClusterName,
		"--cluster-signing-cert-file=" + pki("ca.crt"),
		"--cluster-signing-key-file=" + pki("ca.key"),
		"--controllers=*,bootstrapsigner,tokencleaner",
		"--leader-elect=false",
		"--requestheader-client-ca-file=" + pki("front-proxy-ca.crt"),
		"--root-ca-file=" + pki("ca.crt"),
		"--service-account-private-key-file=" + pki("sa.key"),
		fmt.Sprintf("--use-service-account-credentials=%t", !isMaster(kubeconfig("controller-manager"))),
		// One node, one client: the default 20 QPS makes controller
		// start-up queue for seconds behind discovery calls.
		"--kube-api-qps=200",
		"--kube-api-burst=400",
		"--allocate-node-cidrs=true",
		"--cluster-cidr=" + c.PodSubnet,
		"--node-cidr-mask-size=24",
		"--service-cluster-ip-range=" + c.ServiceSubnet,
		"--profiling=false",
	}
	scheduler := []string{
		"--kubeconfig=" + kubeconfig("scheduler"),
		"--authentication-kubeconfig=" + kubeconfig("scheduler"),
		"--authorization-kubeconfig=" + kubeconfig("scheduler"),
		"--bind-address=127.0.0.1",
		"--leader-elect=false",
		"--profiling=false",
	}
	if tls := loopbackServingFlags(); tls != nil {
		controllerManager = append(controllerManager, tls...)
		scheduler = append(scheduler, tls...)
	}
	if gates != "" {
		controllerManager = append(controllerManager, "--feature-gates="+gates)
		scheduler = append(scheduler, "--feature-gates="+gates)
	}
	kubelet := []string{
		"--config=" + kubeletConfig,
		"--kubeconfig=" + kubeletKubeconfig,
		"--hostname-override=" + c.NodeName,
		"--node-ip=" + ip,
	}
	if l := labelsFlag(c.NodeLabels); l != "" {
		kubelet = append(kubelet, "--node-labels="+l)
	}
	return []component{
		{name: "containerd", path: "/usr/local/bin/containerd", args: []string{"--config", containerdConfig},
			ready: socketReady(containerdSocket)},
		{name: "etcd", path: "/usr/local/bin/etcd", args: []string{
			"--name=" + c.NodeName,
			"--data-dir=" + etcdDataDir,
			"--listen-client-urls=" + etcdClientURL,
			"--advertise-client-urls=" + etcdClientURL,
			"--listen-peer-urls=" + etcdPeerURL,
			"--initial-advertise-peer-urls=" + etcdPeerURL,
			"--initial-cluster=" + c.NodeName + "=" + etcdPeerURL,
			"--listen-metrics-urls=http://127.0.0.1:2381",
			"--client-cert-auth=true",
			"--trusted-ca-file=" + pki("etcd/ca.crt"),
			"--cert-file=" + pki("etcd/server.crt"),
			"--key-file=" + pki("etcd/server.key"),
			"--snapshot-count=10000",
			// One member elects itself once its election timeout runs out,
			// a random 1-2 s at the defaults (100 ms ticks, 10 of them),
			// which etcd's fast-forward on start shortens to 0.1-1 s: 0.65 s
			// of every start and create here. With 50 ms ticks and 5 of
			// them it is 50-250 ms; the cost is a tick every 50 ms.
			"--heartbeat-interval=50",
			"--election-timeout=250",
		}, ready: httpReady("http://127.0.0.1:2381/health", nil)},
		{name: "kube-apiserver", kube: true, path: "/usr/local/bin/kube-apiserver", args: apiserver, after: []string{"etcd", "seed-crds"},
			ready: httpReady(apiServingURL(), adminTLS)},
		// The scheduler, kube-proxy and the controller manager share one
		// process: each process of the multi-call binary idles at about
		// 14 MiB for its packages' own state.
		{name: "kube-controllers", kube: true, path: "/usr/local/bin/kube-controllers",
			args: []string{"--members", membersFile("kube-controllers")}, after: []string{"api-bootstrapped"},
			members: []member{
				{Name: "kube-scheduler", Args: scheduler, Serving: "127.0.0.1:10259",
					ready: httpReady("https://127.0.0.1:10259/healthz", insecureTLS)},
				{Name: "kube-proxy", Args: []string{"--config=" + kubeProxyConfig}, Serving: "127.0.0.1:10256",
					ready: httpReady("http://127.0.0.1:10256/healthz", nil)},
				// The controller manager polls the API server's /healthz
				// once a second before it starts any controller, and
				// /healthz waits for the bootstrap hooks, which wait a
				// second before they begin: it started its controllers up
				// to a second after /healthz passed. Started once the agent
				// (polling every 100 ms) sees it pass, its first poll passes.
				{Name: "kube-controller-manager", Args: controllerManager, Serving: "127.0.0.1:10257", AfterFile: apiHealthyMark,
					after: []string{"api-healthy"}, ready: httpReady("https://127.0.0.1:10257/healthz", insecureTLS)},
			}},
		// The kubelet starts beside the API server: its own start-up (about
		// a second of CPU) overlaps the API server's, and it registers the
		// node as soon as the API answers. Its pods may reach the
		// kubernetes Service before kube-proxy is up: routeServices.
		{name: "kubelet", kube: true, path: "/usr/local/bin/kubelet", args: kubelet,
			after: []string{"containerd", "forget-pods"}, ready: httpReady("http://127.0.0.1:10248/healthz", nil)},
	}
}

// loopbackServingFlags give the controller-manager and the scheduler skiff's
// certificate for their 127.0.0.1 ports; a cluster created before skiff
// issued it has none, and they generate their own.
func loopbackServingFlags() []string {
	if _, err := os.Stat(pki("loopback-serving.crt")); err != nil {
		return nil
	}
	return []string{"--tls-cert-file=" + pki("loopback-serving.crt"), "--tls-private-key-file=" + pki("loopback-serving.key")}
}

// isMaster reports whether a kubeconfig's client certificate is in
// system:masters. The controller-manager's is, so its controllers share it
// rather than each use a service account of its own; a cluster created by
// an older skiff has one bound only to system:kube-controller-manager.
func isMaster(kubeconfigPath string) bool {
	cfg, err := clientcmd.LoadFromFile(kubeconfigPath)
	if err != nil {
		return false
	}
	for _, user := range cfg.AuthInfos {
		block, _ := pem.Decode(user.ClientCertificateData)
		if block == nil {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err == nil && slices.Contains(cert.Subject.Organization, "system:masters") {
			return true
		}
	}
	return false
}

func featureGatesFlag(g map[string]bool) string {
	var parts []string
	for k, v := range g {
		parts = append(parts, fmt.Sprintf("%s=%t", k, v))
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

func runtimeConfigFlag(rc map[string]string) string {
	var parts []string
	for k, v := range rc {
		parts = append(parts, k+"="+v)
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

func labelsFlag(l map[string]string) string { return runtimeConfigFlag(l) }
