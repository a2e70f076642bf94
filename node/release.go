package node

import (
	"fmt"
	"os"
	"sync"

	"github.com/skiff-k8s/skiff/images"
)

// release is the manifest resolved for the Kubernetes release this node
// image was built for, which the build names in the image's environment
// (images.EnvKubernetesVersion). The agent is the skiff that built the
// image, so its embedded manifest is the image's; outside a node (unit
// tests) it is the default release.
var release = sync.OnceValues(func() (*images.Manifest, error) {
	m, err := images.Resolved(os.Getenv(images.EnvKubernetesVersion))
	if err != nil {
		return nil, fmt.Errorf("this node's release: %w", err)
	}
	return m, nil
})
