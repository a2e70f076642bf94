// Package pki generates the keys, certificates and component kubeconfigs a
// single-node skiff cluster needs, in Go, at cluster-create time.
//
// All keys are ECDSA P-256: they are fast to generate and accepted by every
// Kubernetes component.
package pki
