// Command skiff creates single-node Kubernetes clusters in Docker. Installed
// into the node image as skiff-node, the same binary is the node's agent.
package main

import (
	"os"
	"path/filepath"

	"github.com/skiff-k8s/skiff/internal/commands"
	"github.com/skiff-k8s/skiff/node"
)

func main() {
	if filepath.Base(os.Args[0]) == "skiff-node" {
		os.Exit(node.Main(os.Args[1:]))
	}
	os.Exit(commands.Main())
}
