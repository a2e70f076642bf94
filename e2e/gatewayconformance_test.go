package e2e

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/mod/modfile"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/gateway-api/apis/v1alpha2"
	"sigs.k8s.io/gateway-api/apis/v1alpha3"
	"sigs.k8s.io/gateway-api/apis/v1beta1"
	"sigs.k8s.io/gateway-api/conformance"
	confv1 "sigs.k8s.io/gateway-api/conformance/apis/v1"
	"sigs.k8s.io/gateway-api/conformance/tests"
	"sigs.k8s.io/gateway-api/conformance/utils/config"
	"sigs.k8s.io/gateway-api/conformance/utils/suite"
	"sigs.k8s.io/gateway-api/pkg/features"
	"sigs.k8s.io/yaml"

	"github.com/skiff-k8s/skiff/images"
)

// gatewayConformanceReport is where TestGatewayConformance keeps the
// suite's report, unless $SKIFF_GATEWAY_CONFORMANCE_REPORT names another
// file: beside make test's log, /tmp/skiff-e2e.log.
const gatewayConformanceReport = "/tmp/skiff-gateway-conformance-report.yaml"

// gatewayHTTPFeatures are the GATEWAY-HTTP profile's extended features
// skiff's Traefik passes: those Traefik v3.6 claims (its
// pkg/provider/kubernetes/gateway/features.go) except GatewayPort8080,
// since skiff's Traefik has entry points on 80 and 443 only.
var gatewayHTTPFeatures = []features.FeatureName{
	features.SupportHTTPRouteQueryParamMatching,
	features.SupportHTTPRouteMethodMatching,
	features.SupportHTTPRoutePortRedirect,
	features.SupportHTTPRouteSchemeRedirect,
	features.SupportHTTPRouteHostRewrite,
	features.SupportHTTPRoutePathRewrite,
	features.SupportHTTPRoutePathRedirect,
	features.SupportHTTPRouteResponseHeaderModification,
	features.SupportHTTPRouteBackendProtocolH2C,
	features.SupportHTTPRouteBackendProtocolWebSocket,
	features.SupportHTTPRouteDestinationPortMatching,
	features.SupportBackendTLSPolicy,
}

// gatewaySkippedTests are conformance tests of supported features that
// skiff's Traefik fails, each for a reason the README states.
var gatewaySkippedTests = []string{
	// Since v1.5 a Gateway with one valid and one unsupported listener must
	// be Accepted; Traefik v3.6 (Gateway API v1.4) rejects it whole
	// (ListenersNotValid). The test's Gateway, not excluded from the
	// suite's readiness checks, then stalls every other test for minutes.
	"GatewayListenerUnsupportedProtocol",
	// Traefik serves every Gateway of a port on one entry point, at one
	// address (Service kube-system/traefik's): two Gateways' routes for the
	// same path collide, and which one answers is not the Gateway's choice.
	"HTTPRouteMultipleGateways",
	// A rule without backendRefs must answer 500; Traefik v3.6 answers 503.
	"HTTPRouteNoBackendRefs",
	// Its subtest "Changing the content of a ConfigMap used by
	// BackendTLSPolicy as CA certificate should be reconciled" fails:
	// Traefik v3.6 keeps the policy Accepted after its CA ConfigMap turns
	// invalid (want Accepted False, NoValidCACertificate). The other
	// BackendTLSPolicy tests run.
	"BackendTLSPolicy",
}

