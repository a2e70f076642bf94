package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/etcdutl/v3/snapshot"
	"go.uber.org/zap"
	"k8s.io/client-go/rest"

	"github.com/skiff-k8s/skiff/internal/textutil"
	certs "github.com/skiff-k8s/skiff/provision/pki"
)

// EtcdSeedFile, in the node image, is an etcd snapshot of what a new API
// server writes before it is healthy: the default RBAC policy, the
// priority classes, the API priority-and-fairness configuration and the
// local APIServices, about 400 objects, and the CRDs addons take verbatim
// from upstream (SeedCRDsFile). A new cluster's etcd starts from
// it. Its API server still waits a second before checking that policy
// (the bootstrap hooks' poll), but then only reads it: /healthz, which
// the controller manager waits for before it starts any controller, was
// 2.6 s after the API server served on an empty etcd.
const EtcdSeedFile = "/opt/skiff/etcd-seed.db"

// seedKept are the etcd key prefixes a seed keeps. Everything else the
// API server wrote names this one build: namespaces (whose UIDs tools
// take for a cluster's identity), the Service kubernetes and its address
// in the image's service range, leases, the CA in
// extension-apiserver-authentication. A node writes them again at boot.
var seedKept = []string{
	"/registry/clusterroles/",
	"/registry/clusterrolebindings/",
	"/registry/roles/",
	"/registry/rolebindings/",
	"/registry/priorityclasses/",
	"/registry/flowschemas/",
	"/registry/prioritylevelconfigurations/",
	"/registry/apiregistration.k8s.io/apiservices/",
	crdPrefix,
}

// seedTimeout bounds making the seed: etcd and an API server start, the
// bootstrap hooks run, etcd is filtered.
const seedTimeout = 2 * time.Minute

// seedCommand is `skiff-node seed-etcd`, run once in the node image while
// it is built: it writes EtcdSeedFile.
func seedCommand(args []string) int {
	if len(args) != 0 {
		fmt.Fprintln(os.Stderr, "usage: skiff-node seed-etcd")
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), seedTimeout)
	defer cancel()
	start := time.Now()
	if err := makeEtcdSeed(ctx, EtcdSeedFile, SeedCRDsFile); err != nil {
		fmt.Fprintf(os.Stderr, "seed etcd: %v\n", err)
		return 1
	}
	fmt.Printf("wrote %s in %s\n", EtcdSeedFile, time.Since(start).Round(time.Millisecond))
	return 0
}

// Ports of the seed's etcd and API server, inside the image build's
// container.
const (
	seedEtcdURL    = "http://127.0.0.1:2379"
	seedAPIPort    = 6443
	seedMemberName = "seed"
)

// makeEtcdSeed runs etcd and an API server with throwaway keys until the
// API server is ready, applies the addons' upstream CRDs, then keeps only
// seedKept in etcd, saves it to out and lists the CRDs in crdsOut.
func makeEtcdSeed(ctx context.Context, out, crdsOut string) error {
	dir, err := os.MkdirTemp("", "skiff-seed-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var logs bytes.Buffer
	etcd := exec.CommandContext(ctx, "/usr/local/bin/etcd",
		"--name="+seedMemberName, "--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+seedEtcdURL, "--advertise-client-urls="+seedEtcdURL,
		"--listen-peer-urls="+etcdPeerURL, "--initial-advertise-peer-urls="+etcdPeerURL,
		"--initial-cluster="+seedMemberName+"="+etcdPeerURL)
	stopEtcd, _, err := startLogged(etcd, &logs)
	if err != nil {
		return fmt.Errorf("start etcd: %w", err)
	}
	defer stopEtcd()

	saKey, saPub := filepath.Join(dir, "sa.key"), filepath.Join(dir, "sa.pub")
	if err := writeThrowawayKey(saKey, saPub); err != nil {
		return err
	}
	// The seed's one client, which applies the addons' CRDs.
	token := rand.Text()
	tokens := filepath.Join(dir, "tokens.csv")
	if err := os.WriteFile(tokens, []byte(token+`,seed,seed,"system:masters"`+"\n"), 0o600); err != nil {
		return err
	}
	apiserver := exec.CommandContext(ctx, "/usr/local/bin/kube-apiserver",
		"--etcd-servers="+seedEtcdURL,
		"--authorization-mode=Node,RBAC",
		"--bind-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", seedAPIPort),
		"--cert-dir="+filepath.Join(dir, "certs"),
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+saPub,
		"--service-account-signing-key-file="+saKey,
		"--token-auth-file="+tokens)
	stopAPI, apiExited, err := startLogged(apiserver, &logs)
	if err != nil {
		return fmt.Errorf("start kube-apiserver: %w", err)
	}
	// /readyz answers 200 only once every bootstrap hook is done (and
	// anonymous requests are allowed, by that policy).
	ready := httpReady(fmt.Sprintf("https://127.0.0.1:%d/readyz", seedAPIPort), insecureTLS)
	exited := func() error {
		select {
		case <-apiExited:
			return errors.New("kube-apiserver exited")
		default:
			return nil
		}
	}
	if err := waitReady(ctx, ready, exited, seedTimeout); err != nil {
		stopAPI()
		return fmt.Errorf("kube-apiserver: %w\n%s", err, textutil.Tail(logs.String(), 20))
	}
	ap, err := newApplierFor(&rest.Config{
		Host:            fmt.Sprintf("https://127.0.0.1:%d", seedAPIPort),
		BearerToken:     token,
		TLSClientConfig: rest.TLSClientConfig{Insecure: true},
	})
	if err != nil {
		stopAPI()
		return err
	}
	crds, err := seedUpstreamCRDs(ctx, ap, AddonFilesDir)
	if err == nil {
		if err = ap.apply(ctx, []byte(nodeConfigMaps)); err != nil {
			err = fmt.Errorf("apply the node's ConfigMap role: %w", err)
		}
	}
	stopAPI()
	if err != nil {
		return fmt.Errorf("%w\n%s", err, textutil.Tail(logs.String(), 20))
	}

	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{seedEtcdURL}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return fmt.Errorf("connect to etcd: %w", err)
	}
	defer cli.Close()
	if err := filterSeed(ctx, cli); err != nil {
		return err
	}
	if err := saveSnapshot(ctx, cli, out); err != nil {
		return err
	}
	return writeSeedCRDs(crdsOut, crds)
}

