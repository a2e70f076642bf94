package provision

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"
	"gopkg.in/yaml.v3"

	"github.com/skiff-k8s/skiff/internal/engine"
	"github.com/skiff-k8s/skiff/node"
)

const (
	// exportCmdTimeout bounds each command run in the node for the export.
	exportCmdTimeout = 30 * time.Second
	// exportCopyTimeout bounds each copy out of the node: pod logs can be
	// large, but a wedged engine must not hang the export.
	exportCopyTimeout = 2 * time.Minute
)

// nodeCommands are run in a running node for `skiff export logs`. None may
// print a Secret: `get all` does not include them.
var nodeCommands = map[string][]string{
	"processes.txt":   {"ps", "auxww"},
	"addresses.txt":   {"ip", "addr"},
	"routes.txt":      {"ip", "route"},
	"iptables.txt":    {"iptables-save"},
	"images.txt":      {"ctr", "--namespace", "k8s.io", "images", "ls"},
	"containers.txt":  {"ctr", "--namespace", "k8s.io", "containers", "ls"},
	"mounts.txt":      {"cat", "/proc/self/mountinfo"},
	"kubectl-all.txt": {"kubectl", "--kubeconfig", node.KubeconfigDir + "/admin.conf", "get", "all,events", "-A", "-o", "wide"},
}

// exportPaths are copied out of the node. The PKI and the kubeconfigs under
// node.StateDir are left out on purpose; an addon's manifest may hold a
// Secret (an older skiff's MetalLB webhook key), which is redacted on the
// way.
var exportPaths = []string{node.LogDir, "/var/log/pods", node.StatusFile, node.ConfigFile, node.AddonsDir}

// ExportLogs collects every component's log, the node agent's output and
// status, the container's inspect data and the node's state into dir.
// Private keys and Secrets' data are redacted from everything it writes.
func (p *Provider) ExportLogs(ctx context.Context, name, dir string) error {
	ictx, cancel := context.WithTimeout(ctx, exportCmdTimeout)
	c, err := p.node(ictx, name)
	cancel()
	if err != nil {
		return err
	}
	// Pod logs are the apps' own words: only the user may read them.
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("failed to create %s: %w", dir, err)
	}
	var errs []error
	inspect, _ := json.MarshalIndent(c, "", "  ")
	errs = append(errs, writeRedacted(filepath.Join(dir, "inspect.json"), bytes.NewReader(inspect)))
	errs = append(errs, p.agentOutput(ctx, name, filepath.Join(dir, "skiff-node.log")))
	for _, src := range exportPaths {
		errs = append(errs, p.copyFromNode(ctx, name, src, dir))
	}
	if c.State.Running {
		for file, cmd := range nodeCommands {
			var out bytes.Buffer
			err := engine.Run(ctx, p.docker, NodeName(name), cmd, engine.ExecOptions{Stdout: &out, Stderr: &out, Timeout: exportCmdTimeout})
			if err != nil {
				fmt.Fprintf(&out, "\n%v\n", err)
			}
			errs = append(errs, writeRedacted(filepath.Join(dir, file), &out))
		}
	}
	return errors.Join(errs...)
}

func (p *Provider) agentOutput(ctx context.Context, name, file string) error {
	ctx, cancel := context.WithTimeout(ctx, exportCopyTimeout)
	defer cancel()
	rc, err := p.docker.ContainerLogs(ctx, NodeName(name), container.LogsOptions{ShowStdout: true, ShowStderr: true, Timestamps: true})
	if err != nil {
		return fmt.Errorf("failed to read agent output: %w", err)
	}
	defer rc.Close()
	pr, pw := io.Pipe()
	go func() {
		_, err := stdcopy.StdCopy(pw, pw, rc)
		pw.CloseWithError(err)
	}()
	if err := writeRedacted(file, pr); err != nil {
		pr.CloseWithError(err) // stop the copy
		return fmt.Errorf("failed to export agent output: %w", err)
	}
	return nil
}

// copyFromNode copies a file or directory out of the node into dir; a path
// that does not exist is skipped, and so is anything but directories and
// regular files (a symlink could point outside dir).
func (p *Provider) copyFromNode(ctx context.Context, name, src, dir string) error {
	ctx, cancel := context.WithTimeout(ctx, exportCopyTimeout)
	defer cancel()
	rc, _, err := p.docker.CopyFromContainer(ctx, NodeName(name), src)
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("failed to copy %s: %w", src, err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("failed to copy %s: %w", src, err)
		}
		target := filepath.Join(dir, filepath.Clean("/"+h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			var r io.Reader = tr
			if ext := filepath.Ext(h.Name); ext == ".yaml" || ext == ".yml" {
				data, err := io.ReadAll(tr)
				if err != nil {
					return fmt.Errorf("failed to copy %s: %w", h.Name, err)
				}
				r = bytes.NewReader(redactSecrets(data))
			}
			if err := writeRedacted(target, r); err != nil {
				return err
			}
		}
	}
}

