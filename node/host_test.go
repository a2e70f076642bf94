package node

import (
	"reflect"
	"strings"
	"testing"
)

func TestUpstreamNameservers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, conf string
		want       []string
	}{
		{"plain", "nameserver 192.0.2.53\nnameserver 192.0.2.54\n", []string{"192.0.2.53", "192.0.2.54"}},
		{"docker embedded DNS with its upstreams", "nameserver 127.0.0.11\noptions ndots:0\n# ExtServers: [host(192.0.2.1) 192.0.2.2]\n", []string{"192.0.2.1", "192.0.2.2"}},
		{"offline: loopback only", "nameserver 127.0.0.11\n", nil},
		{"empty", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := upstreamNameservers(tc.conf); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("upstreamNameservers = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestFirstSubnet(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"10.244.0.0/16", "10.244.0.0/24"},
		{"10.100.8.0/21", "10.100.8.0/24"},
		{"10.0.0.0/25", ""},
		{"nonsense", ""},
	} {
		got, err := firstSubnet(tc.in)
		if tc.want == "" {
			if err == nil {
				t.Errorf("firstSubnet(%q) = %q, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("firstSubnet(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestFlags(t *testing.T) {
	t.Parallel()
	if got := featureGatesFlag(map[string]bool{"B": false, "A": true}); got != "A=true,B=false" {
		t.Errorf("featureGatesFlag = %q", got)
	}
	if got := runtimeConfigFlag(map[string]string{"api/alpha": "false"}); got != "api/alpha=false" {
		t.Errorf("runtimeConfigFlag = %q", got)
	}
	c := &Config{ClusterName: "x", NodeName: "x-control-plane", PodSubnet: "10.244.0.0/16", ServiceSubnet: "10.96.0.0/16"}
	order := map[string]int{}
	for i, u := range components(c, "192.0.2.10") {
		order[u.name] = i
		for _, dep := range u.after {
			// forget-pods, seed-crds and api-* are the agent's steps, not processes.
			if j, ok := order[dep]; dep != "forget-pods" && dep != "seed-crds" && !strings.HasPrefix(dep, "api-") && (!ok || j > i) {
				t.Errorf("%s starts after %s, which comes later in the list", u.name, dep)
			}
		}
	}
}
