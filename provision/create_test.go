package provision

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/system"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// fakeEngine is the part of a Docker engine that create's steps up to the
// node's start use, in memory; it records what exists, and fails where a
// test says. Any other call panics (the embedded nil interface), so a test
// also proves create calls nothing else.
type fakeEngine struct {
	client.APIClient
	mu         sync.Mutex
	containers map[string]bool // by name
	volumes    map[string]bool
	calls      []string
	// Errors to return, by method name.
	fail map[string]error
	// A concurrent create of the same name makes its container between
	// preflight and ours (ContainerCreate then conflicts).
	raceContainer bool
}

func newFakeEngine() *fakeEngine {
	return &fakeEngine{containers: map[string]bool{}, volumes: map[string]bool{}, fail: map[string]error{}}
}

func (f *fakeEngine) call(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, name)
	return f.fail[name]
}

func (f *fakeEngine) Info(context.Context) (system.Info, error) {
	return system.Info{ID: "fake-engine", CgroupVersion: "1"}, f.call("Info")
}

func (f *fakeEngine) ImageInspect(context.Context, string, ...client.ImageInspectOption) (image.InspectResponse, error) {
	return image.InspectResponse{Config: &dockerspec.DockerOCIImageConfig{}}, f.call("ImageInspect")
}

func (f *fakeEngine) ContainerInspect(_ context.Context, name string) (container.InspectResponse, error) {
	if err := f.call("ContainerInspect"); err != nil {
		return container.InspectResponse{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.containers[name] {
		return container.InspectResponse{}, cerrdefs.ErrNotFound
	}
	return container.InspectResponse{Config: &container.Config{Labels: map[string]string{LabelCluster: strings.TrimSuffix(name, "-control-plane")}}}, nil
}

func (f *fakeEngine) VolumeInspect(_ context.Context, name string) (volume.Volume, error) {
	if err := f.call("VolumeInspect"); err != nil {
		return volume.Volume{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.volumes[name] {
		return volume.Volume{}, cerrdefs.ErrNotFound
	}
	return volume.Volume{Name: name}, nil
}

func (f *fakeEngine) NetworkInspect(context.Context, string, network.InspectOptions) (network.Inspect, error) {
	return network.Inspect{IPAM: network.IPAM{Config: []network.IPAMConfig{{Subnet: "172.30.0.0/16"}}}}, f.call("NetworkInspect")
}

func (f *fakeEngine) ContainerList(context.Context, container.ListOptions) ([]container.Summary, error) {
	return nil, f.call("ContainerList")
}

func (f *fakeEngine) VolumeCreate(_ context.Context, o volume.CreateOptions) (volume.Volume, error) {
	if err := f.call("VolumeCreate"); err != nil {
		return volume.Volume{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.volumes[o.Name] = true
	return volume.Volume{Name: o.Name}, nil
}

func (f *fakeEngine) ContainerCreate(_ context.Context, _ *container.Config, _ *container.HostConfig, _ *network.NetworkingConfig, _ *ocispec.Platform, name string) (container.CreateResponse, error) {
	if err := f.call("ContainerCreate"); err != nil {
		return container.CreateResponse{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.raceContainer || f.containers[name] {
		f.containers[name] = true
		return container.CreateResponse{}, cerrdefs.ErrConflict
	}
	f.containers[name] = true
	return container.CreateResponse{ID: name}, nil
}

func (f *fakeEngine) CopyToContainer(context.Context, string, string, io.Reader, container.CopyToContainerOptions) error {
	return f.call("CopyToContainer")
}

func (f *fakeEngine) ContainerStart(context.Context, string, container.StartOptions) error {
	return f.call("ContainerStart")
}

func (f *fakeEngine) ContainerRemove(_ context.Context, id string, _ container.RemoveOptions) error {
	if err := f.call("ContainerRemove"); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.containers, id)
	return nil
}

func (f *fakeEngine) VolumeRemove(_ context.Context, name string, _ bool) error {
	if err := f.call("VolumeRemove"); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.volumes, name)
	return nil
}

// fakeCreate runs Create against f with the cache and kubeconfig in a
// temporary directory; it returns the kubeconfig's path and the error.
func fakeCreate(t *testing.T, f *fakeEngine) (string, error) {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", filepath.Join(dir, "cache"))
	kc := filepath.Join(dir, "kubeconfig")
	p := NewProvider(f, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// No addons: their host ports are not this test's business.
	_, err := p.Create(ctx, &Config{Name: "unit", Image: "skiff/node:test", KubeconfigPath: kc, Addons: []string{}, Wait: 20 * time.Second})
	return kc, err
}

// TestCreateCleanup: a create that fails removes what it made and nothing
// else, and says what it could not remove.
func TestCreateCleanup(t *testing.T) {
	boom := errors.New("boom")
	for _, tc := range []struct {
		name    string
		setup   func(f *fakeEngine)
		wantErr string
		// What exists afterwards.
		containers, volumes []string
	}{
		{
			name:    "the container does not start: container and volume removed",
			setup:   func(f *fakeEngine) { f.fail["ContainerStart"] = boom },
			wantErr: "failed to start node container: boom",
		},
		{
			name:    "the configuration cannot be copied in: container and volume removed",
			setup:   func(f *fakeEngine) { f.fail["CopyToContainer"] = boom },
			wantErr: "failed to copy configuration into the node: boom",
		},
		{
			name:    "the volume cannot be made: nothing to remove",
			setup:   func(f *fakeEngine) { f.fail["VolumeCreate"] = boom },
			wantErr: "failed to create volume: boom",
		},
		{
			name:       "a concurrent create took the name: its container stays, our volume goes",
			setup:      func(f *fakeEngine) { f.raceContainer = true },
			wantErr:    `cluster "unit" already exists`,
			containers: []string{"unit-control-plane"},
		},
		{
			name: "the volume cannot be removed: the error says what is left and how to remove it",
			setup: func(f *fakeEngine) {
				f.fail["ContainerStart"] = boom
				f.fail["VolumeRemove"] = errors.New("volume in use")
			},
			wantErr: "cleanup failed (remove volume skiff-unit-state: volume in use): left volume skiff-unit-state: remove with `skiff delete --name unit`",
			volumes: []string{"skiff-unit-state"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeEngine()
			tc.setup(f)
			kc, err := fakeCreate(t, f)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Create = %v, want an error with %q", err, tc.wantErr)
			}
			if got := slices.Sorted(keys(f.containers)); !slices.Equal(got, tc.containers) {
				t.Errorf("containers left: %v, want %v (calls: %v)", got, tc.containers, f.calls)
			}
			if got := slices.Sorted(keys(f.volumes)); !slices.Equal(got, tc.volumes) {
				t.Errorf("volumes left: %v, want %v (calls: %v)", got, tc.volumes, f.calls)
			}
			if _, err := os.Stat(kc); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a failed create wrote the kubeconfig %s (%v)", kc, err)
			}
		})
	}
}

// TestCreateRefusesExisting: a cluster whose container or volume exists is
// refused before anything is made.
func TestCreateRefusesExisting(t *testing.T) {
	for _, what := range []string{"container", "volume"} {
		t.Run(what, func(t *testing.T) {
			f := newFakeEngine()
			if what == "container" {
				f.containers["unit-control-plane"] = true
			} else {
				f.volumes["skiff-unit-state"] = true
			}
			_, err := fakeCreate(t, f)
			if err == nil || !strings.Contains(err.Error(), `cluster "unit" already exists`) {
				t.Fatalf("Create = %v, want already exists", err)
			}
			for _, c := range f.calls {
				if c == "VolumeCreate" || c == "ContainerCreate" || c == "ContainerRemove" || c == "VolumeRemove" {
					t.Errorf("create of an existing cluster called %s (calls: %v)", c, f.calls)
				}
			}
		})
	}
}

func keys(m map[string]bool) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// TestPortRefusalIsNotPrivileges: Docker's refusal of a host port is an
// Internal error, like its refusal of --privileged; it must not make skiff
// remember the engine as refusing --privileged, nor retry without it.
func TestPortRefusalIsNotPrivileges(t *testing.T) {
	f := newFakeEngine()
	f.fail["ContainerStart"] = fmt.Errorf("%w: driver failed programming external connectivity: Bind for 127.0.0.1:41515 failed: port is already allocated", cerrdefs.ErrInternal)
	if _, err := fakeCreate(t, f); err == nil || portRefused(err) != 41515 {
		t.Fatalf("create = %v, want the port refusal", err)
	}
	if privilegedRefused("fake-engine") {
		t.Error("a refused port marked the engine as refusing --privileged")
	}
	starts := 0
	for _, c := range f.calls {
		if c == "ContainerStart" {
			starts++
		}
	}
	if starts != portRetries {
		t.Errorf("%d container starts, want %d (the port re-picks, all privileged)", starts, portRetries)
	}
}
