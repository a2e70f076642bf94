package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/skiff-k8s/skiff/e2e/testapp"
)

// TestImagesMissing: offline, a pod whose image the node lacks only says
// ImagePullBackOff. `skiff images missing` names each such image, its pods
// and the command that loads it, and `skiff status` warns.
func TestImagesMissing(t *testing.T) {
	e2e(t)
	c := newCluster(t, "e2e-missing", "--no-addons")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := testapp.LoadIntoDocker(ctx, helloArchive(t)); err != nil {
		t.Fatal(err)
	}
	inDocker, absent := "skiff.test/missing-demo:v1", "skiff.test/never-built:v1"
	if r := run(t, time.Minute, nil, "docker", "tag", "skiff.test/hello:v1", inDocker); r.code != 0 {
		t.Fatalf("docker tag: %s", r)
	}
	t.Cleanup(func() { run(t, time.Minute, nil, "docker", "rmi", inDocker) })
	c.kubectl("create", "deployment", "demo", "--image="+inDocker)
	c.kubectl("run", "lost", "--image="+absent)

	// Both pods fail their pulls: there is no registry at skiff.test.
	for deadline := time.Now().Add(90 * time.Second); ; {
		reasons := c.kubectl("get", "pods", "-o", "jsonpath={range .items[*]}{.status.containerStatuses[0].state.waiting.reason}{\" \"}{end}")
		if strings.Count(reasons, "ImagePull") == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pods not waiting on their images within 90s: %q", reasons)
		}
		time.Sleep(time.Second)
	}

	out := c.mustSkiff(time.Minute, "images", "missing", "--name", c.name).stdout
	fix := "skiff load docker-image " + inDocker + " --name " + c.name
	for _, want := range []string{inDocker, absent, "default/lost", "default/demo-", fix, absent + " is not in this machine's Docker either"} {
		if !strings.Contains(out, want) {
			t.Errorf("skiff images missing lacks %q:\n%s", want, out)
		}
	}
	if st := c.mustSkiff(time.Minute, "status", "--name", c.name).stdout; !strings.Contains(st, "Warning:") || !strings.Contains(st, inDocker) {
		t.Errorf("skiff status does not warn of the missing images:\n%s", st)
	}

	// The line it printed loads the image; the pod then runs and the image
	// is no longer listed.
	c.mustSkiff(3*time.Minute, strings.Fields(fix)[1:]...)
	var left []struct {
		Image string   `json:"image"`
		Pods  []string `json:"pods"`
	}
	if err := json.Unmarshal([]byte(c.mustSkiff(time.Minute, "images", "missing", "--name", c.name, "-o", "json").stdout), &left); err != nil {
		t.Fatalf("images missing -o json: %v", err)
	}
	if len(left) != 1 || left[0].Image != absent || len(left[0].Pods) != 1 || left[0].Pods[0] != "default/lost" {
		t.Errorf("after loading %s, images missing lists %+v, want only %s for default/lost", inDocker, left, absent)
	}
	// The kubelet retries a failed pull with a back-off of up to 5 minutes.
	c.kubectl("wait", "--for=condition=Available", "deployment/demo", "--timeout=300s")
}
