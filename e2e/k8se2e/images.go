package k8se2e

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/skiff-k8s/skiff/images"
)

// Images asks the suite which image references its specs run, by the
// names its main package gives them (agnhost, busybox, ...).
func (s Suite) Images(ctx context.Context) (map[string]string, error) {
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, s.Test, "--print-images")
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("failed to ask %s for its images: %w: %s", s.Test, err, strings.TrimSpace(errb.String()))
	}
	refs := map[string]string{}
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 {
			refs[f[0]] = f[1]
		}
	}
	return refs, nil
}

// AgnhostImage writes the agnhost image archive to dir under the reference
// the specs ask for (registry.k8s.io/e2e-test-images/agnhost:<tag>, as the
// suite's own test/utils/image manifest names it) and returns both. The
// image holds /agnhost alone: the Netpol specs run `agnhost porter` and
// `agnhost connect`, nothing from upstream's Alpine base.
func (s Suite) AgnhostImage(ctx context.Context, dir string) (ref, archivePath string, err error) {
	refs, err := s.Images(ctx)
	if err != nil {
		return "", "", err
	}
	ref = refs["agnhost"]
	img, err := image(v1.Config{Entrypoint: []string{"/agnhost"}, Cmd: []string{"pause"}},
		files{"agnhost": {path: s.Agnhost, mode: 0o755}})
	if err != nil {
		return "", "", err
	}
	archivePath = filepath.Join(dir, "agnhost.tar")
	if err := writeArchive(archivePath, map[string]v1.Image{ref: img}); err != nil {
		return "", "", err
	}
	return ref, archivePath, nil
}

