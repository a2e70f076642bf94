package node

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"maps"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/skiff-k8s/skiff/internal/textutil"
	"github.com/skiff-k8s/skiff/node/supervisor"
)

const (
	startTimeout = 3 * time.Minute
	// stopTimeout is etcd's and containerd's time to stop before SIGKILL;
	// kubeStopTimeout the Kubernetes components' (Agent.stop).
	stopTimeout     = 5 * time.Second
	kubeStopTimeout = time.Second
	// bootExits is how many exits before its first ready make a component
	// failed: a bad flag (a featureGates typo) makes it exit every time,
	// and waiting out startTimeout would only hide that for minutes. One
	// exit is not enough: a component may lose a race at boot once.
	bootExits = 3
)

// subcommands are skiff-node's commands besides the agent itself (no
// arguments).
var subcommands = map[string]func(args []string) int{
	"versions":  func([]string) int { return printVersions() },
	"addon":     addonCommand,
	"seed-etcd": seedCommand,
}

// Main is skiff-node's entry point.
func Main(args []string) int {
	if len(args) > 0 {
		cmd, ok := subcommands[args[0]]
		if !ok {
			// A command this agent does not know (a newer CLI's) must
			// not start a second agent beside PID 1.
			fmt.Fprintf(os.Stderr, "skiff-node: unknown command %q (this node's agent knows %s)\n", args[0], strings.Join(slices.Sorted(maps.Keys(subcommands)), ", "))
			return 2
		}
		return cmd(args[1:])
	}
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	log.SetPrefix("skiff-node: ")
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()
	a, err := newAgent()
	if err != nil {
		log.Printf("boot failed: %v", err)
		// Updated: the CLI ignores a status older than the node's start.
		writeStatus(AgentStatus{Phase: "Failed", Error: err.Error(), Updated: time.Now()})
		// Stay alive so `skiff export logs` and `docker exec` can look.
		<-ctx.Done()
		return 1
	}
	settleOwnGC()
	go a.reaper.Run(context.WithoutCancel(ctx))
	go a.reportStatus(ctx)
	go a.reloadOnHangup(ctx)
	if err := a.start(ctx); err != nil {
		log.Printf("start failed: %v", err)
		a.setError(err)
	}
	<-ctx.Done()
	log.Printf("stopping")
	a.stop()
	log.Printf("stopped")
	return 0
}

// Agent supervises the node's components.
type Agent struct {
	cfg    *Config
	ip     string
	reaper *supervisor.Reaper
	units  []component
	// booted: etcd had run on this volume before this boot, or starts
	// from the image's seed: the default RBAC policy is there.
	booted bool
	// seeded: the CRDs etcd got from the image's seed on this boot.
	seeded []seedCRD
	// The addons the agent runs itself.
	netpol, loadBalancer *agentAddon

	statusMu sync.Mutex
	mu       sync.Mutex
	// reloaded: when a SIGHUP's reload last finished; reloadErr its error.
	reloaded  time.Time
	reloadErr string
	procs     map[string]*supervisor.Process
	ready     map[string]time.Duration
	started   time.Time
	phase     string
	startErr  string
	cgroups   string
}

func newAgent() (*Agent, error) {
	cfg, err := ReadConfig(ConfigFile)
	if err != nil {
		return nil, err
	}
	booted := booted()
	cgroupRoot, err := prepareHost()
	if err != nil {
		return nil, err
	}
	if err := resetPodAddresses(hostLocalDir, stickyDir); err != nil {
		return nil, err
	}
	var seeded []seedCRD
	if !booted {
		if booted, err = restoreEtcdSeed(cfg.NodeName); err != nil {
			return nil, err
		}
		if booted {
			if seeded, err = readSeedCRDs(); err != nil {
				return nil, err
			}
		}
	}
	ip, err := nodeIP()
	if err != nil {
		return nil, err
	}
	if err := ensureKubeletCert(PKIDir, cfg.NodeName, ip); err != nil {
		return nil, err
	}
	if err := ensureAPIServerCert(PKIDir, ip); err != nil {
		return nil, err
	}
	if err := ensureMetricsServerCert(PKIDir); err != nil {
		return nil, err
	}
	if err := isolateRegistry(registryNodePort(cfg)); err != nil {
		return nil, err
	}
	if err := routeServices(cfg.ServiceSubnet, ip); err != nil {
		return nil, err
	}
	if err := routePodSubnet(cfg.PodSubnet); err != nil {
		return nil, err
	}
	if err := masqueradePods(cfg.PodSubnet); err != nil {
		return nil, err
	}
	if err := writeConfigs(cfg, cgroupRoot); err != nil {
		return nil, err
	}
	if err := writeKubeletKubeconfig(kubeconfig("kubelet"), kubeletKubeconfig); err != nil {
		return nil, err
	}
	if err := writeAddonReports(cfg); err != nil {
		return nil, err
	}
	log.Printf("node %s: IP %s, cgroup root %s", cfg.NodeName, ip, cgroupRoot)
	return &Agent{
		cfg:          cfg,
		ip:           ip,
		reaper:       supervisor.NewReaper(nil),
		units:        components(cfg, ip),
		booted:       booted,
		seeded:       seeded,
		netpol:       netpolAddon(cfg),
		loadBalancer: loadBalancerAddon(cfg),
		procs:        map[string]*supervisor.Process{},
		ready:        map[string]time.Duration{},
		started:      time.Now(),
		phase:        "Starting",
		cgroups:      describeCgroups(cgroupRoot),
	}, nil
}

