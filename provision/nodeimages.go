// The images in a node's containerd: listing them (containerd's API), and
// tagging and importing an archive stream (ctr, the client in the node).

package provision

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"slices"
	"sort"
	"strings"

	contentapi "github.com/containerd/containerd/api/services/content/v1"
	imagesapi "github.com/containerd/containerd/api/services/images/v1"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/skiff-k8s/skiff/internal/cli"
	"github.com/skiff-k8s/skiff/internal/engine"
)

// ClusterImage is one image in the node's containerd, as the kubelet sees it.
type ClusterImage struct {
	Ref    string `json:"ref"`    // empty: known only by ID
	ID     string `json:"id"`     // config digest: Docker's image ID
	Digest string `json:"digest"` // the manifest or index digest
	// Size is as ctr reports it: the content of the node's platform.
	Size int64 `json:"size"`
}

// Images lists the images in the node's containerd, sorted by reference;
// CRI's own sha256:ID references show as the ID of the image they match.
func (p *Provider) Images(ctx context.Context, cluster string) ([]ClusterImage, error) {
	if err := p.running(ctx, cluster); err != nil {
		return nil, err
	}
	list, err := p.ctrImages(ctx, cluster)
	if err != nil {
		return nil, err
	}
	idOf := map[string]string{}
	for _, img := range list {
		if isID(img.Ref) {
			idOf[img.Digest] = img.Ref
		}
	}
	named := map[string]bool{}
	out := []ClusterImage{}
	for _, img := range list {
		if !isID(img.Ref) {
			img.ID = idOf[img.Digest]
			named[img.Digest] = true
			out = append(out, img)
		}
	}
	for _, img := range list {
		if isID(img.Ref) && !named[img.Digest] {
			out = append(out, ClusterImage{ID: img.Ref, Digest: img.Digest, Size: img.Size})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		return out[i].Ref != "" && (out[j].Ref == "" || out[i].Ref < out[j].Ref)
	})
	return out, nil
}

// running checks that the cluster exists and its node runs: exec needs it.
func (p *Provider) running(ctx context.Context, cluster string) error {
	ctx, cancel := context.WithTimeout(ctx, inspectTimeout)
	defer cancel()
	c, err := p.node(ctx, cluster)
	if err != nil {
		return err
	}
	if c.State == nil || !c.State.Running {
		return fmt.Errorf("cluster %q is not running: start it with `skiff start --name %s`", cluster, cluster)
	}
	return nil
}

// nodeRefs maps every image reference in the node to its target digest.
type nodeRefs map[string]string

// has reports whether the node has image id under name: CRI's sha256:ID
// reference and name point at the same manifest.
func (r nodeRefs) has(name, id string) bool {
	t := r[name]
	return t != "" && t == r[id]
}

func (p *Provider) nodeRefs(ctx context.Context, cluster string) (nodeRefs, error) {
	list, err := p.ctrImages(ctx, cluster)
	if err != nil {
		return nil, err
	}
	refs := nodeRefs{}
	for _, img := range list {
		refs[img.Ref] = img.Digest
	}
	return refs, nil
}

// ctrImages lists the images in the node's containerd (CRI's namespace)
// through containerd's own API, reached by socat in the node: each
// reference, its target digest and the size of its content for the node's
// platform, as `ctr images ls` shows them.
func (p *Provider) ctrImages(ctx context.Context, cluster string) ([]ClusterImage, error) {
	ctx, cancel := context.WithTimeout(ctx, ctrTimeout)
	defer cancel()
	conn, err := grpc.NewClient("passthrough:///containerd",
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		// The dialer's own context ends once connected: the command
		// lives as long as ctx.
		grpc.WithContextDialer(func(context.Context, string) (net.Conn, error) {
			cmd := []string{"socat", "STDIO", "UNIX-CONNECT:" + containerdSocket}
			return engine.Dial(ctx, p.docker, NodeName(cluster), cmd, engine.ExecOptions{Timeout: ctrTimeout}), nil
		}))
	if err != nil {
		return nil, fmt.Errorf("failed to list images in the node: %w", err)
	}
	defer conn.Close()
	ctx = metadata.AppendToOutgoingContext(ctx, "containerd-namespace", criNamespace)
	resp, err := imagesapi.NewImagesClient(conn).List(ctx, &imagesapi.ListImagesRequest{})
	if err != nil {
		return nil, fmt.Errorf("failed to list images in the node: %w", err)
	}
	content := contentapi.NewContentClient(conn)
	read := func(dgst string) ([]byte, error) { return readBlob(ctx, content, dgst) }
	sizes := map[string]int64{}
	var list []ClusterImage
	for _, img := range resp.Images {
		t := img.Target
		size, ok := sizes[t.Digest]
		if !ok {
			if size, err = imageSize(read, t.MediaType, t.Digest, t.Size, nodePlatform); err != nil {
				return nil, fmt.Errorf("image %s in the node: %w", img.Name, err)
			}
			sizes[t.Digest] = size
		}
		list = append(list, ClusterImage{Ref: img.Name, Digest: t.Digest, Size: size})
	}
	return list, nil
}

