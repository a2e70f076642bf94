package provision

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"golang.org/x/sys/unix"
)

const (
	// doctorTimeout bounds all of doctor's checks.
	doctorTimeout = time.Minute
	// probeTimeout bounds the --privileged probe's start, and its removal.
	probeTimeout = 20 * time.Second
)

// Finding is one preflight check's result.
type Finding struct {
	Check  string `json:"check"`
	Level  string `json:"level"` // ok, warn or fail
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

// Doctor checks the host for what clusters need: the Docker engine, cgroups,
// whether --privileged is allowed (using image, if given), disk, inotify
// limits and the default host ports.
func (p *Provider) Doctor(ctx context.Context, image string) []Finding {
	// Connect has seen the engine answer; a wedged one must not hang doctor.
	ctx, cancel := context.WithTimeout(ctx, doctorTimeout)
	defer cancel()
	var out []Finding
	add := func(check, level, detail, fix string) {
		out = append(out, Finding{Check: check, Level: level, Detail: detail, Fix: fix})
	}
	v, err := p.docker.ServerVersion(ctx)
	if err != nil {
		add("docker", "fail", err.Error(), "start Docker: `sudo hack/docker.sh` on Debian, or Docker Desktop")
		return out
	}
	add("docker", "ok", fmt.Sprintf("Docker %s (API %s) on %s/%s", v.Version, v.APIVersion, v.Os, v.Arch), "")
	info, err := p.docker.Info(ctx)
	if err == nil {
		level, fix := "ok", ""
		if info.CgroupVersion == "1" {
			level, fix = "warn", "cgroup v1 works but is deprecated by Kubernetes, containerd and runc; prefer a cgroup v2 host"
		}
		add("cgroups", level, "cgroup v"+info.CgroupVersion+", driver "+info.CgroupDriver, fix)
		out = append(out, diskFinding(info.DockerRootDir))
	}
	if image != "" {
		out = append(out, p.privilegedFinding(ctx, image))
	}
	out = append(out, inotifyFindings()...)
	for _, port := range []int{80, 443} {
		if err := portFree("0.0.0.0", port); err != nil {
			add("port "+strconv.Itoa(port), "warn", err.Error(), "ingress will use a free port instead; set one with extraPortMappings")
		} else {
			add("port "+strconv.Itoa(port), "ok", "free", "")
		}
	}
	return out
}

// Warnings returns the cheap findings that are not ok, for create to print.
func (p *Provider) Warnings(ctx context.Context) []Finding {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var out []Finding
	for _, f := range inotifyFindings() {
		if f.Level != "ok" {
			out = append(out, f)
		}
	}
	if info, err := p.docker.Info(ctx); err == nil {
		if f := diskFinding(info.DockerRootDir); f.Level != "ok" {
			out = append(out, f)
		}
	}
	return out
}

// privilegedFinding starts a throwaway --privileged container: only the
// start says whether the daemon may grant every capability.
func (p *Provider) privilegedFinding(ctx context.Context, image string) Finding {
	f := Finding{Check: "privileged"}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	c, err := p.docker.ContainerCreate(ctx, &container.Config{Image: image, Entrypoint: []string{"/bin/true"}}, &container.HostConfig{Privileged: true}, nil, nil, "")
	if err != nil {
		f.Level, f.Detail = "warn", "could not test: "+err.Error()
		return f
	}
	defer func() {
		// Removed even when the probe timed out, within its own bound.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), probeTimeout)
		defer cancel()
		_ = p.docker.ContainerRemove(rctx, c.ID, container.RemoveOptions{Force: true})
	}()
	if err := p.docker.ContainerStart(ctx, c.ID, container.StartOptions{}); ctx.Err() != nil {
		f.Level, f.Detail = "warn", fmt.Sprintf("could not test: Docker did not start a container within %s", probeTimeout)
		return f
	} else if err != nil {
		f.Level, f.Detail = "ok", "--privileged refused ("+firstLine(err.Error())+"); skiff uses the explicit capability set instead"
		return f
	}
	f.Level, f.Detail = "ok", "--privileged allowed"
	return f
}

func diskFinding(root string) Finding {
	f := Finding{Check: "disk", Level: "ok"}
	var st unix.Statfs_t
	if err := unix.Statfs(root, &st); err != nil {
		f.Detail = "Docker's data directory " + root + " is not on this machine; not checked"
		return f
	}
	free := st.Bavail * uint64(st.Bsize) >> 30
	f.Detail = fmt.Sprintf("%d GiB free under %s", free, root)
	if free < 5 {
		f.Level, f.Fix = "warn", "a cluster needs about 2 GiB and the node image 1 GiB: free some space (docker system prune)"
	}
	return f
}

// inotifyFindings checks the limits that many pods watching files exhaust
// ("too many open files" from kubelet or kube-proxy).
func inotifyFindings() []Finding {
	var out []Finding
	for _, l := range []struct {
		file string
		min  int
	}{{"max_user_watches", 524288}, {"max_user_instances", 512}} {
		data, err := os.ReadFile("/proc/sys/fs/inotify/" + l.file)
		if err != nil {
			continue
		}
		n, _ := strconv.Atoi(strings.TrimSpace(string(data)))
		f := Finding{Check: "inotify " + l.file, Level: "ok", Detail: strconv.Itoa(n)}
		if n < l.min {
			f.Level = "warn"
			f.Fix = fmt.Sprintf("sudo sysctl fs.inotify.%s=%d", l.file, l.min)
		}
		out = append(out, f)
	}
	return out
}