// TestGatewayConformance runs Gateway API's own conformance suite (the
// module's conformance package at the version whose CRDs the gateway addon
// installs), GATEWAY-HTTP profile, against the default GatewayClass of a
// new cluster. Its backends are built from source (images.TestImage) and
// loaded under the names the suite's manifests use. The suite reaches each
// Gateway at its status address, the LoadBalancer address of Service
// kube-system/traefik, from this process. The report is written to
// gatewayConformanceReport; the test fails if any conformance test fails or
// a test other than gatewaySkippedTests is skipped.
func TestGatewayConformance(t *testing.T) {
	e2e(t)
	m, err := images.Resolved("")
	if err != nil {
		t.Fatal(err)
	}
	checkConformanceVersion(t, m)
	archives := gatewayTestImages(t, m)
	start := time.Now()
	c := newCluster(t, "e2e-gwconf")
	loadGatewayTestImages(c, archives)

	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: c.kubeconfig},
		&clientcmd.ConfigOverrides{CurrentContext: "skiff-" + c.name},
	).ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	cl, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, install := range []func(*runtime.Scheme) error{gatewayv1.Install, v1beta1.Install, v1alpha2.Install, v1alpha3.Install, apiextensionsv1.AddToScheme} {
		if err := install(cl.Scheme()); err != nil {
			t.Fatal(err)
		}
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s, err := suite.NewConformanceTestSuite(suite.ConformanceOptions{
		ConfigurableOptions: suite.ConfigurableOptions{
			GatewayClassName: "traefik",
			// The cluster is deleted at the end.
			CleanupBaseResources: false,
			CleanupTestResources: true,
			SupportedFeatures:    gatewayHTTPFeatures,
			SkipTests:            gatewaySkippedTests,
			TimeoutConfig:        config.DefaultTimeoutConfig(),
			Mode:                 "default",
			ConformanceProfiles:  []suite.ConformanceProfileName{suite.GatewayHTTPConformanceProfileName},
			Implementation: confv1.Implementation{
				Organization: "skiff-k8s",
				Project:      "skiff",
				URL:          "https://github.com/skiff-k8s/skiff",
				Version:      traefikVersion(t, m),
				Contact:      []string{"https://github.com/skiff-k8s/skiff/issues"},
			},
		},
		Client:     cl,
		Clientset:  cs,
		RestConfig: cfg,
		ManifestFS: []fs.FS{&conformance.Manifests},
	})
	if err != nil {
		t.Fatalf("failed to set up the conformance suite: %v", err)
	}
	s.Setup(t, tests.ConformanceTests)
	t.Logf("cluster and conformance base ready %s after start", time.Since(start).Round(time.Second))
	// Run starts the parallel tests when its *testing.T's function returns
	// and reports results in that T's cleanups: in a subtest of its own the
	// whole run is over when t.Run returns.
	var runErr error
	t.Run("suite", func(t *testing.T) { runErr = s.Run(t, tests.ConformanceTests) })
	report, err := s.Report()
	if err != nil {
		t.Fatalf("failed to make the conformance report: %v", err)
	}
	path := writeConformanceReport(t, report)
	t.Logf("cluster and conformance run took %s; report %s", time.Since(start).Round(time.Second), path)
	if runErr != nil {
		t.Fatalf("conformance suite: %v", runErr)
	}
	checkConformanceReport(t, report)
}

// writeConformanceReport writes report as YAML and returns the file's path.
func writeConformanceReport(t *testing.T, report *confv1.ConformanceReport) string {
	t.Helper()
	path := os.Getenv("SKIFF_GATEWAY_CONFORMANCE_REPORT")
	if path == "" {
		path = gatewayConformanceReport
	}
	data, err := yaml.Marshal(report)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatalf("failed to write the conformance report: %v", err)
	}
	t.Logf("conformance report:\n%s", data)
	return path
}

// checkConformanceReport fails the test unless GATEWAY-HTTP's core and
// extended tests all passed, with tests run in both and exactly
// gatewaySkippedTests skipped: the result is "partial" because of those
// skips, never "success", so a test skipped for another reason, or a run
// that skipped everything, must not count.
func checkConformanceReport(t *testing.T, report *confv1.ConformanceReport) {
	t.Helper()
	for _, p := range report.ProfileReports {
		if p.Name != string(suite.GatewayHTTPConformanceProfileName) {
			continue
		}
		if p.Extended == nil {
			t.Fatalf("%s: no extended results", p.Name)
		}
		var skipped []string
		for what, r := range map[string]confv1.Status{"core": p.Core, "extended": p.Extended.Status} {
			t.Logf("%s %s: %s, %d passed, %d failed, %d skipped", p.Name, what, r.Result, r.Statistics.Passed, r.Statistics.Failed, r.Statistics.Skipped)
			if r.Statistics.Failed != 0 || r.Statistics.Passed == 0 || r.Result == confv1.Failure {
				t.Errorf("%s %s: %s (%s)", p.Name, what, r.Result, p.Summary)
			}
			skipped = append(skipped, r.SkippedTests...)
		}
		if !sets.New(skipped...).Equal(sets.New(gatewaySkippedTests...)) {
			t.Errorf("%s skipped %v, want exactly %v", p.Name, skipped, gatewaySkippedTests)
		}
		return
	}
	t.Errorf("the report has no %s profile", suite.GatewayHTTPConformanceProfileName)
}

// checkConformanceVersion fails the test unless go.mod requires the
// conformance module at the Gateway API version whose CRDs the node
// installs (images/versions.yaml addonFiles): go.mod must follow it.
func checkConformanceVersion(t *testing.T, m *images.Manifest) {
	t.Helper()
	var crds string
	for _, f := range m.AddonFiles {
		if f.Module == "sigs.k8s.io/gateway-api" {
			crds = f.Version
		}
	}
	data, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	f, err := modfile.ParseLax("go.mod", data, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range f.Require {
		if r.Mod.Path == "sigs.k8s.io/gateway-api/conformance" {
			if r.Mod.Version != crds {
				t.Fatalf("go.mod requires %s %s, but the node installs Gateway API %s (images/versions.yaml): make them agree", r.Mod.Path, r.Mod.Version, crds)
			}
			return
		}
	}
	t.Fatal("go.mod does not require sigs.k8s.io/gateway-api/conformance")
}

// traefikVersion is the implementation version the report names.
func traefikVersion(t *testing.T, m *images.Manifest) string {
	t.Helper()
	c, ok := m.Component("traefik")
	if !ok {
		t.Fatal("no traefik in images/versions.yaml")
	}
	return "traefik " + c.Version
}
