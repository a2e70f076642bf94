// The rendered addons checked as the node applies them, one test per
// property across every addon (over 400 lines: the checks share one set of
// values and helpers, and each is short).

package addons

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/skiff-k8s/skiff/images"
)

var testValues = Values{DNSIP: "10.96.0.10", ClusterDomain: "cluster.local", PodSubnet: "10.244.0.0/16", ServiceSubnet: "10.96.0.0/16", LoadBalancerPool: "172.30.128.0/24", RegistryPort: 5001, RegistryNodePort: 5000, LoadBalancer: true, Gateway: true, Images: defaultImages(),
	CA: []byte("ca-pem\n"), MetricsCert: []byte("metrics-cert-pem\n"), MetricsKey: []byte("metrics-key-pem\n")}

func defaultImages() map[string]string {
	m, err := images.Resolved("")
	if err != nil {
		panic(err)
	}
	return m.Images()
}

// Each release's node renders the images it preloads, and a manifest naming
// an image the node lacks fails to render instead of pulling.
func TestRenderReleaseImages(t *testing.T) {
	m, err := images.LoadManifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range m.Supported() {
		r, err := m.ForKubernetes(v)
		if err != nil {
			t.Fatal(err)
		}
		vals := testValues
		vals.Images = r.Images()
		data, err := Render("dns", vals)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(data), "image: "+r.Images()["coredns"]+"\n") {
			t.Errorf("%s: dns does not run %s", v, r.Images()["coredns"])
		}
	}
	vals := testValues
	vals.Images = map[string]string{"coredns": "x"}
	if _, err := Render("storage", vals); err == nil || !strings.Contains(err.Error(), `no "local-path-provisioner" image`) {
		t.Errorf("storage without its image: %v", err)
	}
}

// objects parses a multi-document YAML stream.
func objects(t *testing.T, data []byte) []map[string]any {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var objs []map[string]any
	for {
		var o map[string]any
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			return objs
		}
		if err != nil {
			t.Fatalf("invalid YAML: %v\n%s", err, data)
		}
		if o != nil {
			objs = append(objs, o)
		}
	}
}

