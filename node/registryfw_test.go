package node

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDefaultGateway(t *testing.T) {
	// How the kernel prints an address in /proc/net/route.
	hexIP := func(s string) string { return fmt.Sprintf("%08X", binary.NativeEndian.Uint32(net.ParseIP(s).To4())) }
	table := "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n" +
		"eth0\t" + hexIP("172.30.0.0") + "\t00000000\t0001\t0\t0\t0\t" + hexIP("255.255.0.0") + "\t0\t0\t0\n" +
		"eth0\t00000000\t" + hexIP("172.30.0.1") + "\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
	path := filepath.Join(t.TempDir(), "route")
	if err := os.WriteFile(path, []byte(table), 0o644); err != nil {
		t.Fatal(err)
	}
	gw, err := defaultGateway(path, "eth0")
	if err != nil {
		t.Fatal(err)
	}
	if gw.String() != "172.30.0.1" {
		t.Errorf("gateway = %s, want 172.30.0.1", gw)
	}
	if _, err := defaultGateway(path, "eth1"); err == nil {
		t.Error("no default route on eth1: want an error")
	}
}

func TestRegistryRules(t *testing.T) {
	v4 := registryRules(5001, net.ParseIP("172.30.0.1"))
	for _, want := range []string{
		":SKIFF-REGISTRY - [0:0]",
		"-A SKIFF-REGISTRY -s 172.30.0.1/32 -j RETURN",
		"-A SKIFF-REGISTRY -p tcp -j REJECT --reject-with tcp-reset",
		"-I INPUT 1 -i eth0 -p tcp --dport 5001 -j SKIFF-REGISTRY",
	} {
		if !strings.Contains(v4, want) {
			t.Errorf("IPv4 rules lack %q:\n%s", want, v4)
		}
	}
	if v6 := registryRules(5001, nil); strings.Contains(v6, "RETURN") {
		t.Errorf("IPv6 rules allow a source:\n%s", v6)
	}
}
