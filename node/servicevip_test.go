package node

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestServiceRulesParse feeds the rules to iptables-restore --test, which
// parses them against the running kernel's tables without committing.
func TestServiceRulesParse(t *testing.T) {
	if _, err := exec.LookPath("iptables-restore"); err != nil || os.Geteuid() != 0 {
		t.Skip("needs root and iptables-restore")
	}
	rules := serviceRules("10.96.0.0/16", "10.96.0.1", "172.30.0.2")
	cmd := exec.Command("iptables-restore", "--test", "--noflush")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("iptables-restore --test: %v: %s\n%s", err, out, rules)
	}
}
