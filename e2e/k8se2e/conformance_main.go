//go:build ignore

// Command conformance.test is Kubernetes' own e2e.test (test/e2e at the
// cluster's version) as a main package: the same spec packages, flags and
// ginkgo suite, plus --print-images, which lists the references of the
// images its [Conformance] specs run, one "NAME REF" per line. This file is skiff's,
// built by k8se2e.Build in a module that requires k8s.io/kubernetes;
// the ignore tag keeps it out of skiff's own build.
package main

import (
	"flag"
	"fmt"
	"regexp"
	"testing"

	conformancetestdata "k8s.io/kubernetes/test/conformance/testdata"
	"k8s.io/kubernetes/test/e2e"
	"k8s.io/kubernetes/test/e2e/framework"
	"k8s.io/kubernetes/test/e2e/framework/config"
	"k8s.io/kubernetes/test/e2e/framework/testfiles"
	"k8s.io/kubernetes/test/e2e/invariants/logcheck"
	e2etestingmanifests "k8s.io/kubernetes/test/e2e/testing-manifests"
	testfixtures "k8s.io/kubernetes/test/fixtures"
	imageutils "k8s.io/kubernetes/test/utils/image"

	// The spec packages and framework set-up upstream's e2e_test.go imports.
	_ "k8s.io/kubernetes/test/e2e/feature"

	_ "k8s.io/kubernetes/test/e2e/apimachinery"
	_ "k8s.io/kubernetes/test/e2e/apps"
	_ "k8s.io/kubernetes/test/e2e/architecture"
	_ "k8s.io/kubernetes/test/e2e/auth"
	_ "k8s.io/kubernetes/test/e2e/autoscaling"
	_ "k8s.io/kubernetes/test/e2e/common"
	_ "k8s.io/kubernetes/test/e2e/dra"
	_ "k8s.io/kubernetes/test/e2e/instrumentation"
	_ "k8s.io/kubernetes/test/e2e/invariants"
	_ "k8s.io/kubernetes/test/e2e/kubectl"
	_ "k8s.io/kubernetes/test/e2e/network"
	_ "k8s.io/kubernetes/test/e2e/node"
	_ "k8s.io/kubernetes/test/e2e/scheduling"
	_ "k8s.io/kubernetes/test/e2e/storage"
	_ "k8s.io/kubernetes/test/e2e/storage/csimock"
	_ "k8s.io/kubernetes/test/e2e/storage/external"
	_ "k8s.io/kubernetes/test/e2e/windows"

	_ "k8s.io/kubernetes/test/e2e/framework/debug/init"
	_ "k8s.io/kubernetes/test/e2e/framework/metrics/init"
	_ "k8s.io/kubernetes/test/e2e/framework/node/init"
	_ "k8s.io/kubernetes/test/utils/ktesting/format"
)

func main() {
	// Registers go test's flags (-test.timeout, ...), which the ginkgo CLI
	// passes to every test binary it runs.
	testing.Init()
	printImages := flag.Bool("print-images", false, "print the images the [Conformance] specs run as NAME REF and exit")
	config.CopyFlags(config.Flags, flag.CommandLine)
	framework.RegisterCommonFlags(flag.CommandLine)
	framework.RegisterClusterFlags(flag.CommandLine)
	logcheck.RegisterFlags(flag.CommandLine)
	flag.Parse()
	if *printImages {
		for name, id := range map[string]imageutils.ImageID{
			"agnhost": imageutils.Agnhost, "agnhost-prev": imageutils.AgnhostPrev,
			"busybox": imageutils.BusyBox, "nginx": imageutils.Nginx, "nginx-new": imageutils.NginxNew,
			"kitten": imageutils.Kitten, "nautilus": imageutils.Nautilus, "nonroot": imageutils.NonRoot, "nonewprivs": imageutils.Nonewprivs, "glibc-dns-testing": imageutils.GlibcDnsTesting,
			"sample-apiserver": imageutils.APIServer, "etcd": imageutils.Etcd, "pause": imageutils.Pause,
		} {
			fmt.Println(name, imageutils.GetE2EImage(id))
		}
		return
	}
	testfiles.AddFileSource(e2etestingmanifests.GetE2ETestingManifestsFS())
	testfiles.AddFileSource(testfixtures.GetTestFixturesFS())
	testfiles.AddFileSource(conformancetestdata.GetConformanceTestdataFS())
	framework.AfterReadingAllFlags(&framework.TestContext)
	testing.Main(func(pat, str string) (bool, error) { return regexp.MatchString(pat, str) },
		[]testing.InternalTest{{Name: "TestE2E", F: e2e.RunE2ETests}}, nil, nil)
}
