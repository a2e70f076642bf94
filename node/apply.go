package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/skiff-k8s/skiff/internal/waitfor"
)

// fieldManager is the server-side apply manager of the addons' objects.
// It is kubectl's default, which skiff used before it applied in-process:
// keeping it lets a newer skiff drop fields an older one set.
const fieldManager = "kubectl"

// applier applies manifests with server-side apply in-process: one
// discovery shared by every addon instead of a kubectl process (and its own
// discovery) per addon, so the addons can be applied concurrently.
type applier struct {
	dyn    dynamic.Interface
	meta   metadata.Interface
	mapper *restmapper.DeferredDiscoveryRESTMapper
	// seeded are the CRDs etcd got from the image's seed on this boot, by
	// name, with their sums (crdSum): the same objects are not applied
	// again.
	seeded map[string]string
}

func newApplier(kubeconfigPath string) (*applier, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfigPath)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", kubeconfigPath, err)
	}
	return newApplierFor(cfg)
}

func newApplierFor(cfg *rest.Config) (*applier, error) {
	cfg.QPS, cfg.Burst = 100, 200
	cfg.Timeout = applyAttempt
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	mc, err := metadata.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &applier{dyn: dyn, meta: mc, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))}, nil
}

// apply applies every object of a multi-document manifest in three waves,
// each wave's objects concurrently: namespaces and CRDs; service accounts
// and RBAC; then the rest. One by one in file order, an addon's Deployment
// waited behind every CRD before it and its pod started seconds later.
// Config goes with the workloads that read it: a ConfigMap changed a wave
// before its Deployment (a clone's new registry port) let the old pod
// restart on the new port and the new one find it taken. The objects the
// API server refuses for now (a kind whose CRD is not established yet, a
// webhook whose pod is not up, RBAC still bootstrapping) are retried every
// applyInterval until ctx ends.
func (a *applier) apply(ctx context.Context, manifest []byte) error {
	return a.eachObject(ctx, manifest, a.applyOne)
}

// restore applies only the objects of a manifest that do not exist, and
// reports how many: those that do are left as they are, without a request
// that would make the API server validate them again (1.2 MB of Gateway
// API CRDs) or call a webhook whose pod is not up yet. It asks
// for metadata only: the CRDs in full took 18 GETs of 240 ms each on a
// restarting API server.
func (a *applier) restore(ctx context.Context, manifest []byte) (int, error) {
	var missing atomic.Int32
	err := a.eachObject(ctx, manifest, func(ctx context.Context, o *unstructured.Unstructured) error {
		gvr, ns, err := a.endpoint(o)
		if err != nil {
			return err
		}
		actx, cancel := context.WithTimeout(ctx, applyAttempt)
		defer cancel()
		if ns != "" {
			_, err = a.meta.Resource(gvr).Namespace(ns).Get(actx, o.GetName(), metav1.GetOptions{})
		} else {
			_, err = a.meta.Resource(gvr).Get(actx, o.GetName(), metav1.GetOptions{})
		}
		if !apierrors.IsNotFound(err) {
			return err
		}
		missing.Add(1)
		return a.applyOne(ctx, o)
	})
	return int(missing.Load()), err
}

// eachObject runs do on every object of a manifest, wave by wave.
func (a *applier) eachObject(ctx context.Context, manifest []byte, do func(context.Context, *unstructured.Unstructured) error) error {
	objs, err := decodeManifest(manifest)
	if err != nil {
		return err
	}
	if objs, err = withoutSeeded(objs, a.seeded); err != nil {
		return err
	}
	for _, wave := range waves(objs) {
		if err := a.applyWave(ctx, wave, do); err != nil {
			return err
		}
	}
	return nil
}

// waves splits objects by what they need to exist first, keeping file order
// within each wave.
func waves(objs []*unstructured.Unstructured) [][]*unstructured.Unstructured {
	out := make([][]*unstructured.Unstructured, 3)
	for _, o := range objs {
		w := 2
		switch o.GetKind() {
		case "Namespace", "CustomResourceDefinition":
			w = 0
		case "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding":
			w = 1
		}
		out[w] = append(out[w], o)
	}
	return out
}

func (a *applier) applyWave(ctx context.Context, pending []*unstructured.Unstructured, do func(context.Context, *unstructured.Unstructured) error) error {
	for len(pending) > 0 {
		errs := make([]error, len(pending))
		var wg sync.WaitGroup
		for i, o := range pending {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = do(ctx, o)
			}()
		}
		wg.Wait()
		var retry []*unstructured.Unstructured
		var last error
		for i, err := range errs {
			if err != nil {
				retry, last = append(retry, pending[i]), err
			}
		}
		if len(retry) == 0 {
			return nil
		}
		if meta.IsNoMatchError(last) {
			a.mapper.Reset()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d objects not applied: %w (last error: %v)", len(retry), ctx.Err(), last)
		case <-time.After(applyInterval):
		}
		pending = retry
	}
	return nil
}

