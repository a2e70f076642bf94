// Package images builds skiff's node image offline: Kubernetes, etcd,
// containerd and runc compiled from their Go modules at the versions pinned
// in versions.yaml, on a Debian root filesystem from debootstrap, with the
// images pods need preloaded (pause and the addons' images, also compiled
// from their modules), imported into Docker without a registry.
package images

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/docker/docker/client"

	"github.com/skiff-k8s/skiff/internal/digest"
	"github.com/skiff-k8s/skiff/internal/textutil"
)

// recipeVersion changes whenever the build code changes what it produces
// from an unchanged manifest.
const recipeVersion = "3"

// Repository names of the images the builder makes.
const (
	NodeRepository = "skiff/node"
	baseRepository = "skiff/node-base"
)

//go:embed recipe
var recipe embed.FS

// recipeFiles returns every embedded recipe file in a stable order.
func recipeFiles() [][]byte {
	var files [][]byte
	_ = fsWalk(func(path string, data []byte) { files = append(files, []byte(path), data) })
	return files
}

// Builder builds node images. CacheDir holds downloads, compiled binaries
// and logs; deleting it only costs time.
type Builder struct {
	Docker   client.APIClient
	CacheDir string
	// Status shows each build step as it begins and ends (cli.Steps).
	Status interface {
		Start(step string)
		End(ok bool)
	}
	// Agent is the skiff-node executable installed as the image's entrypoint.
	Agent string
	Force bool
	// AgentOnly adds only the agent layer, failing if the base is missing:
	// what create does when this skiff's agent layer does not exist yet.
	AgentOnly bool

	log     io.Writer
	logPath string
}

// Result describes a built (or already present) node image.
type Result struct {
	Image    string
	UpToDate bool
	LogPath  string
}

// Build makes sure the node image for manifest m exists and returns its
// reference. Only the missing layers are built: the base (everything
// upstream) is keyed by the manifest and recipe, the final image by the base
// and the agent binary.
func (b *Builder) Build(ctx context.Context, m *Manifest) (*Result, error) {
	ref, err := NodeImage(m, b.Agent)
	if err != nil {
		return nil, err
	}
	if !b.Force && imageExists(ctx, b.Docker, ref) {
		return &Result{Image: ref, UpToDate: true}, nil
	}
	base := BaseImage(m)
	needBase := b.Force || !imageExists(ctx, b.Docker, base)
	if needBase && b.AgentOnly {
		return nil, fmt.Errorf("node image %s not found: build it with `skiff image build --kubernetes-version %s`, or load one with `skiff image load -i FILE`", ref, m.Kubernetes.Default)
	}
	if err := b.openLog(); err != nil {
		return nil, err
	}
	res := &Result{Image: ref, LogPath: b.logPath}
	if needBase {
		if err := b.buildBase(ctx, m, base); err != nil {
			return res, err
		}
	}
	err = b.step(fmt.Sprintf("Installing node agent into %s", ref), func() error {
		return installAgent(ctx, b.Docker, base, ref, b.Agent, m)
	})
	return res, err
}

func (b *Builder) buildBase(ctx context.Context, m *Manifest, ref string) error {
	if err := b.step("Checking build prerequisites", func() error { return CheckPrerequisites(b.CacheDir) }); err != nil {
		return err
	}
	bins := map[string]string{}
	// archives maps an image archive's file name to its path.
	archives := map[string]string{}
	for _, c := range m.Go {
		var dir string
		err := b.step(fmt.Sprintf("Building %s %s from %s", c.Name, c.Version, c.Module), func() error {
			var err error
			dir, err = b.buildGo(ctx, c)
			return err
		})
		if err != nil {
			return err
		}
		if c.Image == nil {
			bins[c.Name] = dir
			continue
		}
		if err := b.step("Packing image "+c.Image.Ref, func() error {
			var err error
			archives[c.Name+".tar"], err = b.componentImage(c, dir)
			return err
		}); err != nil {
			return err
		}
	}
	if err := b.step("Building pause "+m.Pause.Version, func() error {
		var err error
		archives["pause.tar"], err = b.buildPause(ctx, m)
		return err
	}); err != nil {
		return err
	}
	var rootfs string
	if err := b.step(fmt.Sprintf("Building Debian %s root filesystem (%d packages)", m.Debian.Suite, len(m.Debian.Packages)), func() error {
		var err error
		rootfs, err = b.buildRootfs(ctx, m)
		return err
	}); err != nil {
		return err
	}
	if err := b.step("Packing image "+m.Busybox.Image, func() error {
		var err error
		archives["busybox.tar"], err = b.buildBusybox(ctx, m, rootfs)
		return err
	}); err != nil {
		return err
	}
	// files maps a path in the image to the upstream file copied there.
	files := map[string]string{}
	for _, f := range m.AddonFiles {
		if err := b.step(fmt.Sprintf("Fetching %s %s manifests from %s", f.Name, f.Version, f.Module), func() error {
			return b.fetchAddonFiles(ctx, f, files)
		}); err != nil {
			return err
		}
	}
	raw := ref + "-rootfs"
	if err := b.step("Assembling and importing "+raw, func() error {
		return b.assemble(ctx, m, raw, rootfs, bins, files)
	}); err != nil {
		return err
	}
	return b.step(fmt.Sprintf("Unpacking %d images into containerd's store in %s", len(archives), ref), func() error {
		return preload(ctx, b.Docker, raw, ref, archives, b.log)
	})
}

