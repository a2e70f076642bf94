package provision

import (
	"errors"
	"testing"
)

func TestUnreservedPort(t *testing.T) {
	// A stopped cluster's ports are free to the kernel, which may offer
	// them again: they are passed over.
	offers := []int{40001, 40002, 40003}
	next := func() (int, error) {
		p := offers[0]
		offers = offers[1:]
		return p, nil
	}
	got, err := unreservedPort(map[int]bool{40001: true, 40002: true}, next)
	if err != nil || got != 40003 {
		t.Fatalf("unreservedPort = %d, %v; want 40003, the first port no cluster published", got, err)
	}

	always := func() (int, error) { return 40001, nil }
	if _, err := unreservedPort(map[int]bool{40001: true}, always); err == nil {
		t.Fatal("unreservedPort found a port though every offer was reserved")
	}

	failed := errors.New("no ports")
	if _, err := unreservedPort(nil, func() (int, error) { return 0, failed }); !errors.Is(err, failed) {
		t.Fatalf("unreservedPort error = %v, want the picker's", err)
	}
}

func TestPortRefused(t *testing.T) {
	err := errors.New(`failed to start node container: Error response from daemon: driver failed programming external connectivity on endpoint e2e-walk-37-control-plane (740ac558f9cc): Bind for 127.0.0.1:41515 failed: port is already allocated`)
	if got := portRefused(err); got != 41515 {
		t.Errorf("portRefused = %d, want 41515", got)
	}
	if got := portRefused(errors.New("failed to start node container: no such image")); got != 0 {
		t.Errorf("portRefused of another error = %d, want 0", got)
	}
	c := portChoice{https: 8443, mappings: []PortMapping{{ContainerPort: 30080, HostPort: 9080}}}
	if !c.asked(8443) || !c.asked(9080) || c.asked(41515) {
		t.Errorf("asked: %+v", c)
	}
}