// ConformanceImages makes every image the [Conformance] specs run but the
// node's own pause, under the references the suite asks for, as one
// `docker save` archive under cacheDir/images (reused while its inputs are
// unchanged), and returns its path and the references. Upstream builds them
// on Alpine, Debian and busybox bases; here:
//   - busybox is upstream BusyBox compiled from its release tarball;
//   - agnhost (and agnhost's previous tag, the same binary: the specs only
//     need a second image), kitten, nautilus, nginx, nonroot, nonewprivs,
//     glibc-dns-testing, sample-apiserver and etcd run on one shared Debian
//     root filesystem with the tools upstream's bases give them.
func (s Suite) ConformanceImages(ctx context.Context, cacheDir string, log io.Writer, m *images.Manifest) (string, map[string]string, error) {
	refs, err := s.Images(ctx)
	if err != nil {
		return "", nil, err
	}
	kube, _ := m.Component("kubernetes")
	etcd, ok := m.Component("etcd")
	if !ok {
		return "", nil, fmt.Errorf("versions manifest has no etcd component")
	}
	etcdDir, err := images.BuildGo(ctx, cacheDir, log, etcd)
	if err != nil {
		return "", nil, fmt.Errorf("failed to build etcd for the sample API server's pod: %w", err)
	}
	rootfs, err := images.DebianRootfs(ctx, cacheDir, log, m.Debian.Suite, m.Conformance.Packages)
	if err != nil {
		return "", nil, err
	}
	busybox, err := buildBusybox(ctx, cacheDir, log, m.Conformance)
	if err != nil {
		return "", nil, err
	}
	mod, err := moduleDir(ctx, kube.Module, kube.Version)
	if err != nil {
		return "", nil, err
	}
	key, _ := json.Marshal([]any{refs, s.dir, etcdDir, rootfs, busybox, mod, imagesVersion})
	h := sha256.Sum256(key)
	out := filepath.Join(cacheDir, "images", "conformance-"+hex.EncodeToString(h[:])[:12]+".tar")
	if _, err := os.Stat(out); err == nil {
		return out, refs, nil
	}

	base, err := tarball.LayerFromFile(rootfs)
	if err != nil {
		return "", nil, fmt.Errorf("failed to read root filesystem %s: %w", rootfs, err)
	}
	onBase := func(cfg v1.Config, fs files) (v1.Image, error) {
		if cfg.Env == nil {
			cfg.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
		}
		return image(cfg, fs, base)
	}
	agnhostFiles := files{
		"agnhost":       {path: s.Agnhost, mode: 0o755},
		"agnhost-2":     {link: "agnhost"},
		"localhost.crt": {path: filepath.Join(mod, "test/images/agnhost/porter/localhost.crt"), mode: 0o644},
		"localhost.key": {path: filepath.Join(mod, "test/images/agnhost/porter/localhost.key"), mode: 0o644},
		"uploads/":      {mode: 0o755},
	}
	agnhostCfg := v1.Config{Entrypoint: []string{"/agnhost"}, Cmd: []string{"pause"}}
	pet := func(name string) files {
		fs := files{
			name + ".jpg": {path: filepath.Join(mod, "test/images", name, "html", name+".jpg"), mode: 0o644},
			"data.json":   {path: filepath.Join(mod, "test/images", name, "html/data.json"), mode: 0o644},
		}
		for k, v := range agnhostFiles {
			fs[k] = v
		}
		return fs
	}
	applets, err := busyboxApplets(ctx, busybox)
	if err != nil {
		return "", nil, err
	}
	busyboxFiles := files{
		"bin/busybox": {path: busybox, mode: 0o755},
		"tmp/":        {mode: 0o1777},
		"root/":       {mode: 0o700},
		"etc/passwd":  {data: "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n", mode: 0o644},
		"etc/group":   {data: "root:x:0:\nnobody:x:65534:\n", mode: 0o644},
	}
	for _, a := range applets {
		busyboxFiles["bin/"+a] = file{link: "busybox"}
	}
	nginx := files{
		"etc/nginx/nginx.conf":            {data: nginxConf, mode: 0o644},
		"usr/share/nginx/html/index.html": {data: nginxIndex, mode: 0o644},
		"var/log/nginx/":                  {mode: 0o755},
		"var/lib/nginx/":                  {mode: 0o755},
	}
	nginxCfg := v1.Config{Cmd: []string{"nginx", "-g", "daemon off;"}, ExposedPorts: map[string]struct{}{"80/tcp": {}}}

	made := map[string]v1.Image{}
	for _, b := range []struct {
		name string
		make func() (v1.Image, error)
	}{
		{"busybox", func() (v1.Image, error) {
			return image(v1.Config{Cmd: []string{"sh"}, Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}}, busyboxFiles)
		}},
		{"agnhost", func() (v1.Image, error) { return onBase(agnhostCfg, agnhostFiles) }},
		{"agnhost-prev", func() (v1.Image, error) { return onBase(agnhostCfg, agnhostFiles) }},
		{"kitten", func() (v1.Image, error) {
			return onBase(v1.Config{Entrypoint: agnhostCfg.Entrypoint, Cmd: []string{"test-webserver"}}, pet("kitten"))
		}},
		{"nautilus", func() (v1.Image, error) {
			return onBase(v1.Config{Entrypoint: agnhostCfg.Entrypoint, Cmd: []string{"test-webserver"}}, pet("nautilus"))
		}},
		{"nginx", func() (v1.Image, error) { return onBase(nginxCfg, nginx) }},
		{"nginx-new", func() (v1.Image, error) { return onBase(nginxCfg, nginx) }},
		{"nonroot", func() (v1.Image, error) { return onBase(v1.Config{User: "1234"}, nil) }},
		// Upstream's is Debian with dnsutils: the base itself.
		{"glibc-dns-testing", func() (v1.Image, error) { return onBase(v1.Config{Cmd: []string{"bash"}}, nil) }},
		{"nonewprivs", func() (v1.Image, error) {
			return onBase(v1.Config{Cmd: []string{"nnp"}}, files{"usr/local/bin/nnp": {path: s.Bin("nnp"), mode: 0o4755}})
		}},
		{"sample-apiserver", func() (v1.Image, error) {
			return onBase(v1.Config{Entrypoint: []string{"/sample-apiserver"}},
				files{"sample-apiserver": {path: s.Bin("sample-apiserver"), mode: 0o755}})
		}},
		{"etcd", func() (v1.Image, error) {
			return onBase(v1.Config{}, files{"usr/local/bin/etcd": {path: filepath.Join(etcdDir, "etcd"), mode: 0o755}})
		}},
	} {
		ref, ok := refs[b.name]
		if !ok {
			return "", nil, fmt.Errorf("%s names no %s image", s.Test, b.name)
		}
		img, err := b.make()
		if err != nil {
			return "", nil, fmt.Errorf("image %s: %w", ref, err)
		}
		made[ref] = img
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return "", nil, err
	}
	if err := writeArchive(out, made); err != nil {
		return "", nil, err
	}
	return out, refs, nil
}

