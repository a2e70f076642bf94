package images

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/skiff-k8s/skiff/internal/textutil"
)

// Paths inside the node image.
const (
	binDir    = "usr/local/bin"
	agentPath = "/usr/local/bin/skiff-node"
)

// kubeCommands are the names the multi-call Kubernetes binary answers to.
var kubeCommands = []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "kube-controllers", "kubectl"}

// LabelPrefix prefixes the version labels on node images.
const LabelPrefix = "dev.skiff.version."

// LabelKubernetes, on a node image (and so on its containers), is its
// Kubernetes version.
const LabelKubernetes = LabelPrefix + "kubernetes"

// EnvKubernetesVersion, in a node image's environment, is the Kubernetes
// release it was built for, so that its agent renders what that release
// preloads (node.release).
const EnvKubernetesVersion = "SKIFF_KUBERNETES_VERSION"

// assemble streams the root filesystem plus the compiled binaries and the
// addons' upstream files into `docker import`.
func (b *Builder) assemble(ctx context.Context, m *Manifest, ref, rootfs string, bins, files map[string]string) error {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeImageTar(pw, rootfs, bins, files)) }()
	changes := []string{
		"ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"ENV container=docker",
		"ENV " + EnvKubernetesVersion + "=" + m.Kubernetes.Default,
	}
	for _, v := range m.Versions() {
		changes = append(changes, fmt.Sprintf("LABEL %s%s=%s", LabelPrefix, v[0], v[1]))
	}
	rc, err := b.Docker.ImageImport(ctx, image.ImportSource{Source: pr, SourceName: "-"}, ref, image.ImportOptions{Changes: changes})
	if err != nil {
		pr.CloseWithError(err)
		return fmt.Errorf("failed to import %s: %w", ref, err)
	}
	defer rc.Close()
	if _, err := io.Copy(b.log, rc); err != nil {
		return fmt.Errorf("failed to import %s: %w", ref, err)
	}
	if !imageExists(ctx, b.Docker, ref) {
		return fmt.Errorf("docker import finished but %s is missing (see the log)", ref)
	}
	return nil
}

// writeImageTar writes the node's root filesystem: rootfs, each directory
// of bins into /usr/local/bin, and files (image path to source file).
func writeImageTar(w io.Writer, rootfs string, bins, files map[string]string) error {
	tw := tar.NewWriter(w)
	f, err := os.Open(rootfs)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("failed to read root filesystem: %w", err)
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
	names := make([]string, 0, len(bins))
	for n := range bins {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		entries, err := os.ReadDir(bins[n])
		if err != nil {
			return err
		}
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".") {
				continue
			}
			if err := addFile(tw, filepath.Join(bins[n], e.Name()), binDir+"/"+e.Name(), 0o755); err != nil {
				return err
			}
		}
	}
	for _, c := range kubeCommands {
		if err := tw.WriteHeader(&tar.Header{Name: binDir + "/" + c, Typeflag: tar.TypeSymlink, Linkname: "kube", Mode: 0o777}); err != nil {
			return err
		}
	}
	dsts := make([]string, 0, len(files))
	for d := range files {
		dsts = append(dsts, d)
	}
	sort.Strings(dsts)
	for _, d := range dsts {
		if err := addFile(tw, files[d], d, 0o644); err != nil {
			return fmt.Errorf("failed to add %s: %w", d, err)
		}
	}
	return tw.Close()
}

func addFile(tw *tar.Writer, src, dst string, mode int64) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Name: dst, Mode: mode, Size: st.Size(), Typeflag: tar.TypeReg, ModTime: st.ModTime()}); err != nil {
		return err
	}
	_, err = io.Copy(tw, f)
	return err
}

// installAgent makes the node image: the base plus the skiff-node agent as
// entrypoint, and the etcd seed the agent makes with the base's etcd and
// API server (node.EtcdSeedFile). Only this thin layer changes when skiff
// itself changes.
func installAgent(ctx context.Context, c client.APIClient, base, ref, agent string, m *Manifest) error {
	created, err := c.ContainerCreate(ctx, &container.Config{Image: base, Entrypoint: []string{agentPath, "seed-etcd"}}, nil, nil, nil, "")
	if err != nil {
		return fmt.Errorf("failed to create agent container: %w", err)
	}
	defer c.ContainerRemove(context.WithoutCancel(ctx), created.ID, container.RemoveOptions{Force: true})
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		err := addFile(tw, agent, strings.TrimPrefix(agentPath, "/"), 0o755)
		if err == nil {
			err = tw.Close()
		}
		pw.CloseWithError(err)
	}()
	if err := c.CopyToContainer(ctx, created.ID, "/", pr, container.CopyToContainerOptions{}); err != nil {
		return fmt.Errorf("failed to copy agent into image: %w", err)
	}
	sctx, cancel := context.WithTimeout(ctx, seedTimeout)
	defer cancel()
	code, out, err := runToExit(sctx, c, created.ID)
	if err != nil {
		return fmt.Errorf("seed etcd: %w", err)
	}
	if code != 0 {
		return fmt.Errorf("seed etcd: skiff-node seed-etcd exited with %d:\n%s", code, textutil.Tail(out, 20))
	}
	gates, err := featureGates(ctx, c, base)
	if err != nil {
		return err
	}
	changes := []string{
		fmt.Sprintf(`ENTRYPOINT ["%s"]`, agentPath),
		`CMD []`,
		"LABEL dev.skiff.node=true",
		fmt.Sprintf("LABEL %s=%s", LabelFeatureGates, strings.Join(gates, ",")),
		fmt.Sprintf("LABEL %s=%d", LabelRegistryNodePort, RegistryNodePort),
	}
	if _, err := c.ContainerCommit(ctx, created.ID, container.CommitOptions{Reference: ref, Changes: changes}); err != nil {
		return fmt.Errorf("failed to commit %s: %w", ref, err)
	}
	return nil
}

