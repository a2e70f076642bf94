// Package netpolconf builds Kubernetes' own [sig-network] Netpol e2e specs,
// the ginkgo CLI that runs them in parallel, and the agnhost image their
// pods run, from the k8s.io/kubernetes module of the cluster's version: no
// registry serves them where skiff runs offline.
package netpolconf

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/skiff-k8s/skiff/images"
	"github.com/skiff-k8s/skiff/images/archive"
)

//go:embed main.go
var mainSource []byte

// Suite is a built Netpol suite: the binaries under one cache directory.
type Suite struct {
	Test    string // the specs, netpol.test (the ginkgo CLI wants .test)
	Ginkgo  string // the ginkgo CLI of the same module graph
	Agnhost string // the agnhost binary the specs' pods run
}

// Build compiles the suite from k8s.io/kubernetes at the version manifest m
// pins (resolved with images.Resolved), the way the node image's
// Kubernetes is built, under cacheDir/bin; a complete earlier build of the
// same version and source is reused. The go commands' output goes to log.
func Build(ctx context.Context, cacheDir string, log io.Writer, m *images.Manifest) (Suite, error) {
	k, ok := m.Component("kubernetes")
	if !ok {
		return Suite{}, fmt.Errorf("versions manifest has no kubernetes component")
	}
	dir, err := images.BuildGo(ctx, cacheDir, log, images.GoComponent{
		Name:    "netpol-e2e",
		Module:  k.Module,
		Version: k.Version,
		Staging: k.Staging,
		Binaries: map[string]string{
			"netpol.test": ".",
			"ginkgo":      "github.com/onsi/ginkgo/v2/ginkgo",
			"agnhost":     "k8s.io/kubernetes/test/images/agnhost",
		},
		// The ignore tag keeps main.go out of skiff's own build; the
		// throwaway module builds its package, so the tag must go.
		MainSource: bytes.TrimPrefix(mainSource, []byte("//go:build ignore\n")),
	})
	if err != nil {
		return Suite{}, fmt.Errorf("failed to build the Netpol e2e suite of Kubernetes %s: %w", k.Version, err)
	}
	return Suite{
		Test:    filepath.Join(dir, "netpol.test"),
		Ginkgo:  filepath.Join(dir, "ginkgo"),
		Agnhost: filepath.Join(dir, "agnhost"),
	}, nil
}

// AgnhostImage writes the agnhost image archive to dir under the reference
// the specs ask for (registry.k8s.io/e2e-test-images/agnhost:<tag>, as the
// suite's own test/utils/image manifest names it) and returns both. The
// image holds /agnhost alone: the Netpol specs run `agnhost porter` and
// `agnhost connect`, nothing from upstream's Alpine base.
func (s Suite) AgnhostImage(ctx context.Context, dir string) (ref, archivePath string, err error) {
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, s.Test, "--print-agnhost-image")
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", "", fmt.Errorf("failed to ask %s for its agnhost image: %w: %s", s.Test, err, strings.TrimSpace(errb.String()))
	}
	ref = strings.TrimSpace(out.String())
	archivePath = filepath.Join(dir, "agnhost.tar")
	err = archive.Write(archivePath, archive.Spec{
		Ref:   ref,
		Files: map[string]string{"agnhost": s.Agnhost},
		// Upstream's entrypoint and default command.
		Config: v1.Config{Entrypoint: []string{"/agnhost"}, Cmd: []string{"pause"}},
	})
	if err != nil {
		return "", "", fmt.Errorf("failed to pack %s: %w", ref, err)
	}
	return ref, archivePath, nil
}