func field(o map[string]any, keys ...string) any {
	var v any = o
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func find(objs []map[string]any, kind, name string) map[string]any {
	for _, o := range objs {
		if o["kind"] == kind && field(o, "metadata", "name") == name {
			return o
		}
	}
	return nil
}

func TestRenderAll(t *testing.T) {
	if got := Names(); !slices.Equal(got, []string{"dns", "storage", "metrics", "registry", "loadbalancer", "ingress", "gateway", "netpol"}) {
		t.Fatalf("Names() = %v", got)
	}
	m, err := images.Resolved("")
	if err != nil {
		t.Fatal(err)
	}
	pinned := m.Images()
	// Every image an addon needs, by manifest entry, must be referenced.
	want := map[string][]string{
		"dns":      {"coredns"},
		"storage":  {"local-path-provisioner", "busybox"},
		"metrics":  {"metrics-server"},
		"registry": {"registry"},
		"ingress":  {"traefik"},
	}
	imageRef := regexp.MustCompile(`(?m)(?:image:\s*|--helper-image=)(\S+)`)
	for _, name := range Names() {
		data, err := Render(name, testValues)
		if err != nil {
			t.Fatalf("Render(%s): %v", name, err)
		}
		if InAgent(name) {
			if len(data) != 0 {
				t.Errorf("%s runs in the agent but renders a manifest:\n%s", name, data)
			}
			continue
		}
		objs := objects(t, data)
		if len(objs) == 0 {
			t.Fatalf("%s renders no objects", name)
		}
		for _, o := range objs {
			if o["apiVersion"] == nil || o["kind"] == nil || field(o, "metadata", "name") == nil {
				t.Errorf("%s: object without apiVersion, kind or metadata.name: %v", name, o)
			}
			for _, c := range containers(o) {
				if c["imagePullPolicy"] != "IfNotPresent" {
					t.Errorf("%s: %s/%s container %v: imagePullPolicy %v, want IfNotPresent", name, o["kind"], field(o, "metadata", "name"), c["name"], c["imagePullPolicy"])
				}
			}
		}
		// Also catches images inside ConfigMaps (the helper pod template).
		var refs []string
		for _, m := range imageRef.FindAllStringSubmatch(string(data), -1) {
			refs = append(refs, m[1])
		}
		for _, ref := range refs {
			if !slices.Contains(mapValues(pinned), ref) {
				t.Errorf("%s: image %s is not preloaded (images/versions.yaml pins %v)", name, ref, pinned)
			}
		}
		for _, entry := range want[name] {
			if !slices.Contains(refs, pinned[entry]) {
				t.Errorf("%s: does not use %s image %s (uses %v)", name, entry, pinned[entry], refs)
			}
		}
	}
}

func containers(o map[string]any) []map[string]any {
	spec := field(o, "spec", "template", "spec")
	if o["kind"] == "Pod" {
		spec = o["spec"]
	}
	sm, _ := spec.(map[string]any)
	var out []map[string]any
	for _, key := range []string{"initContainers", "containers"} {
		list, _ := sm[key].([]any)
		for _, c := range list {
			if cm, ok := c.(map[string]any); ok {
				out = append(out, cm)
			}
		}
	}
	return out
}

func mapValues(m map[string]string) []string {
	var v []string
	for _, s := range m {
		v = append(v, s)
	}
	return v
}

func corefile(t *testing.T, v Values) string {
	t.Helper()
	data, err := Render("dns", v)
	if err != nil {
		t.Fatal(err)
	}
	objs := objects(t, data)
	cm := find(objs, "ConfigMap", "coredns")
	cf, _ := field(cm, "data", "Corefile").(string)
	if cf == "" {
		t.Fatalf("no Corefile in\n%s", data)
	}
	svc := find(objs, "Service", "kube-dns")
	if got := field(svc, "spec", "clusterIP"); got != v.DNSIP {
		t.Errorf("kube-dns clusterIP = %v, want %s", got, v.DNSIP)
	}
	return cf
}

func TestCorefileOffline(t *testing.T) {
	cf := corefile(t, testValues)
	if strings.Contains(cf, "forward") {
		t.Errorf("Corefile without upstreams must not forward:\n%s", cf)
	}
	for _, want := range []string{"kubernetes cluster.local in-addr.arpa ip6.arpa {", "ready\n", "lameduck 5s", "cache 30", "loop\n", "reload\n", "loadbalance\n"} {
		if !strings.Contains(cf, want) {
			t.Errorf("Corefile lacks %q:\n%s", want, cf)
		}
	}
	if strings.Count(cf, "{") != strings.Count(cf, "}") {
		t.Errorf("unbalanced braces:\n%s", cf)
	}
}

func TestCorefileUpstream(t *testing.T) {
	v := testValues
	v.Upstream = []string{"192.0.2.53", "198.51.100.53"}
	v.ClusterDomain = "example.internal"
	cf := corefile(t, v)
	for _, want := range []string{"forward . 192.0.2.53 198.51.100.53 {", "max_fails 1", "expire 10s", "health_check 5s", "read_timeout 1s", "failfast_all_unhealthy_upstreams", "kubernetes example.internal in-addr.arpa"} {
		if !strings.Contains(cf, want) {
			t.Errorf("Corefile lacks %q:\n%s", want, cf)
		}
	}
}

func TestStorageClassDefault(t *testing.T) {
	data, err := Render("storage", testValues)
	if err != nil {
		t.Fatal(err)
	}
	objs := objects(t, data)
	sc := find(objs, "StorageClass", "standard")
	if sc == nil {
		t.Fatal("no StorageClass standard")
	}
	if field(sc, "metadata", "annotations", "storageclass.kubernetes.io/is-default-class") != "true" {
		t.Errorf("StorageClass standard is not the default: %v", sc["metadata"])
	}
	if sc["reclaimPolicy"] != "Delete" || sc["volumeBindingMode"] != "WaitForFirstConsumer" {
		t.Errorf("StorageClass standard: %v", sc)
	}
	cm := find(objs, "ConfigMap", "local-path-config")
	if cfg, _ := field(cm, "data", "config.json").(string); !strings.Contains(cfg, `"/var/local-path-provisioner"`) {
		t.Errorf("volumes are not under /var/local-path-provisioner: %s", cfg)
	}
	helper, _ := field(cm, "data", "helperPod.yaml").(string)
	pod := objects(t, []byte(helper))
	if len(pod) != 1 || len(containers(pod[0])) != 1 || containers(pod[0])[0]["imagePullPolicy"] != "IfNotPresent" {
		t.Errorf("helper pod template: %v", pod)
	}
}

func TestMetricsFlags(t *testing.T) {
	data, err := Render("metrics", testValues)
	if err != nil {
		t.Fatal(err)
	}
	objs := objects(t, data)
	if find(objs, "APIService", "v1beta1.metrics.k8s.io") == nil {
		t.Error("no APIService v1beta1.metrics.k8s.io")
	}
	c := containers(find(objs, "Deployment", "metrics-server"))
	if len(c) != 1 {
		t.Fatalf("metrics-server containers: %v", c)
	}
	args, _ := c[0]["args"].([]any)
	for _, want := range []string{"--kubelet-certificate-authority=/var/run/secrets/kubernetes.io/serviceaccount/ca.crt", "--kubelet-preferred-address-types=InternalIP", "--metric-resolution=10s"} {
		if !slices.Contains(args, any(want)) {
			t.Errorf("metrics-server args %v lack %s", args, want)
		}
	}
	// It verifies the kubelet's certificate, from the cluster CA.
	if slices.Contains(args, any("--kubelet-insecure-tls")) {
		t.Errorf("metrics-server args %v skip verifying the kubelet", args)
	}
}

// The API server verifies metrics-server's certificate against the cluster
// CA, and metrics-server serves the one the node issued.
func TestMetricsServerTLS(t *testing.T) {
	data, err := Render("metrics", testValues)
	if err != nil {
		t.Fatal(err)
	}
	objs := objects(t, data)
	svc := find(objs, "APIService", "v1beta1.metrics.k8s.io")
	if field(svc, "spec", "insecureSkipTLSVerify") == true {
		t.Error("APIService v1beta1.metrics.k8s.io skips verifying metrics-server")
	}
	if got := field(svc, "spec", "caBundle"); got != base64.StdEncoding.EncodeToString(testValues.CA) {
		t.Errorf("APIService caBundle %v, want the cluster CA", got)
	}
	secret := find(objs, "Secret", "metrics-server-tls")
	if field(secret, "data", "tls.crt") != base64.StdEncoding.EncodeToString(testValues.MetricsCert) || field(secret, "data", "tls.key") != base64.StdEncoding.EncodeToString(testValues.MetricsKey) {
		t.Errorf("Secret metrics-server-tls: %v", secret)
	}
	dep := find(objs, "Deployment", "metrics-server")
	vols, _ := field(dep, "spec", "template", "spec", "volumes").([]any)
	mounted := ""
	for _, v := range vols {
		if m, _ := v.(map[string]any); field(m, "secret", "secretName") == "metrics-server-tls" {
			mounted, _ = m["name"].(string)
		}
	}
	c := containers(dep)[0]
	mounts, _ := c["volumeMounts"].([]any)
	if !slices.ContainsFunc(mounts, func(v any) bool {
		m, _ := v.(map[string]any)
		return mounted != "" && m["name"] == mounted && m["mountPath"] == "/tls"
	}) {
		t.Errorf("Secret metrics-server-tls not mounted at /tls: volumes %v, mounts %v", vols, mounts)
	}
	args, _ := c["args"].([]any)
	for _, want := range []string{"--tls-cert-file=/tls/tls.crt", "--tls-private-key-file=/tls/tls.key"} {
		if !slices.Contains(args, any(want)) {
			t.Errorf("metrics-server args %v lack %s", args, want)
		}
	}
	v := testValues
	v.MetricsKey = nil
	if _, err := Render("metrics", v); err == nil {
		t.Error("Render(metrics) without a serving key succeeded")
	}
}

func TestRenderErrors(t *testing.T) {
	if _, err := Render("nope", testValues); err == nil {
		t.Error("Render of an unknown addon succeeded")
	}
	if _, err := Render("dns", Values{}); err == nil {
		t.Error("Render without DNSIP succeeded")
	}
	for name, v := range map[string]Values{
		"registry":     {DNSIP: "10.96.0.10", ClusterDomain: "cluster.local", LoadBalancerPool: "172.30.128.0/24"},
		"loadbalancer": {DNSIP: "10.96.0.10", ClusterDomain: "cluster.local", RegistryPort: 5001},
		"netpol":       {DNSIP: "10.96.0.10", ClusterDomain: "cluster.local", KubeProxyMode: "ipvs"},
	} {
		if _, err := Render(name, v); err == nil {
			t.Errorf("Render(%s) without its value succeeded", name)
		}
		if err := Requires(name, v); err == nil {
			t.Errorf("Requires(%s) = nil for %+v", name, v)
		}
	}
	if err := Requires("dns", Values{}); err != nil {
		t.Errorf("Requires(dns) = %v", err)
	}
	for _, mode := range []string{"", "iptables", "nftables", "none"} {
		if err := Requires("netpol", Values{KubeProxyMode: mode}); err != nil {
			t.Errorf("Requires(netpol) with kube-proxy mode %q = %v", mode, err)
		}
	}
}

func TestRegistry(t *testing.T) {
	v := testValues
	v.RegistryPort = 5042
	data, err := Render("registry", v)
	if err != nil {
		t.Fatal(err)
	}
	objs := objects(t, data)
	d := find(objs, "Deployment", "registry")
	if field(d, "metadata", "namespace") != "kube-system" || field(d, "spec", "template", "spec", "hostNetwork") != true {
		t.Errorf("registry must run in kube-system on the node's network: %v", d)
	}
	cm := find(objs, "ConfigMap", "registry")
	cfg, _ := field(cm, "data", "config.yml").(string)
	var conf map[string]any
	if err := yaml.Unmarshal([]byte(cfg), &conf); err != nil {
		t.Fatalf("registry config.yml: %v\n%s", err, cfg)
	}
	if field(conf, "http", "addr") != ":5000" || field(conf, "storage", "filesystem", "rootdirectory") != "/var/lib/registry" {
		t.Errorf("registry config: %v", conf)
	}
	vols, _ := field(d, "spec", "template", "spec", "volumes").([]any)
	var hostPath any
	for _, vol := range vols {
		if p := field(vol.(map[string]any), "hostPath", "path"); p != nil {
			hostPath = p
		}
	}
	if hostPath != "/var/lib/skiff/registry" {
		t.Errorf("registry storage hostPath = %v, want /var/lib/skiff/registry", hostPath)
	}
	if field(d, "spec", "template", "spec", "enableServiceLinks") != false {
		t.Error("registry pods get Service link variables, which it reads as REGISTRY_* configuration")
	}
	c := containers(d)
	if len(c) != 1 || field(c[0], "readinessProbe", "httpGet", "port") != 5000 {
		t.Errorf("registry container: %v", c)
	}
	svc := find(objs, "Service", "registry")
	if ports, _ := field(svc, "spec", "ports").([]any); len(ports) != 1 || field(ports[0].(map[string]any), "port") != 5042 || field(ports[0].(map[string]any), "targetPort") != 5000 {
		t.Errorf("registry Service ports %v, want 5042 to the node's 5000", field(svc, "spec", "ports"))
	}
	// The pod does not depend on the host's port: a clone, which gets
	// another, keeps its registry pod instead of rolling a new one.
	v.RegistryPort = 5043
	other, err := Render("registry", v)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(d, find(objects(t, other), "Deployment", "registry")) {
		t.Error("the registry Deployment changes with the host's port")
	}
	hosting := find(objs, "ConfigMap", "local-registry-hosting")
	if field(hosting, "metadata", "namespace") != "kube-public" {
		t.Fatalf("KEP-1755 ConfigMap must be kube-public/local-registry-hosting: %v", hosting)
	}
	doc, _ := field(hosting, "data", "localRegistryHosting.v1").(string)
	var got map[string]any
	if err := yaml.Unmarshal([]byte(doc), &got); err != nil {
		t.Fatalf("localRegistryHosting.v1: %v\n%s", err, doc)
	}
	want := map[string]any{
		"host":                     "localhost:5042",
		"hostFromContainerRuntime": "localhost:5042",
		"hostFromClusterNetwork":   "registry.kube-system.svc." + v.ClusterDomain + ":5042",
		"help":                     "https://github.com/skiff-k8s/skiff#registry-discovery",
	}
	if !maps.Equal(got, want) {
		t.Errorf("localRegistryHosting.v1 = %v, want %v", got, want)
	}
}

func TestIngress(t *testing.T) {
	data, err := Render("ingress", testValues)
	if err != nil {
		t.Fatal(err)
	}
	objs := objects(t, data)
	ic := find(objs, "IngressClass", "traefik")
	if field(ic, "metadata", "annotations", "ingressclass.kubernetes.io/is-default-class") != "true" || field(ic, "spec", "controller") != "traefik.io/ingress-controller" {
		t.Errorf("IngressClass traefik: %v", ic)
	}
	svc := find(objs, "Service", "traefik")
	if field(svc, "spec", "type") != "LoadBalancer" {
		t.Errorf("Service traefik: %v", svc)
	}
	c := containers(find(objs, "Deployment", "traefik"))
	if len(c) != 1 {
		t.Fatalf("traefik containers: %v", c)
	}
	args, _ := c[0]["args"].([]any)
	for _, want := range []string{"--global.checkNewVersion=false", "--global.sendAnonymousUsage=false", "--providers.kubernetesIngress=true", "--providers.kubernetesIngress.ingressEndpoint.publishedService=kube-system/traefik"} {
		if !slices.Contains(args, any(want)) {
			t.Errorf("traefik args %v lack %s", args, want)
		}
	}
	for _, a := range args {
		if strings.Contains(strings.ToLower(a.(string)), "kubernetescrd") {
			t.Errorf("traefik enables the CRD provider: %s", a)
		}
	}
	// Without the loadbalancer addon, the Service would never get an
	// address: publish
	// 127.0.0.1 instead.
	v := testValues
	v.LoadBalancer = false
	data, err = Render("ingress", v)
	if err != nil {
		t.Fatal(err)
	}
	noLB := objects(t, data)
	if got := field(find(noLB, "Service", "traefik"), "spec", "type"); got != "ClusterIP" {
		t.Errorf("without loadbalancer, Service traefik type = %v", got)
	}
	noLBArgs, _ := containers(find(noLB, "Deployment", "traefik"))[0]["args"].([]any)
	if !slices.Contains(noLBArgs, any("--providers.kubernetesIngress.ingressEndpoint.ip=127.0.0.1")) {
		t.Errorf("without loadbalancer, traefik args %v do not publish 127.0.0.1", noLBArgs)
	}
	hostPorts := map[any]any{}
	ports, _ := c[0]["ports"].([]any)
	for _, p := range ports {
		pm := p.(map[string]any)
		if hp, ok := pm["hostPort"]; ok {
			hostPorts[hp] = pm["name"]
		}
	}
	if hostPorts[80] != "web" || hostPorts[443] != "websecure" {
		t.Errorf("traefik hostPorts = %v, want 80 web and 443 websecure", hostPorts)
	}
}

// traefikArgs renders the ingress addon with v and returns Traefik's arguments.
func traefikArgs(t *testing.T, v Values) []any {
	t.Helper()
	data, err := Render("ingress", v)
	if err != nil {
		t.Fatal(err)
	}
	args, _ := containers(find(objects(t, data), "Deployment", "traefik"))[0]["args"].([]any)
	return args
}

func TestIngressGatewayProvider(t *testing.T) {
	t.Parallel()
	noLB := testValues
	noLB.LoadBalancer = false
	off := testValues
	off.Gateway = false
	for _, tc := range []struct {
		name      string
		v         Values
		want, not []string
	}{
		{"with loadbalancer", testValues,
			[]string{"--providers.kubernetesGateway=true", "--providers.kubernetesGateway.statusAddress.service.name=traefik", "--providers.kubernetesGateway.statusAddress.service.namespace=kube-system"},
			[]string{"--providers.kubernetesGateway.statusAddress.ip=127.0.0.1"}},
		{"without loadbalancer", noLB,
			[]string{"--providers.kubernetesGateway=true", "--providers.kubernetesGateway.statusAddress.ip=127.0.0.1"},
			[]string{"--providers.kubernetesGateway.statusAddress.service.name=traefik"}},
		// Without the CRDs, the provider would wait for them forever.
		{"gateway off", off, nil, []string{"--providers.kubernetesGateway=true"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := traefikArgs(t, tc.v)
			for _, w := range tc.want {
				if !slices.Contains(args, any(w)) {
					t.Errorf("traefik args %v lack %s", args, w)
				}
			}
			for _, n := range tc.not {
				if slices.Contains(args, any(n)) {
					t.Errorf("traefik args %v have %s", args, n)
				}
			}
			// Traefik maps a Gateway listener to the entry point on its port.
			for _, w := range []string{"--entryPoints.web.address=:80/tcp", "--entryPoints.websecure.address=:443/tcp"} {
				if !slices.Contains(args, any(w)) {
					t.Errorf("traefik args %v lack %s", args, w)
				}
			}
		})
	}
}

func TestGateway(t *testing.T) {
	t.Parallel()
	data, err := Render("gateway", testValues)
	if err != nil {
		t.Fatal(err)
	}
	objs := objects(t, data)
	gc := find(objs, "GatewayClass", "traefik")
	if field(gc, "spec", "controllerName") != "traefik.io/gateway-controller" {
		t.Errorf("GatewayClass traefik: %v", gc)
	}
	b := find(objs, "ClusterRoleBinding", "traefik-gateway")
	subjects, _ := field(b, "subjects").([]any)
	if len(subjects) != 1 || field(subjects[0].(map[string]any), "name") != "traefik" || field(subjects[0].(map[string]any), "namespace") != "kube-system" {
		t.Errorf("ClusterRoleBinding traefik-gateway subjects: %v", subjects)
	}
	if Affects("gateway")[0] != "ingress" || Affects("loadbalancer")[0] != "ingress" || Affects("ingress") != nil {
		t.Errorf("Affects: gateway %v, loadbalancer %v, ingress %v", Affects("gateway"), Affects("loadbalancer"), Affects("ingress"))
	}
}

func TestAddonFilesNameAnAddon(t *testing.T) {
	t.Parallel()
	m, err := images.Resolved("")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range m.AddonFiles {
		if !slices.Contains(Names(), f.Addon) {
			t.Errorf("versions.yaml addonFiles %s names addon %q: choose from %v", f.Name, f.Addon, Names())
		}
	}
}

// TestProbesAndGC: the pods create and start wait for are probed for
// readiness every second (Ready in the kubelet's next status update once
// they serve), metrics-server only until it first passes; every addon
// program runs with GOGC=25.
func TestProbesAndGC(t *testing.T) {
	readiness := map[string]bool{"coredns": true, "traefik": true, "registry": true, "metrics-server": false}
	seen := map[string]bool{}
	for _, name := range Names() {
		data, err := Render(name, testValues)
		if err != nil {
			t.Fatalf("Render(%s): %v", name, err)
		}
		if InAgent(name) {
			continue
		}
		for _, o := range objects(t, data) {
			if o["kind"] != "Deployment" {
				continue
			}
			for _, c := range containers(o) {
				cname, _ := c["name"].(string)
				var gogc any
				envs, _ := c["env"].([]any)
				for _, e := range envs {
					if em, _ := e.(map[string]any); em["name"] == "GOGC" {
						gogc = em["value"]
					}
				}
				if gogc != "25" {
					t.Errorf("%s: container %s: GOGC %v, want 25", name, cname, gogc)
				}
				want, ok := readiness[cname]
				if !ok {
					continue
				}
				seen[cname] = true
				probe, other := "readinessProbe", "startupProbe"
				if !want {
					probe, other = other, probe
				}
				if field(c, probe, "periodSeconds") != 1 || c[other] != nil {
					t.Errorf("%s: container %s: want a %s every second and no %s: %v / %v", name, cname, probe, other, c[probe], c[other])
				}
			}
		}
	}
	for cname := range readiness {
		if !seen[cname] {
			t.Errorf("no container %s in the addons", cname)
		}
	}
}

// A new node carries the taint node.kubernetes.io/not-ready until the
// controller manager's node lifecycle controller has seen it Ready; the
// addons' pods are scheduled without waiting for that.
func TestDeploymentsTolerateNewNode(t *testing.T) {
	n := 0
	for _, name := range Names() {
		data, err := Render(name, testValues)
		if err != nil {
			t.Fatalf("Render(%s): %v", name, err)
		}
		for _, o := range objects(t, data) {
			if o["kind"] != "Deployment" {
				continue
			}
			n++
			list, _ := field(o, "spec", "template", "spec", "tolerations").([]any)
			if !slices.ContainsFunc(list, func(v any) bool {
				m, _ := v.(map[string]any)
				return m["key"] == "node.kubernetes.io/not-ready" && m["effect"] == "NoSchedule" && (m["operator"] == nil || m["operator"] == "Exists")
			}) {
				t.Errorf("%s: Deployment %v does not tolerate node.kubernetes.io/not-ready:NoSchedule: %v", name, field(o, "metadata", "name"), list)
			}
		}
	}
	if n < 5 {
		t.Errorf("%d Deployments in the addons, want at least 5", n)
	}
}
