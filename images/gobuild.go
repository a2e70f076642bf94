package images

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/mod/modfile"
)

// buildGo compiles one Go component from its module, in a throwaway module
// under the cache, and returns the directory holding its binaries. A finished
// build is reused: the directory is keyed by component name, version and the
// hash of its manifest entry.
func (b *Builder) buildGo(ctx context.Context, c GoComponent) (string, error) {
	out := filepath.Join(b.CacheDir, "bin", fmt.Sprintf("%s-%s-%s", c.Name, c.Version, specHash(c)))
	if _, err := os.Stat(filepath.Join(out, ".done")); err == nil {
		return out, nil
	}
	work := filepath.Join(b.CacheDir, "work", c.Name+"-"+c.Version)
	if err := os.RemoveAll(work); err != nil {
		return "", err
	}
	if err := os.MkdirAll(work, 0o755); err != nil {
		return "", err
	}
	gomod, err := b.throwawayGoMod(ctx, c)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(work, "go.mod"), gomod, 0o644); err != nil {
		return "", err
	}
	if err := writeMain(work, c); err != nil {
		return "", err
	}
	env := append(os.Environ(), "GOFLAGS=-mod=mod", "CGO_ENABLED=0")
	if err := b.run(ctx, work, env, "go", "mod", "tidy"); err != nil {
		return "", fmt.Errorf("failed to resolve modules of %s@%s: %w", c.Module, c.Version, err)
	}
	tmp := out + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return "", err
	}
	names := make([]string, 0, len(c.Binaries))
	for name := range c.Binaries {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		args := []string{"build", "-trimpath", "-ldflags", ldflags(c), "-o", filepath.Join(tmp, name)}
		if tags := buildTags(c); tags != "" {
			args = append(args, "-tags", tags)
		}
		benv := env
		if c.CGO {
			benv = append(env, "CGO_ENABLED=1")
		}
		if err := b.run(ctx, work, benv, "go", append(args, c.Binaries[name])...); err != nil {
			return "", fmt.Errorf("failed to compile %s from %s@%s: %w", name, c.Module, c.Version, err)
		}
	}
	if err := os.WriteFile(filepath.Join(tmp, ".done"), nil, 0o644); err != nil {
		return "", err
	}
	if err := os.RemoveAll(out); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, out); err != nil {
		return "", err
	}
	return out, os.RemoveAll(work)
}

// BuildGo compiles component c the way the node image's components are
// built (a throwaway module with upstream's replace directives) into a
// directory under cacheDir/bin keyed by name, version and spec, reused once
// complete, and returns that directory. It is for binaries outside the node
// image, such as Kubernetes' own e2e specs; the go commands' output goes to
// log.
func BuildGo(ctx context.Context, cacheDir string, log io.Writer, c GoComponent) (string, error) {
	if log == nil {
		log = io.Discard
	}
	b := &Builder{CacheDir: cacheDir, log: log}
	return b.buildGo(ctx, c)
}

// throwawayGoMod writes a go.mod that requires the component and carries the
// upstream module's replace directives (replaceDirectives).
func (b *Builder) throwawayGoMod(ctx context.Context, c GoComponent) ([]byte, error) {
	upstream, err := b.downloadGoMod(ctx, c.Module, c.Version)
	if err != nil {
		return nil, err
	}
	f, err := modfile.Parse("go.mod", upstream, nil)
	if err != nil {
		return nil, fmt.Errorf("failed to parse go.mod of %s@%s: %w", c.Module, c.Version, err)
	}
	var s strings.Builder
	fmt.Fprintf(&s, "module skiff.local/build/%s\n\ngo %s\n\nrequire %s %s\n\n", c.Name, goVersion(f), c.Module, c.Version)
	s.WriteString(replaceDirectives(f, c.Staging))
	return []byte(s.String()), nil
}

// replaceDirectives are upstream's replace directives for the throwaway
// module: a local one (./staging/..., ../api) points at the published module
// at the staging version instead, unless upstream does not require that
// module: then it is a guard against importing it (etcd's `go.etcd.io/etcd
// => ./FORBIDDEN_DEPENDENCY`) and is left out.
func replaceDirectives(f *modfile.File, staging string) string {
	required := map[string]bool{}
	for _, r := range f.Require {
		required[r.Mod.Path] = true
	}
	var s strings.Builder
	for _, r := range f.Replace {
		old := r.Old.Path
		if r.Old.Version != "" {
			old += " " + r.Old.Version
		}
		if modfile.IsDirectoryPath(r.New.Path) {
			if required[r.Old.Path] {
				fmt.Fprintf(&s, "replace %s => %s %s\n", old, r.Old.Path, staging)
			}
			continue
		}
		fmt.Fprintf(&s, "replace %s => %s %s\n", old, r.New.Path, r.New.Version)
	}
	return s.String()
}

func goVersion(f *modfile.File) string {
	if f.Go != nil {
		return f.Go.Version
	}
	return "1.24"
}

func (b *Builder) downloadGoMod(ctx context.Context, module, version string) ([]byte, error) {
	info, err := b.download(ctx, module, version)
	if err != nil {
		return nil, err
	}
	return os.ReadFile(info.GoMod)
}

// writeMain writes the package that makes `go mod tidy` keep the component:
// the component's own main (MainSource, or a file from the recipe), and a
// tools file importing every other main package to build.
func writeMain(dir string, c GoComponent) error {
	main := c.MainSource
	if c.Main != "" {
		data, err := recipe.ReadFile(path.Join("recipe", c.Main))
		if err != nil {
			return fmt.Errorf("failed to read main %s of %s: %w", c.Main, c.Name, err)
		}
		main = data
	}
	pkg := "tools"
	if main != nil {
		if err := os.WriteFile(filepath.Join(dir, "main.go"), main, 0o644); err != nil {
			return fmt.Errorf("failed to write main of %s: %w", c.Name, err)
		}
		// One directory holds one package.
		pkg = "main"
	}
	var imports []string
	for _, p := range c.Binaries {
		if p != "." {
			imports = append(imports, p)
		}
	}
	if len(imports) == 0 {
		return nil
	}
	sort.Strings(imports)
	var s strings.Builder
	fmt.Fprintf(&s, "//go:build tools\n\npackage %s\n\nimport (\n", pkg)
	for _, p := range imports {
		fmt.Fprintf(&s, "\t_ %q\n", p)
	}
	s.WriteString(")\n")
	if err := os.WriteFile(filepath.Join(dir, "tools.go"), []byte(s.String()), 0o644); err != nil {
		return fmt.Errorf("failed to write tools file of %s: %w", c.Name, err)
	}
	return nil
}

func buildTags(c GoComponent) string {
	tags := c.Tags
	if c.CGO {
		// Static binaries that run on any root filesystem.
		tags = append([]string{"netgo", "osusergo"}, tags...)
	}
	return strings.Join(tags, " ")
}

func ldflags(c GoComponent) string {
	flags := []string{"-s", "-w"}
	keys := make([]string, 0, len(c.XVersion))
	for k := range c.XVersion {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		flags = append(flags, "-X", k+"="+c.XVersion[k])
	}
	if c.CGO {
		flags = append(flags, "-linkmode", "external", "-extldflags", "-static")
	}
	return strings.Join(flags, " ")
}

func lookPath(name string) error {
	_, err := exec.LookPath(name)
	return err
}
