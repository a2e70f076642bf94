package node

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

// binaryVersions are the commands that make each binary in the image report
// its own version, grouped by the manifest component it comes from.
var binaryVersions = []struct {
	component, binary string
	args              []string
}{
	{"kubernetes", "kube-apiserver", []string{"--version"}},
	{"kubernetes", "kube-controller-manager", []string{"--version"}},
	{"kubernetes", "kube-scheduler", []string{"--version"}},
	{"kubernetes", "kubelet", []string{"--version"}},
	{"kubernetes", "kube-proxy", []string{"--version"}},
	{"kubernetes", "kubectl", []string{"version", "--client"}},
	{"etcd", "etcd", []string{"--version"}},
	{"containerd", "containerd", []string{"--version"}},
	{"containerd", "ctr", []string{"--version"}},
	{"containerd", "containerd-shim-runc-v2", []string{"-v"}},
	{"runc", "runc", []string{"--version"}},
	{"skiff-ipam", "skiff-ipam", nil},
}

var semver = regexp.MustCompile(`v?\d+\.\d+\.\d+`)

// printVersions prints "component binary version" for every binary in the
// image, each as reported by the binary itself, then the preloaded images.
func printVersions() int {
	failed := false
	for _, b := range binaryVersions {
		out, err := exec.Command(filepath.Join("/usr/local/bin", b.binary), b.args...).CombinedOutput()
		v := semver.FindString(string(out))
		if err != nil || v == "" {
			fmt.Fprintf(os.Stderr, "%s: no version (%v): %s\n", b.binary, err, out)
			failed = true
			continue
		}
		fmt.Printf("%s %s v%s\n", b.component, b.binary, strings.TrimPrefix(v, "v"))
	}
	if osr, err := os.ReadFile("/etc/os-release"); err == nil {
		if m := regexp.MustCompile(`VERSION_CODENAME=(\S+)`).FindSubmatch(osr); m != nil {
			fmt.Printf("debian os %s\n", m[1])
		}
	}
	list, err := os.ReadFile(PreloadedList)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		failed = true
	}
	for _, ref := range strings.Fields(string(list)) {
		fmt.Printf("image %s\n", ref)
	}
	if failed {
		return 1
	}
	return 0
}