// containerdSocket is containerd's socket in the node.
const containerdSocket = "/run/containerd/containerd.sock"

// nodePlatform is the node's: Docker runs Linux containers of the host's
// architecture (Docker Desktop's VM included).
var nodePlatform = v1.Platform{OS: "linux", Architecture: runtime.GOARCH}

func readBlob(ctx context.Context, c contentapi.ContentClient, dgst string) ([]byte, error) {
	stream, err := c.Read(ctx, &contentapi.ReadContentRequest{Digest: dgst})
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	for {
		resp, err := stream.Recv()
		if err == io.EOF {
			return buf.Bytes(), nil
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", dgst, err)
		}
		buf.Write(resp.Data)
	}
}

// imageSize is what ctr reports as an image's size: its target's, plus,
// through an index, the manifest for platform, plus the manifest's config
// and layers. Content the node lacks (another platform's) counts as far as
// it goes, as in ctr.
func imageSize(read func(digest string) ([]byte, error), mediaType, dgst string, size int64, platform v1.Platform) (int64, error) {
	total := size
	for range 4 { // an index of indexes ends within a few levels
		mt := types.MediaType(mediaType)
		if !mt.IsIndex() && !mt.IsImage() {
			return total, nil
		}
		data, err := read(dgst)
		if status.Code(err) == codes.NotFound {
			return total, nil
		}
		if err != nil {
			return 0, err
		}
		if mt.IsImage() {
			m, err := v1.ParseManifest(bytes.NewReader(data))
			if err != nil {
				return 0, fmt.Errorf("manifest %s: %w", dgst, err)
			}
			total += m.Config.Size
			for _, l := range m.Layers {
				total += l.Size
			}
			return total, nil
		}
		idx, err := v1.ParseIndexManifest(bytes.NewReader(data))
		if err != nil {
			return 0, fmt.Errorf("index %s: %w", dgst, err)
		}
		i := slices.IndexFunc(idx.Manifests, func(d v1.Descriptor) bool {
			return d.Platform == nil || d.Platform.OS == platform.OS && d.Platform.Architecture == platform.Architecture
		})
		if i < 0 {
			return total, nil
		}
		d := idx.Manifests[i]
		total += d.Size
		mediaType, dgst = string(d.MediaType), d.Digest.String()
	}
	return total, nil
}

func (p *Provider) tag(ctx context.Context, cluster, src, dst string) error {
	cmd := []string{ctrPath, "--namespace", criNamespace, "images", "tag", "--force", src, dst}
	if err := engine.Run(ctx, p.docker, NodeName(cluster), cmd, engine.ExecOptions{Timeout: ctrTimeout}); err != nil {
		return fmt.Errorf("failed to tag %s as %s in the node: %w", shortID(src), dst, err)
	}
	return nil
}

// importStream pipes an image archive stream into `ctr images import -`,
// counting bytes on progress.
func (p *Provider) importStream(ctx context.Context, cluster string, r io.Reader, size int64, desc string, digests bool, progress io.Writer) error {
	if progress == nil {
		progress = io.Discard
	}
	// The transfer service unpacks into the default snapshotter, overlayfs,
	// which is also CRI's; only the node's platform is imported.
	cmd := []string{ctrPath, "--namespace", criNamespace, "images", "import"}
	if digests {
		cmd = append(cmd, "--digests")
	}
	cmd = append(cmd, "-")
	bar := cli.NewBytes(progress, size, desc)
	out := &engine.TailBuffer{Max: 16 << 10}
	err := engine.Run(ctx, p.docker, NodeName(cluster), cmd, engine.ExecOptions{Stdin: io.TeeReader(r, bar), Stdout: out, Idle: importIdle})
	if err != nil {
		if cli.IsTerminal(progress) {
			fmt.Fprintln(progress) // end the unfinished bar's line
		}
		return fmt.Errorf("failed to import images into the node: %w", err)
	}
	bar.Done()
	p.logf("ctr: %s", strings.TrimSpace(lastLine(out.String())))
	return nil
}

func lastLine(s string) string {
	s = strings.TrimRight(s, "\n")
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
