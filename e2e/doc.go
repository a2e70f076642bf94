// Package e2e drives real skiff clusters the way a user does: the skiff
// binary, kubectl and client-go against a real Docker engine and the real
// node image. The tests need `make image` first (hack/test.sh does it) and
// are skipped under `go test -short`.
package e2e