// endpoint is an object's resource and namespace ("" for a cluster-scoped
// kind).
func (a *applier) endpoint(o *unstructured.Unstructured) (schema.GroupVersionResource, string, error) {
	gvk := o.GroupVersionKind()
	m, err := a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return schema.GroupVersionResource{}, "", fmt.Errorf("%s %s: %w", gvk.Kind, o.GetName(), err)
	}
	if m.Scope.Name() != meta.RESTScopeNameNamespace {
		return m.Resource, "", nil
	}
	ns := o.GetNamespace()
	if ns == "" {
		ns = metav1.NamespaceDefault
	}
	return m.Resource, ns, nil
}

// resource is the API endpoint of an object's kind, in its namespace.
func (a *applier) resource(o *unstructured.Unstructured) (dynamic.ResourceInterface, error) {
	gvr, ns, err := a.endpoint(o)
	if err != nil {
		return nil, err
	}
	if ns == "" {
		return a.dyn.Resource(gvr), nil
	}
	return a.dyn.Resource(gvr).Namespace(ns), nil
}

func (a *applier) applyOne(ctx context.Context, o *unstructured.Unstructured) error {
	ri, err := a.resource(o)
	if err != nil {
		return err
	}
	actx, cancel := context.WithTimeout(ctx, applyAttempt)
	defer cancel()
	if _, err := ri.Apply(actx, o.GetName(), o, metav1.ApplyOptions{FieldManager: fieldManager, Force: true}); err != nil {
		return fmt.Errorf("%s %s/%s: %w", o.GetKind(), o.GetNamespace(), o.GetName(), err)
	}
	return nil
}

// labelNode adds label, with an empty value, to the named node, retrying
// every applyInterval until the kubelet has registered it. In-process: a
// kubectl run per attempt cost the starting API server's CPU.
func (a *applier) labelNode(ctx context.Context, name, label string) error {
	ctx, cancel := context.WithTimeout(ctx, applyTimeout)
	defer cancel()
	patch := fmt.Appendf(nil, `{"metadata":{"labels":{%q:""}}}`, label)
	nodes := a.dyn.Resource(schema.GroupVersionResource{Version: "v1", Resource: "nodes"})
	err := waitfor.Poll(ctx, applyInterval, func(ctx context.Context) (bool, string, error) {
		_, err := nodes.Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: fieldManager})
		if err != nil {
			return false, err.Error(), nil
		}
		return true, "", nil
	})
	if err != nil {
		return fmt.Errorf("label node %s: %w", name, err)
	}
	return nil
}

// replicas returns a Deployment's desired replicas (1 when unset).
func (a *applier) replicas(ctx context.Context, namespace, name string) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, applyAttempt)
	defer cancel()
	d, err := a.dyn.Resource(schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return 0, err
	}
	n, found, err := unstructured.NestedInt64(d.Object, "spec", "replicas")
	if err != nil || !found {
		return 1, err
	}
	return n, nil
}

// podsReady reports whether the pods matching selector exist and each
// turned Ready at since or later (a restarted node's pods keep the Ready
// condition of the last boot until the kubelet reports again).
func (a *applier) podsReady(ctx context.Context, namespace, selector string, since time.Time) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, applyAttempt)
	defer cancel()
	list, err := a.dyn.Resource(schema.GroupVersionResource{Version: "v1", Resource: "pods"}).Namespace(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil || len(list.Items) == 0 {
		return false, err
	}
	for _, pod := range list.Items {
		conds, _, _ := unstructured.NestedSlice(pod.Object, "status", "conditions")
		ready := false
		for _, c := range conds {
			m, _ := c.(map[string]any)
			at, _ := time.Parse(time.RFC3339, fmt.Sprint(m["lastTransitionTime"]))
			if m["type"] == "Ready" && m["status"] == "True" && !at.Before(since) {
				ready = true
			}
		}
		if !ready {
			return false, nil
		}
	}
	return true, nil
}

// decodeManifest splits a multi-document YAML stream into objects, skipping
// empty documents.
func decodeManifest(manifest []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(manifest), 4096)
	var out []*unstructured.Unstructured
	for {
		var obj map[string]any
		if err := dec.Decode(&obj); errors.Is(err, io.EOF) {
			return out, nil
		} else if err != nil {
			return nil, fmt.Errorf("decode manifest: %w", err)
		}
		if len(obj) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: obj}
		if u.GetKind() == "" || u.GetName() == "" {
			return nil, fmt.Errorf("decode manifest: an object without kind or name: %v", obj)
		}
		out = append(out, u)
	}
}
