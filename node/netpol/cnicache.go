package netpol

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// CNICacheDir is where libcni (containerd's CNI library) keeps the result
// of each pod's network set-up, one file per sandbox and interface.
const CNICacheDir = "/var/lib/cni/results"

// cniCache finds the pod an address belongs to in libcni's result cache.
// The file is written when the CNI plugins have set the sandbox up, before
// the runtime starts any of its containers, while the API server learns
// the address later, from the kubelet's next status update: a pod's first
// connections may precede it. The rules queue such connections (an address
// in the pod CIDR that no pod has in the API), and the engine finds their
// pod here. It implements podinfo.IPResolver.
type cniCache struct {
	dir     string
	podCIDR netip.Prefix

	mu       sync.Mutex
	dirMtime time.Time
	scanned  time.Time
	pods     map[netip.Addr]string // namespace/name
}

func newCNICache(dir string, podCIDR netip.Prefix) *cniCache {
	return &cniCache{dir: dir, podCIDR: podCIDR}
}

// rescanEvery bounds how often a lookup that misses reads the directory
// again when its modification time has not changed (it may not, within
// the file system's timestamp granularity).
const rescanEvery = time.Second

// LookupPod returns the namespace/name of the pod with address ip.
func (c *cniCache) LookupPod(ip string) (string, bool) {
	addr, err := netip.ParseAddr(ip)
	if err != nil || !c.podCIDR.Contains(addr) {
		return "", false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if key, ok := c.pods[addr]; ok {
		return key, true
	}
	st, err := os.Stat(c.dir)
	if err != nil {
		return "", false
	}
	if st.ModTime().Equal(c.dirMtime) && time.Since(c.scanned) < rescanEvery {
		return "", false
	}
	c.dirMtime, c.scanned = st.ModTime(), time.Now()
	c.pods = readCNICache(c.dir)
	key, ok := c.pods[addr]
	return key, ok
}

// cniCacheEntry is the part of libcni's cachedInfo read here.
type cniCacheEntry struct {
	CNIArgs [][2]string `json:"cniArgs"`
	Result  struct {
		IPs []struct {
			Address string `json:"address"`
		} `json:"ips"`
	} `json:"result"`
}

// readCNICache maps each address in the cache to its pod; where two
// entries claim one address (a sandbox whose teardown left its file), the
// newer file wins.
func readCNICache(dir string) map[netip.Addr]string {
	entries, _ := os.ReadDir(dir)
	type file struct {
		path  string
		mtime time.Time
	}
	var files []file
	for _, e := range entries {
		if info, err := e.Info(); err == nil && info.Mode().IsRegular() {
			files = append(files, file{filepath.Join(dir, e.Name()), info.ModTime()})
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].mtime.Before(files[j].mtime) })
	pods := map[netip.Addr]string{}
	for _, f := range files {
		data, err := os.ReadFile(f.path)
		if err != nil {
			continue
		}
		var e cniCacheEntry
		if json.Unmarshal(data, &e) != nil {
			continue
		}
		var ns, name string
		for _, kv := range e.CNIArgs {
			switch kv[0] {
			case "K8S_POD_NAMESPACE":
				ns = kv[1]
			case "K8S_POD_NAME":
				name = kv[1]
			}
		}
		if ns == "" || name == "" {
			continue
		}
		for _, ip := range e.Result.IPs {
			if p, err := netip.ParsePrefix(ip.Address); err == nil {
				pods[p.Addr()] = ns + "/" + name
			}
		}
	}
	return pods
}
