// Package kubeconfig merges a cluster's entries into the user's kubeconfig
// file and removes them again, the way kind does.
//
// Every read-modify-write holds a "<path>.lock" file, the same convention
// client-go and kubectl use, and every write is atomic, so a concurrent
// skiff or kubectl never sees or produces a half-written file.
package kubeconfig