// seedTimeout bounds making the etcd seed, which takes seconds.
const seedTimeout = 3 * time.Minute

// RegistryNodePort is where the registry addon listens in a node of an
// image this skiff builds, whatever the host's port (LabelRegistryNodePort
// says so on the image). Fixed, the registry's pod does not change when a
// clone gets another host port, so a clone does not roll it again: 1.5 s
// of every clone. An image without the label (an older skiff's) listens on
// the host's port itself.
const RegistryNodePort = 5000

// LabelRegistryNodePort, on a node image, is RegistryNodePort.
const LabelRegistryNodePort = "dev.skiff.registry-node-port"

// LabelFeatureGates, on a node image, lists the feature gates its
// Kubernetes knows (comma-separated), so that create refuses a misspelt
// gate in one line instead of a node whose API server exits.
const LabelFeatureGates = "dev.skiff.feature-gates"

// featureGates asks the image's kube-apiserver which feature gates exist.
func featureGates(ctx context.Context, c client.APIClient, base string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	created, err := c.ContainerCreate(ctx, &container.Config{Image: base, Entrypoint: []string{"/" + binDir + "/kube-apiserver", "--help"}}, nil, nil, nil, "")
	if err != nil {
		return nil, fmt.Errorf("list feature gates: %w", err)
	}
	defer c.ContainerRemove(context.WithoutCancel(ctx), created.ID, container.RemoveOptions{Force: true})
	_, out, err := runToExit(ctx, c, created.ID)
	if err != nil {
		return nil, fmt.Errorf("list feature gates: %w", err)
	}
	gates := parseFeatureGates(out)
	if len(gates) == 0 {
		return nil, fmt.Errorf("list feature gates: kube-apiserver --help listed none:\n%s", textutil.Tail(out, 10))
	}
	return gates, nil
}

// runToExit starts a created container, waits until it exits and returns
// its exit code and output (stdout and stderr interleaved).
func runToExit(ctx context.Context, c client.APIClient, id string) (int64, string, error) {
	if err := c.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		return 0, "", fmt.Errorf("start: %w", err)
	}
	waitc, errc := c.ContainerWait(ctx, id, container.WaitConditionNotRunning)
	var code int64
	select {
	case w := <-waitc:
		code = w.StatusCode
	case err := <-errc:
		return 0, "", fmt.Errorf("wait: %w", err)
	}
	logs, err := c.ContainerLogs(ctx, id, container.LogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		return code, "", fmt.Errorf("read output: %w", err)
	}
	defer logs.Close()
	var out bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &out, logs); err != nil {
		return code, out.String(), fmt.Errorf("read output: %w", err)
	}
	return code, out.String(), nil
}

// featureGateRE matches one gate in kube-apiserver's --help, e.g.
// "kube:APIResponseCompression=true|false (BETA - default=true)".
var featureGateRE = regexp.MustCompile(`(?m)^\s+(?:kube:)?([A-Z][A-Za-z0-9]+)=true\|false \(`)

func parseFeatureGates(help string) []string {
	var gates []string
	for _, m := range featureGateRE.FindAllStringSubmatch(help, -1) {
		if !slices.Contains(gates, m[1]) {
			gates = append(gates, m[1])
		}
	}
	sort.Strings(gates)
	return gates
}

// fsWalk visits every embedded recipe file of the node image in lexical
// order: recipe/test holds the test images' (testImages), which are not in it.
func fsWalk(fn func(path string, data []byte)) error {
	return fs.WalkDir(recipe, "recipe", func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() && path == "recipe/test" {
			return fs.SkipDir
		}
		if err != nil || d.IsDir() {
			return err
		}
		data, err := recipe.ReadFile(path)
		if err != nil {
			return err
		}
		fn(path, data)
		return nil
	})
}
