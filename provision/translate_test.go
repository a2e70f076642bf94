package provision

import (
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
)

func TestTranslate(t *testing.T) {
	t.Parallel()
	base := func() *Config {
		c := &Config{Name: "dev", Image: "skiff/node:x", APIServerPort: 40000}
		c.SetDefaults()
		return c
	}
	for _, tc := range []struct {
		name  string
		cfg   func() *Config
		host  hostInfo
		check func(t *testing.T, s *nodeSpec)
		err   string
	}{
		{
			name: "privileged on cgroup v2",
			cfg:  base,
			host: hostInfo{CgroupV2: true, Privileged: true},
			check: func(t *testing.T, s *nodeSpec) {
				if !s.Host.Privileged || len(s.Host.CapAdd) != 0 {
					t.Errorf("want --privileged without extra caps, got privileged=%t caps=%v", s.Host.Privileged, s.Host.CapAdd)
				}
				if s.Host.CgroupnsMode != container.CgroupnsModePrivate {
					t.Errorf("cgroup v2 wants a private cgroup namespace, got %q", s.Host.CgroupnsMode)
				}
			},
		},
		{
			name: "explicit capabilities on cgroup v1",
			cfg:  base,
			host: hostInfo{},
			check: func(t *testing.T, s *nodeSpec) {
				if s.Host.Privileged || s.Host.CapAdd[0] != "ALL" || s.Host.CapDrop[0] != "SYS_RESOURCE" {
					t.Errorf("want ALL minus SYS_RESOURCE, got %v - %v", s.Host.CapAdd, s.Host.CapDrop)
				}
				if s.Host.MaskedPaths == nil || len(s.Host.MaskedPaths) != 0 || s.Host.ReadonlyPaths == nil {
					t.Error("want empty (not nil) masked and read-only paths")
				}
				if s.Host.CgroupnsMode != container.CgroupnsModeHost {
					t.Errorf("cgroup v1 wants the host cgroup namespace, got %q", s.Host.CgroupnsMode)
				}
				found := false
				for _, m := range s.Host.Mounts {
					found = found || m.Target == "/sys/fs/cgroup"
				}
				if !found {
					t.Error("cgroup v1 wants /sys/fs/cgroup bind-mounted")
				}
			},
		},
		{
			name: "API server only on 127.0.0.1, state on a volume",
			cfg:  base,
			check: func(t *testing.T, s *nodeSpec) {
				b := s.Host.PortBindings["6443/tcp"]
				if len(b) != 1 || b[0].HostIP != "127.0.0.1" || b[0].HostPort != "40000" {
					t.Errorf("API server binding %+v", b)
				}
				if s.Host.Mounts[0].Source != "skiff-dev-state" || s.Host.Mounts[0].Target != "/var" {
					t.Errorf("state volume %+v", s.Host.Mounts[0])
				}
				if s.Config.Labels[LabelCluster] != "dev" || s.Name != "dev-control-plane" {
					t.Errorf("labels %v name %s", s.Config.Labels, s.Name)
				}
				if s.Host.RestartPolicy.Name != container.RestartPolicyUnlessStopped {
					t.Errorf("restart policy %q", s.Host.RestartPolicy.Name)
				}
			},
		},
		{
			name: "extra port mappings and mounts",
			cfg: func() *Config {
				c := base()
				c.PortMappings = []PortMapping{{ContainerPort: 30080, HostPort: 8080}, {ContainerPort: 53, HostPort: 5353, Protocol: "UDP", ListenAddress: "127.0.0.1"}}
				c.Mounts = []Mount{{HostPath: "/src", ContainerPath: "/src", ReadOnly: true, Propagation: "HostToContainer"}}
				return c
			},
			check: func(t *testing.T, s *nodeSpec) {
				if b := s.Host.PortBindings["30080/tcp"]; len(b) != 1 || b[0].HostPort != "8080" || b[0].HostIP != "0.0.0.0" {
					t.Errorf("tcp mapping %+v", b)
				}
				if b := s.Host.PortBindings["53/udp"]; len(b) != 1 || b[0].HostIP != "127.0.0.1" {
					t.Errorf("udp mapping %+v", b)
				}
				m := s.Host.Mounts[1]
				if m.Source != "/src" || !m.ReadOnly || m.BindOptions == nil {
					t.Errorf("extra mount %+v", m)
				}
			},
		},
		{
			name: "bad protocol",
			cfg: func() *Config {
				c := base()
				c.PortMappings = []PortMapping{{ContainerPort: 80, Protocol: "ICMP"}}
				return c
			},
			err: "protocol",
		},
		{
			name: "relative mount",
			cfg: func() *Config {
				c := base()
				c.Mounts = []Mount{{HostPath: "/x", ContainerPath: "rel"}}
				return c
			},
			err: "absolute container path",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := translate(tc.cfg(), tc.host)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("want error containing %q, got %v", tc.err, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, s)
		})
	}
}
