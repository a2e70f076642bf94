//go:build ignore

// Command netpol.test runs Kubernetes' own [sig-network] Netpol specs
// (k8s.io/kubernetes/test/e2e/network/netpol) against the cluster of
// --kubeconfig. It is upstream's e2e.test cut down to the framework and that
// one package, so it compiles in minutes instead of e2e.test's half hour.
// Its flags are e2e.test's (--kubeconfig, --ginkgo.focus, ...), and the
// ginkgo CLI runs it in parallel like any test binary. This file is
// skiff's, built by k8se2e.Build in a module that requires
// k8s.io/kubernetes; the ignore tag keeps it out of skiff's own build.
package main

import (
	"flag"
	"fmt"
	"os"
	"testing"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"

	"k8s.io/kubernetes/test/e2e/framework"
	"k8s.io/kubernetes/test/e2e/framework/config"
	_ "k8s.io/kubernetes/test/e2e/network/netpol"
	imageutils "k8s.io/kubernetes/test/utils/image"
)

// failer is the GinkgoTestingT that RunSpecs reports to; main reads
// RunSpecs' result instead.
type failer struct{}

func (failer) Fail() {}

func main() {
	// The ginkgo CLI passes go test's flags (-test.timeout, ...) to every
	// test binary it runs.
	testing.Init()
	printImages := flag.Bool("print-images", false, "print the image the Netpol specs run as NAME REF and exit")
	config.CopyFlags(config.Flags, flag.CommandLine)
	framework.RegisterCommonFlags(flag.CommandLine)
	framework.RegisterClusterFlags(flag.CommandLine)
	flag.Parse()
	if *printImages {
		fmt.Println("agnhost", imageutils.GetE2EImage(imageutils.Agnhost))
		return
	}
	framework.AfterReadingAllFlags(&framework.TestContext)
	gomega.RegisterFailHandler(framework.Fail)
	suiteConfig, reporterConfig := framework.CreateGinkgoConfig()
	if !ginkgo.RunSpecs(failer{}, "Kubernetes Netpol e2e suite", suiteConfig, reporterConfig) {
		os.Exit(1)
	}
}
