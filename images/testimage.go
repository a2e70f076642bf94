package images

import (
	"context"
	"fmt"
)

// TestImage builds the image archive of test image name (the manifest's
// testImages, resolved by ForKubernetes) and returns its path. Binaries and
// archive are cached like the node's addon images, so only the first call
// on a machine compiles; b.Docker is not used.
func (b *Builder) TestImage(ctx context.Context, m *Manifest, name string) (string, error) {
	for _, c := range m.TestImages {
		if c.Name != name {
			continue
		}
		if b.log == nil {
			if err := b.openLog(); err != nil {
				return "", err
			}
		}
		bins, err := b.buildGo(ctx, c)
		if err != nil {
			return "", fmt.Errorf("failed to build test image %s (build log %s): %w", name, b.logPath, err)
		}
		return b.componentImage(c, bins)
	}
	return "", fmt.Errorf("no test image %q in the versions manifest", name)
}