// imagesVersion changes the cache key of the conformance archive when the
// way it is made changes.
const imagesVersion = "1"

// nginxConf serves /usr/share/nginx/html on port 80 like upstream's nginx
// image, logging to the container's output.
const nginxConf = `user www-data;
worker_processes 1;
error_log stderr notice;
pid /run/nginx.pid;
events { worker_connections 1024; }
http {
  include /etc/nginx/mime.types;
  access_log /dev/stdout;
  server {
    listen 80;
    listen [::]:80;
    root /usr/share/nginx/html;
    index index.html;
  }
}
`

const nginxIndex = "<!DOCTYPE html>\n<html><head><title>Welcome to nginx!</title></head>\n<body><h1>Welcome to nginx!</h1></body></html>\n"

// file is one entry of an image layer: a local file (path), literal
// content (data), a symlink (link) or, for a name ending in /, a directory.
type file struct {
	path, data, link string
	mode             int64
}

type files map[string]file

// image is an image of the given layers with fs as one more on top.
func image(cfg v1.Config, fs files, layers ...v1.Layer) (v1.Image, error) {
	if len(fs) > 0 {
		l, err := layer(fs)
		if err != nil {
			return nil, err
		}
		layers = append(layers, l)
	}
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Config = "linux", "amd64", cfg
	return mutate.ConfigFile(img, cf)
}

// layer packs fs, parent directories first.
func layer(fs files) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	names := make([]string, 0, len(fs))
	dirs := map[string]bool{}
	for n := range fs {
		names = append(names, n)
		for d := filepath.Dir(strings.TrimSuffix(n, "/")); d != "."; d = filepath.Dir(d) {
			dirs[d+"/"] = true
		}
	}
	for d := range dirs {
		if _, ok := fs[d]; !ok {
			names = append(names, d)
		}
	}
	slices.Sort(names)
	for _, n := range names {
		f, ok := fs[n]
		hdr := &tar.Header{Name: n, Mode: f.mode, Typeflag: tar.TypeReg}
		switch {
		case !ok || strings.HasSuffix(n, "/"):
			hdr.Typeflag = tar.TypeDir
			if !ok {
				hdr.Mode = 0o755
			}
		case f.link != "":
			hdr.Typeflag, hdr.Linkname, hdr.Mode = tar.TypeSymlink, f.link, 0o777
		}
		data := []byte(f.data)
		if f.path != "" {
			var err error
			if data, err = os.ReadFile(f.path); err != nil {
				return nil, err
			}
		}
		if hdr.Typeflag == tar.TypeReg {
			hdr.Size = int64(len(data))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil && hdr.Typeflag == tar.TypeReg {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	layerTar := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	})
}

// writeArchive writes images by reference as one `docker save` archive.
func writeArchive(path string, imgs map[string]v1.Image) error {
	byRef := map[name.Reference]v1.Image{}
	for ref, img := range imgs {
		tag, err := name.NewTag(ref)
		if err != nil {
			return fmt.Errorf("image reference %q: %w", ref, err)
		}
		byRef[tag] = img
	}
	tmp := path + ".tmp"
	if err := tarball.MultiRefWriteToFile(tmp, byRef); err != nil {
		return fmt.Errorf("failed to write image archive %s: %w", path, err)
	}
	return os.Rename(tmp, path)
}

// moduleDir is the module cache's directory of module@version.
func moduleDir(ctx context.Context, module, version string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", module+"@"+version)
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go mod download %s@%s: %w", module, version, err)
	}
	var info struct{ Dir string }
	if err := json.Unmarshal(out, &info); err != nil || info.Dir == "" {
		return "", fmt.Errorf("go mod download %s@%s gave no directory: %s", module, version, out)
	}
	return info.Dir, nil
}