// step runs fn as one status step; on failure the error names the step and
// carries the last lines of the build log.
func (b *Builder) step(name string, fn func() error) error {
	b.Status.Start(name)
	fmt.Fprintf(b.log, "=== %s %s\n", time.Now().Format(time.RFC3339), name)
	if err := fn(); err != nil {
		b.Status.End(false)
		return &StepError{Step: name, Err: err, LogPath: b.logPath, Tail: textutil.TailFile(b.logPath, 15)}
	}
	b.Status.End(true)
	return nil
}

// StepError is a failed build step with the end of its log.
type StepError struct {
	Step, LogPath, Tail string
	Err                 error
}

func (e *StepError) Error() string {
	return fmt.Sprintf("image build step %q failed: %v\n--- last lines of %s ---\n%s", e.Step, e.Err, e.LogPath, e.Tail)
}

func (e *StepError) Unwrap() error { return e.Err }

func (b *Builder) openLog() error {
	dir := filepath.Join(b.CacheDir, "logs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("failed to create log directory: %w", err)
	}
	b.logPath = filepath.Join(dir, "build-"+time.Now().Format("20060102-150405")+".log")
	f, err := os.Create(b.logPath)
	if err != nil {
		return fmt.Errorf("failed to create build log: %w", err)
	}
	b.log = f
	return nil
}

// run executes a command with its output going to the build log.
func (b *Builder) run(ctx context.Context, dir string, env []string, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Env = dir, env
	cmd.Stdout, cmd.Stderr = b.log, b.log
	fmt.Fprintf(b.log, "+ %s %s\n", name, strings.Join(args, " "))
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return nil
}

// output executes a command and returns its standard output; standard error
// goes to the build log.
func (b *Builder) output(ctx context.Context, dir string, env []string, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Env = dir, env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, b.log
	fmt.Fprintf(b.log, "+ %s %s\n", name, strings.Join(args, " "))
	err := cmd.Run()
	return out.Bytes(), err
}

// BaseImage returns the reference of manifest m's base image: everything
// upstream, without the agent.
func BaseImage(m *Manifest) string {
	return baseRepository + ":" + m.Kubernetes.Default + "-" + m.BaseTag()
}

// NodeImage returns the reference of the node image for manifest m with the
// given agent executable.
func NodeImage(m *Manifest, agent string) (string, error) {
	sum, err := digest.File(agent)
	if err != nil {
		return "", fmt.Errorf("failed to hash node agent: %w", err)
	}
	h := sha256.Sum256([]byte(m.BaseTag() + sum))
	return NodeRepository + ":" + m.Kubernetes.Default + "-" + hex.EncodeToString(h[:])[:12], nil
}

// specHash keys a component's build: its manifest entry, the recipe version
// and the content of its recipe main, if any (Main holds only the name).
func specHash(c GoComponent) string {
	data, _ := json.Marshal(c)
	data = append(data, recipeVersion...)
	if c.Main != "" {
		main, _ := recipe.ReadFile(path.Join("recipe", c.Main))
		data = append(data, main...)
	}
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:])[:8]
}

func imageExists(ctx context.Context, c client.APIClient, ref string) bool {
	_, err := c.ImageInspect(ctx, ref)
	return err == nil
}

var errMissing = errors.New("missing build prerequisites")
