package images

import "testing"

func TestManifestImages(t *testing.T) {
	r, err := Resolved("")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"pause":                  "registry.k8s.io/pause:3.10.2",
		"busybox":                "skiff.local/busybox:bookworm",
		"coredns":                "registry.k8s.io/coredns/coredns:v1.14.6",
		"local-path-provisioner": "docker.io/rancher/local-path-provisioner:v0.0.30",
		"metrics-server":         "registry.k8s.io/metrics-server/metrics-server:v0.9.0",
		"registry":               "docker.io/library/registry:3.1.2",
		"traefik":                "docker.io/library/traefik:v3.6.12",
	}
	got := r.Images()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("Images()[%s] = %q, want %q", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("Images() = %v, want %v", got, want)
	}
	if k, _ := r.Component("kubernetes"); k.Main != "kube-main.go.tmpl" || k.Image != nil {
		t.Errorf("kubernetes component: main %q image %v", k.Main, k.Image)
	}
}
