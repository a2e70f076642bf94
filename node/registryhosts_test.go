package node

import (
	"strings"
	"testing"
)

func TestRegistryHosts(t *testing.T) {
	if got := registryHosts(0); len(got) != 0 {
		t.Errorf("registryHosts(0) = %v, want none", got)
	}
	got := registryHosts(5042)
	for _, host := range []string{"localhost:5042", "127.0.0.1:5042"} {
		toml := got[host]
		for _, want := range []string{`server = "http://127.0.0.1:5000"`, `[host."http://127.0.0.1:5000"]`, `capabilities = ["pull", "resolve", "push"]`} {
			if !strings.Contains(toml, want) {
				t.Errorf("hosts.toml for %s lacks %s:\n%s", host, want, toml)
			}
		}
	}
	if len(got) != 2 {
		t.Errorf("registryHosts(5042) = %v", got)
	}
}
