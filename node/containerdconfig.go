package node

import (
	"bytes"
	"fmt"

	"github.com/BurntSushi/toml"
)

// containerdConfiguration is the part of containerd 2.x's configuration
// (version 3) skiff sets. containerd's own types for the CRI plugin are in
// an internal package (github.com/containerd/containerd/v2/internal/cri/config)
// and its top-level config holds plugins as untyped maps, so these mirror
// the TOML keys instead; BurntSushi/toml is already in the module graph (a
// dependency of kind).
type containerdConfiguration struct {
	Version int    `toml:"version"`
	Root    string `toml:"root"`
	State   string `toml:"state"`
	GRPC    struct {
		Address string `toml:"address"`
	} `toml:"grpc"`
	Plugins struct {
		Images  criImagesConf  `toml:"io.containerd.cri.v1.images"`
		Runtime criRuntimeConf `toml:"io.containerd.cri.v1.runtime"`
	} `toml:"plugins"`
}

type criImagesConf struct {
	Snapshotter           string            `toml:"snapshotter"`
	DiscardUnpackedLayers bool              `toml:"discard_unpacked_layers"`
	PinnedImages          map[string]string `toml:"pinned_images"`
	Registry              struct {
		ConfigPath string `toml:"config_path"`
	} `toml:"registry"`
}

type criRuntimeConf struct {
	RestrictOOMScoreAdj bool   `toml:"restrict_oom_score_adj"`
	StatsCollectPeriod  string `toml:"stats_collect_period"`
	Containerd          struct {
		DefaultRuntimeName string                 `toml:"default_runtime_name"`
		Runtimes           map[string]runtimeConf `toml:"runtimes"`
	} `toml:"containerd"`
	CNI struct {
		BinDirs []string `toml:"bin_dirs"`
		ConfDir string   `toml:"conf_dir"`
	} `toml:"cni"`
}

type runtimeConf struct {
	RuntimeType string `toml:"runtime_type"`
	Options     struct {
		SystemdCgroup bool `toml:"SystemdCgroup"`
	} `toml:"options"`
}

// statsCollectPeriod is how often containerd's CRI collects CPU stats.
const statsCollectPeriod = "10s"

// containerdSettings: the CRI plugin pins the pause image so it is never
// pulled or garbage-collected, may not lower oom_score_adj
// (CAP_SYS_RESOURCE may be missing), and reads registry mirrors from
// certs.d.
func containerdSettings(pauseImage string) *containerdConfiguration {
	c := &containerdConfiguration{Version: 3, Root: "/var/lib/containerd", State: "/run/containerd"}
	c.GRPC.Address = "/run/containerd/containerd.sock"
	img := &c.Plugins.Images
	img.Snapshotter = "overlayfs"
	img.DiscardUnpackedLayers = true
	img.PinnedImages = map[string]string{"sandbox": pauseImage}
	img.Registry.ConfigPath = registryHostsDir
	rt := &c.Plugins.Runtime
	rt.RestrictOOMScoreAdj = true
	// containerd 2.4's CRI asks every container's shim for its CPU time
	// each second, for CRI stats' usage rates, which this kubelet does not
	// read (PodAndContainerStatsFromCRI is off: cAdvisor's stats serve
	// `kubectl top` and the autoscalers). Every 10 s, as the kubelet's
	// housekeeping: the idle node's containerd and shims 3.7 % of a core
	// -> 1.2 %.
	rt.StatsCollectPeriod = statsCollectPeriod
	rt.Containerd.DefaultRuntimeName = "runc"
	// SystemdCgroup stays false, written: the kubelet's cgroupDriver is
	// cgroupfs, and the node has no systemd.
	rt.Containerd.Runtimes = map[string]runtimeConf{"runc": {RuntimeType: "io.containerd.runc.v2"}}
	// Debian's plugins, and skiff-ipam, built with the node's other
	// binaries (ipamPlugin).
	rt.CNI.BinDirs = []string{"/usr/lib/cni", "/usr/local/bin"}
	rt.CNI.ConfDir = "/etc/cni/net.d"
	return c
}

func renderContainerdConfig() ([]byte, error) {
	m, err := release()
	if err != nil {
		return nil, fmt.Errorf("render containerd config: %w", err)
	}
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(containerdSettings(m.Pause.Image)); err != nil {
		return nil, fmt.Errorf("render containerd config: %w", err)
	}
	return buf.Bytes(), nil
}