// filterSeed deletes every key seedKept does not keep, then drops the
// history so that the snapshot holds only the kept objects.
func filterSeed(ctx context.Context, cli *clientv3.Client) error {
	resp, err := cli.Get(ctx, "/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return fmt.Errorf("list etcd keys: %w", err)
	}
	kept := 0
	for _, kv := range resp.Kvs {
		if seedKeeps(string(kv.Key)) {
			kept++
			continue
		}
		if _, err := cli.Delete(ctx, string(kv.Key)); err != nil {
			return fmt.Errorf("delete %s: %w", kv.Key, err)
		}
	}
	if kept == 0 {
		return errors.New("the API server wrote none of the objects a seed keeps")
	}
	st, err := cli.Status(ctx, seedEtcdURL)
	if err != nil {
		return fmt.Errorf("etcd status: %w", err)
	}
	if _, err := cli.Compact(ctx, st.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		return fmt.Errorf("compact etcd: %w", err)
	}
	if _, err := cli.Defragment(ctx, seedEtcdURL); err != nil {
		return fmt.Errorf("defragment etcd: %w", err)
	}
	return nil
}

func seedKeeps(key string) bool {
	for _, p := range seedKept {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// saveSnapshot writes etcd's snapshot (its database with a checksum) to out.
func saveSnapshot(ctx context.Context, cli *clientv3.Client, out string) error {
	rc, err := cli.Snapshot(ctx)
	if err != nil {
		return fmt.Errorf("snapshot etcd: %w", err)
	}
	defer rc.Close()
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	tmp := out + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, rc); err != nil {
		f.Close()
		return fmt.Errorf("snapshot etcd: %w", err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}

// startLogged starts cmd with its output in logs and returns a function
// that stops it (SIGTERM, then SIGKILL after 10 s) and waits for it, and a
// channel closed once it has exited.
func startLogged(cmd *exec.Cmd, logs io.Writer) (func(), <-chan struct{}, error) {
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	return func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}, done, nil
}

// writeThrowawayKey writes a new key pair, which the seed's API server
// would sign service-account tokens with: it issues none.
func writeThrowawayKey(keyPath, pubPath string) error {
	priv, pub, err := certs.ServiceAccountKeyPair()
	if err != nil {
		return err
	}
	if err := os.WriteFile(keyPath, priv, 0o600); err != nil {
		return err
	}
	return os.WriteFile(pubPath, pub, 0o600)
}

// restoreEtcdSeed makes a new etcd member named name in etcdDataDir from
// the image's seed, as `etcdutl snapshot restore` does. It does nothing
// (false) when the image has no seed. It runs only on a volume where etcd
// has never run.
func restoreEtcdSeed(name string) (bool, error) {
	if _, err := os.Stat(EtcdSeedFile); errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	start := time.Now()
	tmp := etcdDataDir + ".seed"
	if err := os.RemoveAll(tmp); err != nil {
		return false, err
	}
	err := snapshot.NewV3(zap.NewNop()).Restore(snapshot.RestoreConfig{
		SnapshotPath:        EtcdSeedFile,
		Name:                name,
		OutputDataDir:       tmp,
		PeerURLs:            []string{etcdPeerURL},
		InitialCluster:      name + "=" + etcdPeerURL,
		InitialClusterToken: "etcd-cluster",
	})
	if err != nil {
		return false, fmt.Errorf("restore etcd from %s: %w", EtcdSeedFile, err)
	}
	if err := os.Rename(filepath.Join(tmp, "member"), filepath.Join(etcdDataDir, "member")); err != nil {
		return false, fmt.Errorf("restore etcd from %s: %w", EtcdSeedFile, err)
	}
	if err := os.RemoveAll(tmp); err != nil {
		return false, err
	}
	log.Printf("etcd restored from the image's seed in %s", time.Since(start).Round(time.Millisecond))
	return true, nil
}
