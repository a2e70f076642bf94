package pki

import (
	"strings"
	"testing"
)

func TestGenerateRejectsBadConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr string
	}{
		{"empty cluster name", func(c *Config) { c.ClusterName = "" }, "ClusterName"},
		{"blank node name", func(c *Config) { c.NodeName = "  " }, "NodeName"},
		{"empty service CIDR", func(c *Config) { c.ServiceCIDR = "" }, "ServiceCIDR"},
		{"unparseable service CIDR", func(c *Config) { c.ServiceCIDR = "10.96.0.0" }, "ServiceCIDR"},
		{"service CIDR too small", func(c *Config) { c.ServiceCIDR = "10.96.0.0/32" }, "too small"},
		{"empty extra SAN", func(c *Config) { c.APIServerSANs = []string{"ok", ""} }, "APIServerSANs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := testConfig
			cfg.APIServerSANs = nil
			tt.mutate(&cfg)
			f, err := Generate(cfg)
			if err == nil {
				t.Fatalf("Generate() = %d files, want error containing %q", len(f), tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Generate() error = %q, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestFirstIP(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"10.96.0.0/12":     "10.96.0.1",
		"10.96.5.9/12":     "10.96.0.1",
		"172.20.0.0/16":    "172.20.0.1",
		"fd00:10:96::/108": "fd00:10:96::1",
	}
	for cidr, want := range tests {
		t.Run(cidr, func(t *testing.T) {
			t.Parallel()
			got, err := firstIP(cidr)
			if err != nil || got.String() != want {
				t.Errorf("firstIP(%q) = %v, %v; want %s", cidr, got, err, want)
			}
		})
	}
}
