package node

import (
	"testing"

	"github.com/skiff-k8s/skiff/addons"
)

func TestDecodeManifestEveryAddon(t *testing.T) {
	v := AddonValues(&Config{DNSIP: "10.96.0.10", LoadBalancerPool: "172.30.128.0/24", RegistryPort: 5001}, nil)
	for _, name := range addons.Names() {
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
