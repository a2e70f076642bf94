package kubeconfig

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestPath(t *testing.T) {
	home := t.TempDir()
	list := strings.Join([]string{"", "/a/first", "/b/second"}, string(filepath.ListSeparator))
	tests := []struct {
		name       string
		explicit   string
		kubeconfig string
		want       string
	}{
		{"explicit wins", "/explicit/config", "/env/config", "/explicit/config"},
		{"KUBECONFIG single", "", "/env/config", "/env/config"},
		{"KUBECONFIG first non-empty of many", "", list, "/a/first"},
		{"HOME when KUBECONFIG empty", "", "", filepath.Join(home, ".kube", "config")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("HOME", home)
			t.Setenv("KUBECONFIG", tt.kubeconfig)
			if got := Path(tt.explicit); got != tt.want {
				t.Errorf("Path(%q) = %q, want %q", tt.explicit, got, tt.want)
			}
		})
	}
}