// writeRedacted writes r to file with every private key redacted.
func writeRedacted(file string, r io.Reader) error {
	f, err := os.Create(file)
	if err != nil {
		return fmt.Errorf("failed to export %s: %w", file, err)
	}
	w := bufio.NewWriter(f)
	err = redactKeys(w, r)
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("failed to export %s: %w", file, err)
	}
	return nil
}

const redacted = "[redacted by skiff]"

var (
	pemKeyBegin = regexp.MustCompile(`-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----`)
	pemKeyEnd   = regexp.MustCompile(`-----END [A-Z0-9 ]*PRIVATE KEY-----`)
	// pemBody is a line inside a PEM block: base64, or an RFC 1421 header
	// of an encrypted key.
	pemBody = regexp.MustCompile(`^\s*([A-Za-z0-9+/=]*|(Proc-Type|DEK-Info): .*)\s*$`)
	// base64Run is long enough to hold a key; shorter runs are words.
	base64Run = regexp.MustCompile(`[A-Za-z0-9+/]{64,}={0,2}`)
)

// redactKeys copies r to w line by line, replacing PEM private key blocks
// (also ones on a single line, as in escaped JSON) and base64 runs that
// decode to one (a Secret's data) with a marker.
func redactKeys(w io.Writer, r io.Reader) error {
	br := bufio.NewReader(r)
	inKey := false
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			var out string
			out, inKey = redactLine(line, inKey)
			if _, werr := io.WriteString(w, out); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// redactLine redacts one line (with its newline, if any); inKey says
// whether a private key block began on an earlier line and has not ended.
func redactLine(line string, inKey bool) (string, bool) {
	var b strings.Builder
	for line != "" {
		if inKey {
			if loc := pemKeyEnd.FindStringIndex(line); loc != nil {
				line, inKey = line[loc[1]:], false
				continue
			}
			if pemBody.MatchString(line) {
				return b.String(), true // the key's body: drop the line
			}
			// Not a key's line: the block was cut short (a truncated log);
			// end the marker's line.
			b.WriteString("\n")
			inKey = false
		}
		loc := pemKeyBegin.FindStringIndex(line)
		if loc == nil {
			b.WriteString(redactBase64(line))
			break
		}
		b.WriteString(redactBase64(line[:loc[0]]))
		b.WriteString(redacted)
		line, inKey = line[loc[1]:], true
		if !pemKeyEnd.MatchString(line) {
			// The body follows on later lines; the rest of the END line
			// ends the marker's line.
			return b.String(), true
		}
	}
	return b.String(), inKey
}

// redactBase64 replaces base64 runs that decode to text holding a private
// key. Each of the four alignments is tried: a run may start with a few
// characters that are not part of the encoding ("key=LS0t...").
func redactBase64(s string) string {
	return base64Run.ReplaceAllStringFunc(s, func(run string) string {
		for off := range 4 {
			enc := run[off:]
			data, err := base64.StdEncoding.DecodeString(enc[:len(enc)/4*4])
			if err == nil && pemKeyBegin.Match(data) {
				return redacted
			}
		}
		return run
	})
}

// redactSecrets replaces the values of every Secret's data and stringData
// in a YAML stream. A stream that does not parse is withheld whole: it
// cannot be shown to hold no Secret.
func redactSecrets(data []byte) []byte {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []*yaml.Node
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if err == io.EOF {
			break
		}
		if err != nil {
			return []byte(fmt.Sprintf("# %s: not valid YAML (%v), so Secrets could not be redacted\n", redacted, err))
		}
		docs = append(docs, &doc)
	}
	changed := false
	for _, doc := range docs {
		if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
			continue
		}
		m := doc.Content[0]
		if value(m, "kind") == nil || value(m, "kind").Value != "Secret" {
			continue
		}
		for _, key := range []string{"data", "stringData"} {
			if d := value(m, key); d != nil && d.Kind == yaml.MappingNode {
				for i := 1; i < len(d.Content); i += 2 {
					d.Content[i] = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: redacted}
				}
				changed = true
			}
		}
	}
	if !changed {
		return data
	}
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	for _, doc := range docs {
		if err := enc.Encode(doc); err != nil {
			return []byte(fmt.Sprintf("# %s: could not rewrite (%v)\n", redacted, err))
		}
	}
	if err := enc.Close(); err != nil {
		return []byte(fmt.Sprintf("# %s: could not rewrite (%v)\n", redacted, err))
	}
	return out.Bytes()
}

// value returns the value node of key in mapping m, or nil.
func value(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}
