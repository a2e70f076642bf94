package node

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func crd(name, group string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": map[string]any{"name": name},
		"spec":     map[string]any{"group": group},
	}}
}

func TestWithoutSeeded(t *testing.T) {
	seededCRD, changedCRD := crd("gateways.example.io", "example.io"), crd("routes.example.io", "example.io")
	same, _ := crdSum(seededCRD)
	// The seed held another version of routes.example.io.
	old, _ := crdSum(crd("routes.example.io", "old.example.io"))
	sameName := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "gateways.example.io"}}}
	crds := []seedCRD{
		{Addon: "gateway", Name: "gateways.example.io", SHA256: same},
		{Addon: "gateway", Name: "routes.example.io", SHA256: old},
		{Addon: "other", Name: "others.example.io", SHA256: same},
	}
	sums := seededSums(crds, []string{"gateway", "dns"})
	if _, ok := sums["others.example.io"]; ok || len(sums) != 2 {
		t.Fatalf("seededSums = %v, want only the enabled addon's", sums)
	}
	got, err := withoutSeeded([]*unstructured.Unstructured{seededCRD, changedCRD, sameName}, sums)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != changedCRD || got[1] != sameName {
		t.Errorf("withoutSeeded kept %v, want the changed CRD and the ConfigMap", got)
	}
	if all, _ := withoutSeeded([]*unstructured.Unstructured{seededCRD}, nil); len(all) != 1 {
		t.Error("withoutSeeded dropped an object with no seed")
	}
}
