package pki

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// Files maps a path relative to the node's config dir /etc/skiff (e.g.
// "pki/ca.crt") to its content.
type Files map[string][]byte

// dirMode is the mode of every directory holding Files.
const dirMode fs.FileMode = 0o755

// fileMode returns the mode a file gets: 0600 for private keys and
// kubeconfigs (which embed private keys), 0644 for everything else
// (certificates and public keys).
func fileMode(name string) fs.FileMode {
	if strings.HasSuffix(name, ".key") || strings.HasSuffix(name, ".conf") {
		return 0o600
	}
	return 0o644
}

// entries returns the sorted file names and every directory containing them
// (each with a trailing slash), so a directory sorts before its contents.
func (f Files) entries() ([]string, error) {
	set := map[string]bool{}
	for name := range f {
		if !fs.ValidPath(name) || name == "." {
			return nil, fmt.Errorf("invalid file path %q: must be a relative, clean, slash-separated path", name)
		}
		set[name] = true
		for dir := path.Dir(name); dir != "."; dir = path.Dir(dir) {
			set[dir+"/"] = true
		}
	}
	names := make([]string, 0, len(set))
	for name := range set {
		names = append(names, name)
	}
	sort.Strings(names)
	return names, nil
}

// putPair adds kp as base+".crt" and base+".key".
func (f Files) putPair(base string, kp *keyPair) error {
	key, err := encodeKey(kp.key)
	if err != nil {
		return err
	}
	f[base+".crt"] = encodeCert(kp.cert.Raw)
	f[base+".key"] = key
	return nil
}
