// Package k8se2e builds Kubernetes' own e2e specs, the ginkgo CLI that runs
// them in parallel, and the test binaries their pods run, from the
// k8s.io/kubernetes module of the cluster's version: no registry serves them
// where skiff runs offline.
package k8se2e

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"io"
	"maps"
	"path/filepath"

	"github.com/skiff-k8s/skiff/images"
)

var (
	//go:embed netpol_main.go
	netpolMain []byte
	//go:embed conformance_main.go
	conformanceMain []byte
)

// Kind is one build of the specs: which main package, under which names.
type Kind struct {
	name string            // the build's cache name
	test string            // the specs' binary (the ginkgo CLI wants .test)
	main []byte            // its main package
	more map[string]string // further binaries: name -> package
}

var (
	// Netpol is upstream's e2e framework and the [sig-network] Netpol
	// package alone: minutes to compile instead of e2e.test's half hour.
	Netpol = Kind{name: "netpol-e2e", test: "netpol.test", main: netpolMain}
	// Conformance is upstream's whole e2e.test (every spec package), plus
	// the sample API server its aggregator spec deploys and the setuid
	// helper of its no-new-privileges spec.
	Conformance = Kind{name: "conformance-e2e", test: "conformance.test", main: conformanceMain,
		more: map[string]string{
			"sample-apiserver": "k8s.io/sample-apiserver",
			"nnp":              "k8s.io/kubernetes/test/images/nonewprivs",
		}}
)

// Suite is a built suite: the binaries under one cache directory.
type Suite struct {
	Test    string // the specs
	Ginkgo  string // the ginkgo CLI of the same module graph
	Agnhost string // the agnhost binary the specs' pods run
	dir     string
}

// Bin is the path of one of the suite's binaries by name.
func (s Suite) Bin(name string) string { return filepath.Join(s.dir, name) }

// Build compiles the suite of kind k from k8s.io/kubernetes at the version
// manifest m pins (resolved with images.Resolved), the way the node image's
// Kubernetes is built, under cacheDir/bin; a complete earlier build of the
// same version and source is reused. The go commands' output goes to log.
func Build(ctx context.Context, cacheDir string, log io.Writer, m *images.Manifest, k Kind) (Suite, error) {
	kube, ok := m.Component("kubernetes")
	if !ok {
		return Suite{}, fmt.Errorf("versions manifest has no kubernetes component")
	}
	bins := map[string]string{
		k.test:    ".",
		"ginkgo":  "github.com/onsi/ginkgo/v2/ginkgo",
		"agnhost": "k8s.io/kubernetes/test/images/agnhost",
	}
	maps.Copy(bins, k.more)
	dir, err := images.BuildGo(ctx, cacheDir, log, images.GoComponent{
		Name:    k.name,
		Module:  kube.Module,
		Version: kube.Version,
		Staging: kube.Staging,
		// The specs read the version they were built at (Pod Security's
		// fixtures for one), so it is set as in the node's Kubernetes.
		XVersion: kube.XVersion,
		Binaries: bins,
		// The ignore tag keeps the main packages out of skiff's own build;
		// the throwaway module builds its package, so the tag must go.
		MainSource: bytes.TrimPrefix(k.main, []byte("//go:build ignore\n")),
	})
	if err != nil {
		return Suite{}, fmt.Errorf("failed to build the %s suite of Kubernetes %s: %w", k.name, kube.Version, err)
	}
	return Suite{
		Test:    filepath.Join(dir, k.test),
		Ginkgo:  filepath.Join(dir, "ginkgo"),
		Agnhost: filepath.Join(dir, "agnhost"),
		dir:     dir,
	}, nil
}