// start launches every component as soon as its dependencies are ready, and
// returns when all are ready or one failed.
func (a *Agent) start(ctx context.Context) error {
	l, err := net.Listen("tcp", kubeletAPIAddr)
	if err != nil {
		return fmt.Errorf("the kubelet's API proxy: %w", err)
	}
	go holdAPI(ctx, l, fmt.Sprintf("127.0.0.1:%d", APIServerPort))
	var steps []step
	run := func(name string, after []string, fn func() error) {
		steps = append(steps, step{name: name, after: after, fn: fn})
	}
	run("forget-pods", []string{"containerd"}, func() error { return forgetPods(ctx, containerdSocket) })
	run("seed-crds", []string{"etcd"}, func() error { return pruneSeedCRDs(ctx, a.seeded, enabledAddons(a.cfg)) })
	for _, u := range a.units {
		run(u.name, u.after, func() error { return a.startUnit(ctx, u) })
		for _, m := range u.members {
			run(m.Name, append([]string{u.name}, m.after...), func() error { return a.waitMember(ctx, u.name, m) })
		}
	}
	run("api-healthy", []string{"kube-apiserver"}, func() error {
		if err := waitReady(ctx, httpReady(apiHealthyURL(), adminTLS), func() error { return nil }, startTimeout); err != nil {
			return err
		}
		return os.WriteFile(apiHealthyMark, nil, 0o644)
	})
	run("api-bootstrapped", []string{"kube-apiserver"}, func() error {
		return waitReady(ctx, bootstrapped(a.booted), func() error { return nil }, startTimeout)
	})
	run("addons", []string{"kube-apiserver"}, func() error { return a.applyAddons(ctx) })
	for _, ad := range a.inAgent() {
		if inAgentWanted(a.cfg, ad.name) {
			// Serving before the node is Running, so that a create's
			// caller can rely on its policies and addresses.
			run(ad.name, []string{"kube-apiserver"}, func() error {
				err := ad.set(ctx, true)
				a.writeStatus()
				return err
			})
		}
	}
	if AddonEnabled(a.cfg, "dns") {
		// Running only once a pod's lookup would be answered.
		run("dns", []string{"kube-proxy", "addons", "kube-controller-manager"}, func() error { return a.waitDNS(ctx) })
	}
	run("node-role", []string{"kubelet"}, func() error {
		// The kubelet may not set node-role labels itself (NodeRestriction).
		ap, err := newApplier(kubeconfig("admin"))
		if err != nil {
			return err
		}
		return ap.labelNode(ctx, a.cfg.NodeName, "node-role.kubernetes.io/control-plane")
	})
	if err := runSteps(ctx, steps, a.markReady); err != nil {
		return err
	}
	a.mu.Lock()
	a.phase = "Running"
	a.mu.Unlock()
	a.writeStatus()
	log.Printf("all components ready in %s", time.Since(a.started).Round(time.Millisecond))
	return nil
}

