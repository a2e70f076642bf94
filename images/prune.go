package images

import (
	"context"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
)

// Prune removes the node images (and their bases) that an earlier build of
// the same Kubernetes version left behind and no container uses, so
// rebuilding skiff does not fill the disk with 500 MB images. It returns
// the references removed; images it cannot remove are left alone.
func Prune(ctx context.Context, c client.APIClient, keep string) ([]string, error) {
	repo, tag, _ := strings.Cut(keep, ":")
	version, _, _ := strings.Cut(tag, "-")
	if repo != NodeRepository || version == "" {
		return nil, nil
	}
	keepInfo, err := c.ImageInspect(ctx, keep)
	if err != nil {
		return nil, err
	}
	// The kept image and its base (its parent, made by docker commit) stay;
	// Docker refuses to remove any other base that still has children.
	//lint:ignore SA1019 Parent is the one field naming an image's base in the classic image store, which every Docker this runs on still fills.
	used := map[string]bool{keepInfo.ID: true, keepInfo.Parent: true}
	containers, err := c.ContainerList(ctx, container.ListOptions{All: true})
	if err != nil {
		return nil, err
	}
	for _, ct := range containers {
		used[ct.ImageID] = true
	}
	var removed []string
	for _, r := range []string{NodeRepository, baseRepository} {
		list, err := c.ImageList(ctx, image.ListOptions{Filters: filters.NewArgs(filters.Arg("reference", r+":"+version+"-*"))})
		if err != nil {
			return removed, err
		}
		for _, img := range list {
			if used[img.ID] {
				continue
			}
			for _, ref := range img.RepoTags {
				if _, err := c.ImageRemove(ctx, ref, image.RemoveOptions{PruneChildren: true}); err == nil {
					removed = append(removed, ref)
				}
			}
		}
	}
	return removed, nil
}
