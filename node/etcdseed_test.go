package node

import "testing"

func TestSeedKeeps(t *testing.T) {
	for key, want := range map[string]bool{
		"/registry/clusterroles/cluster-admin":                                                        true,
		"/registry/clusterrolebindings/system:basic-user":                                             true,
		"/registry/rolebindings/kube-system/system::leader-locking-kube-scheduler":                    true,
		"/registry/priorityclasses/system-node-critical":                                              true,
		"/registry/flowschemas/exempt":                                                                true,
		"/registry/apiregistration.k8s.io/apiservices/v1.apps":                                        true,
		"/registry/apiextensions.k8s.io/customresourcedefinitions/gateways.gateway.networking.k8s.io": true,
		"/registry/namespaces/kube-system":                                                            false,
		"/registry/services/specs/default/kubernetes":                                                 false,
		"/registry/servicecidrs/kubernetes":                                                           false,
		"/registry/configmaps/kube-system/extension-apiserver-authentication":                         false,
		"/registry/leases/kube-system/apiserver-abc":                                                  false,
	} {
		if got := seedKeeps(key); got != want {
			t.Errorf("seedKeeps(%q) = %t, want %t", key, got, want)
		}
	}
}