func (a *Agent) startUnit(ctx context.Context, u component) error {
	if len(u.members) > 0 {
		data, err := json.Marshal(u.members)
		if err != nil {
			return err
		}
		if err := os.WriteFile(membersFile(u.name), data, 0o600); err != nil {
			return err
		}
	}
	p := &supervisor.Process{
		Name:    u.name,
		Path:    u.path,
		Args:    u.args,
		Env:     componentEnv(u),
		LogFile: filepath.Join(LogDir, u.name+".log"),
		PIDDir:  RunDir,
		Reaper:  a.reaper,
	}
	a.mu.Lock()
	a.procs[u.name] = p
	a.mu.Unlock()
	return startAndWait(ctx, p, u.ready, startTimeout)
}

// startAndWait starts p and waits until check, if any, passes. It gives up
// after timeout, or as soon as p has exited bootExits times.
func startAndWait(ctx context.Context, p *supervisor.Process, check readyCheck, timeout time.Duration) error {
	if err := p.Start(ctx); err != nil {
		return err
	}
	if check == nil {
		return nil
	}
	return waitProcess(ctx, p.Name, p, check, timeout)
}

// waitMember waits for a member of the process unit to be ready.
func (a *Agent) waitMember(ctx context.Context, unit string, m member) error {
	a.mu.Lock()
	p := a.procs[unit]
	a.mu.Unlock()
	return waitProcess(ctx, m.Name, p, m.ready, startTimeout)
}

// waitProcess waits until check passes for the component name, which p
// runs, giving up after timeout or once p has exited bootExits times.
func waitProcess(ctx context.Context, name string, p *supervisor.Process, check readyCheck, timeout time.Duration) error {
	crashing := func() error {
		if st := p.Status(); st.Exits >= bootExits {
			return fmt.Errorf("exited %d times without becoming ready, last: %s", st.Exits, st.LastExit)
		}
		return nil
	}
	if err := waitReady(ctx, check, crashing, timeout); err != nil {
		return &ComponentError{Name: name, Err: err, Log: p.LogFile, Tail: textutil.TailFile(p.LogFile, 20)}
	}
	return nil
}

// ComponentError is a component that did not become ready, with the end of
// its log.
type ComponentError struct {
	Name, Log, Tail string
	Err             error
}

func (e *ComponentError) Error() string {
	return fmt.Sprintf("%s is not ready: %v\n--- last lines of %s ---\n%s", e.Name, e.Err, e.Log, e.Tail)
}

func (e *ComponentError) Unwrap() error { return e.Err }

func (a *Agent) markReady(name string) {
	a.mu.Lock()
	a.ready[name] = time.Since(a.started)
	a.mu.Unlock()
	log.Printf("%s ready after %s", name, time.Since(a.started).Round(time.Millisecond))
}

func (a *Agent) setError(err error) {
	a.mu.Lock()
	a.phase, a.startErr = "Failed", err.Error()
	a.mu.Unlock()
	a.writeStatus()
}

// reloadOnHangup applies the node configuration's addons that run in the
// agent on each SIGHUP, which `skiff-node addon enable|disable` sends after
// it changed the configuration.
func (a *Agent) reloadOnHangup(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			if err := a.reload(ctx); err != nil {
				log.Printf("reload: %v", err)
			}
		}
	}
}

// stop stops the in-agent addons (they started after the API server),
// then the Kubernetes components at once, then etcd, then
// containerd. The Kubernetes components keep no state of their own (etcd
// holds it), so each gets kubeStopTimeout: kube-apiserver stops listening
// at once but then waits for the watches of pods that run on until the
// node stops, and was killed after the whole 5 s on every stop.
func (a *Agent) stop() {
	for _, ad := range a.inAgent() {
		if err := ad.set(context.Background(), false); err != nil {
			log.Printf("stop %s: %v", ad.name, err)
		}
	}
	var kube, rest []component
	for _, u := range a.units {
		if u.kube {
			kube = append(kube, u)
		} else {
			rest = append(rest, u)
		}
	}
	var wg sync.WaitGroup
	for _, u := range kube {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.stopUnit(u, kubeStopTimeout)
		}()
	}
	wg.Wait()
	for i := len(rest) - 1; i >= 0; i-- {
		a.stopUnit(rest[i], stopTimeout)
	}
}

func (a *Agent) stopUnit(u component, timeout time.Duration) {
	a.mu.Lock()
	p := a.procs[u.name]
	a.mu.Unlock()
	if p == nil {
		return
	}
	if err := p.Stop(timeout); err != nil {
		log.Printf("stop %s: %v", p.Name, err)
	}
}
