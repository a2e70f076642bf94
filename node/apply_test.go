package node

import (
	"slices"
	"testing"

	"github.com/skiff-k8s/skiff/addons"
)

func TestDecodeManifestEveryAddon(t *testing.T) {
	v, err := AddonValues(&Config{DNSIP: "10.96.0.10", LoadBalancerPool: "172.30.128.0/24", RegistryPort: 5001}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// What the agent issues at boot into PKIDir, which a test has not.
	v.CA, v.MetricsCert, v.MetricsKey = []byte("ca"), []byte("crt"), []byte("key")
	for _, name := range addons.Names() {
		if addons.InAgent(name) {
			continue
		}
		data, err := addons.Render(name, v)
		if err != nil {
			t.Fatalf("render %s: %v", name, err)
		}
		objs, err := decodeManifest(data)
		if err != nil {
			t.Fatalf("addon %s: %v", name, err)
		}
		if len(objs) == 0 {
			t.Fatalf("addon %s: no objects", name)
		}
		for _, o := range objs {
			if o.GetAPIVersion() == "" {
				t.Errorf("addon %s: %s %s has no apiVersion", name, o.GetKind(), o.GetName())
			}
		}
	}
}

func TestDecodeManifestSkipsEmptyDocuments(t *testing.T) {
	objs, err := decodeManifest([]byte("---\n# comment only\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n"))
	if err != nil || len(objs) != 1 || objs[0].GetName() != "a" {
		t.Fatalf("decodeManifest = %v, %v; want one Namespace a", objs, err)
	}
}

func TestWaves(t *testing.T) {
	objs, err := decodeManifest([]byte(`apiVersion: apps/v1
kind: Deployment
metadata: {name: d, namespace: ns}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: sa, namespace: ns}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: things.example.com}
---
apiVersion: example.com/v1
kind: Thing
metadata: {name: t, namespace: ns}
---
apiVersion: v1
kind: Namespace
metadata: {name: ns}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cm, namespace: ns}
`))
	if err != nil {
		t.Fatal(err)
	}
	var got [][]string
	for _, w := range waves(objs) {
		var names []string
		for _, o := range w {
			names = append(names, o.GetName())
		}
		got = append(got, names)
	}
	// Config with the workloads: see apply.
	want := [][]string{{"things.example.com", "ns"}, {"sa"}, {"d", "t", "cm"}}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("waves = %q, want %q", got, want)
	}
}
