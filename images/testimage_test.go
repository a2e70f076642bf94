package images

import (
	"strings"
	"testing"
)

// TestTestImagesLeaveNodeImageAlone checks that the test images do not
// change the node image's tag, and are resolved like the node's images.
func TestTestImagesLeaveNodeImageAlone(t *testing.T) {
	t.Parallel()
	m, err := Resolved("")
	if err != nil {
		t.Fatal(err)
	}
	if len(m.TestImages) == 0 {
		t.Fatal("versions.yaml has no testImages")
	}
	without := *m
	without.TestImages = nil
	if without.BaseTag() != m.BaseTag() {
		t.Errorf("BaseTag with test images %s, without %s: want equal", m.BaseTag(), without.BaseTag())
	}
	for _, c := range m.TestImages {
		if c.Image == nil || strings.Contains(c.Image.Ref, "{{") || strings.Contains(c.Version, "{{") {
			t.Errorf("test image %s not resolved: %+v", c.Name, c)
		}
	}
}

// TestGatewayEchoFollowsCRDs checks that the conformance backends come from
// the Gateway API version whose CRDs the gateway addon installs.
func TestGatewayEchoFollowsCRDs(t *testing.T) {
	t.Parallel()
	m, err := Resolved("")
	if err != nil {
		t.Fatal(err)
	}
	var crds string
	for _, f := range m.AddonFiles {
		if f.Module == "sigs.k8s.io/gateway-api" {
			crds = f.Version
		}
	}
	for _, c := range m.TestImages {
		if c.Module == "sigs.k8s.io/gateway-api/conformance" && c.Version != crds {
			t.Errorf("test image %s is from %s@%s, the CRDs from sigs.k8s.io/gateway-api@%s", c.Name, c.Module, c.Version, crds)
		}
	}
}
