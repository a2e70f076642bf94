package node

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"slices"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/skiff-k8s/skiff/internal/waitfor"
)

// The CRDs that addons take verbatim from upstream (the Gateway API's, 1.2
// MB with about 300 CEL rules) are in the etcd seed too. Created at boot,
// they cost the API server about 3 CPU-s while every component starts;
// found in etcd at its start, about 1. A new cluster's agent deletes from
// etcd those of the addons it does not enable before the API server
// starts, and applies each addon without its seeded CRDs (applied again
// unchanged, they cost another 0.7 CPU-s): they are the objects it would
// have applied, byte for byte (seedCRD.SHA256).

// SeedCRDsFile, in the node image beside EtcdSeedFile, lists the CRDs the
// seed holds.
const SeedCRDsFile = "/opt/skiff/etcd-seed-crds.json"

// crdPrefix is where the API server keeps CRDs in etcd.
const crdPrefix = "/registry/apiextensions.k8s.io/customresourcedefinitions/"

// seedCRD is a CRD in the seed: its addon, its name, and the sha256 of the
// object as the addon's manifest has it (crdSum).
type seedCRD struct {
	Addon  string `json:"addon"`
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
}

// crdSum identifies an object's content: the sha256 of its JSON (encoding/json
// sorts map keys, so the same manifest always gives the same sum).
func crdSum(o *unstructured.Unstructured) (string, error) {
	b, err := json.Marshal(o.Object)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// upstreamCRDs returns the CRDs among the addons' upstream files under dir
// (dir/<addon>/*.yaml): they depend on no cluster's values.
func upstreamCRDs(dir string) (map[string][]*unstructured.Unstructured, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*", "*.yaml"))
	if err != nil {
		return nil, err
	}
	out := map[string][]*unstructured.Unstructured{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		objs, err := decodeManifest(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		addon := filepath.Base(filepath.Dir(f))
		for _, o := range objs {
			if o.GetKind() == "CustomResourceDefinition" {
				out[addon] = append(out[addon], o)
			}
		}
	}
	return out, nil
}

var crdResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// seedUpstreamCRDs applies the addons' upstream CRDs to the seed's API
// server, waits until each is established (so the seed holds their status
// too) and returns what it applied.
func seedUpstreamCRDs(ctx context.Context, ap *applier, dir string) ([]seedCRD, error) {
	byAddon, err := upstreamCRDs(dir)
	if err != nil {
		return nil, err
	}
	var out []seedCRD
	var objs []*unstructured.Unstructured
	for addon, crds := range byAddon {
		for _, o := range crds {
			sum, err := crdSum(o)
			if err != nil {
				return nil, err
			}
			out = append(out, seedCRD{Addon: addon, Name: o.GetName(), SHA256: sum})
			objs = append(objs, o)
		}
	}
	if err := ap.applyWave(ctx, objs, ap.applyOne); err != nil {
		return nil, fmt.Errorf("apply the addons' CRDs: %w", err)
	}
	for _, c := range out {
		err := waitfor.Poll(ctx, 100*time.Millisecond, func(ctx context.Context) (bool, string, error) {
			u, err := ap.dyn.Resource(crdResource).Get(ctx, c.Name, metav1.GetOptions{})
			if err != nil {
				return false, err.Error(), nil
			}
			conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
			for _, cond := range conds {
				if m, ok := cond.(map[string]any); ok && m["type"] == "Established" && m["status"] == "True" {
					return true, "", nil
				}
			}
			return false, "not established", nil
		})
		if err != nil {
			return nil, fmt.Errorf("CRD %s: %w", c.Name, err)
		}
	}
	slices.SortFunc(out, func(a, b seedCRD) int { return cmp.Compare(a.Addon+"/"+a.Name, b.Addon+"/"+b.Name) })
	return out, nil
}

func writeSeedCRDs(path string, crds []seedCRD) error {
	data, err := json.MarshalIndent(crds, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

// readSeedCRDs lists the CRDs in the image's seed (none for an image
// built before they were).
func readSeedCRDs() ([]seedCRD, error) {
	data, err := os.ReadFile(SeedCRDsFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var crds []seedCRD
	if err := json.Unmarshal(data, &crds); err != nil {
		return nil, fmt.Errorf("read %s: %w", SeedCRDsFile, err)
	}
	return crds, nil
}

// seededSums are the sums of the seeded CRDs of the enabled addons, by
// name: the objects an addon's apply leaves out.
func seededSums(crds []seedCRD, enabled []string) map[string]string {
	out := map[string]string{}
	for _, c := range crds {
		if slices.Contains(enabled, c.Addon) {
			out[c.Name] = c.SHA256
		}
	}
	return out
}

// pruneSeedCRDs deletes from etcd, before the API server first starts on
// it, the seeded CRDs of the addons this cluster does not enable.
func pruneSeedCRDs(ctx context.Context, crds []seedCRD, enabled []string) error {
	var keys []string
	for _, c := range crds {
		if !slices.Contains(enabled, c.Addon) {
			keys = append(keys, crdPrefix+c.Name)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	tlsc, err := clientTLS(pki("apiserver-etcd-client.crt"), pki("apiserver-etcd-client.key"), pki("etcd/ca.crt"))
	if err != nil {
		return err
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{etcdClientURL}, TLS: tlsc, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return fmt.Errorf("connect to etcd: %w", err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for _, k := range keys {
		if _, err := cli.Delete(ctx, k); err != nil {
			return fmt.Errorf("delete %s from etcd: %w", k, err)
		}
	}
	log.Printf("seed: removed %d CRDs of addons not enabled", len(keys))
	return nil
}

// withoutSeeded drops the CRDs whose content is the seed's (sums, by name).
func withoutSeeded(objs []*unstructured.Unstructured, sums map[string]string) ([]*unstructured.Unstructured, error) {
	if len(sums) == 0 {
		return objs, nil
	}
	out := objs[:0:0]
	for _, o := range objs {
		if want, ok := sums[o.GetName()]; ok && o.GetKind() == "CustomResourceDefinition" {
			got, err := crdSum(o)
			if err != nil {
				return nil, err
			}
			if got == want {
				continue
			}
		}
		out = append(out, o)
	}
	return out, nil
}
