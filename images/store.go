package images

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/jsonmessage"

	"github.com/skiff-k8s/skiff/internal/cli"
)

// Info describes a node image in Docker.
type Info struct {
	Ref      string            `json:"image"`
	ID       string            `json:"id"`
	Size     int64             `json:"size"`
	Versions map[string]string `json:"versions"`
}

// List returns the node images Docker has, newest first.
func List(ctx context.Context, c client.APIClient) ([]Info, error) {
	list, err := c.ImageList(ctx, image.ListOptions{Filters: filters.NewArgs(filters.Arg("label", "dev.skiff.node=true"))})
	if err != nil {
		return nil, fmt.Errorf("failed to list images: %w", err)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Created > list[j].Created })
	var out []Info
	for _, s := range list {
		v := map[string]string{}
		for k, val := range s.Labels {
			if name, ok := strings.CutPrefix(k, LabelPrefix); ok {
				v[name] = val
			}
		}
		for _, ref := range s.RepoTags {
			out = append(out, Info{Ref: ref, ID: s.ID, Size: s.Size, Versions: v})
		}
	}
	return out, nil
}

// Save writes ref to path as a `docker save` archive, showing progress.
func Save(ctx context.Context, c client.APIClient, ref, path string, progress io.Writer) error {
	insp, err := c.ImageInspect(ctx, ref)
	if err != nil {
		return fmt.Errorf("node image %s not found: build it with `skiff image build`: %w", ref, err)
	}
	rc, err := c.ImageSave(ctx, []string{ref})
	if err != nil {
		return fmt.Errorf("failed to save %s: %w", ref, err)
	}
	defer rc.Close()
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	bar := cli.NewBytes(progress, insp.Size, "Saving "+ref)
	_, err = io.Copy(io.MultiWriter(f, bar), rc)
	bar.Done()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("failed to write %s: %w", path, err)
	}
	return os.Rename(tmp, path)
}

// Load imports a `docker save` archive into Docker and returns what it
// loaded.
func Load(ctx context.Context, c client.APIClient, path string, progress io.Writer) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	bar := cli.NewBytes(progress, st.Size(), "Loading "+path)
	defer bar.Done()
	resp, err := c.ImageLoad(ctx, io.TeeReader(f, bar), client.ImageLoadWithQuiet(true))
	if err != nil {
		return nil, fmt.Errorf("failed to load %s: %w", path, err)
	}
	defer resp.Body.Close()
	var refs []string
	dec := json.NewDecoder(resp.Body)
	for {
		var m jsonmessage.JSONMessage
		if err := dec.Decode(&m); err == io.EOF {
			break
		} else if err != nil {
			return refs, fmt.Errorf("failed to read load response: %w", err)
		}
		if m.Error != nil {
			return refs, fmt.Errorf("failed to load %s: %s", path, m.Error.Message)
		}
		if r, ok := strings.CutPrefix(m.Stream, "Loaded image: "); ok {
			refs = append(refs, strings.TrimSpace(r))
		}
	}
	return refs, nil
}
