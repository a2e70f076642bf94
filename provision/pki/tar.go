package pki

import (
	"archive/tar"
	"bytes"
	"fmt"
	"strings"
	"time"
)

// Tar returns the files as an uncompressed tar stream suitable for Docker's
// CopyToContainer into /etc/skiff: directories included, uid/gid 0, private
// keys and kubeconfigs mode 0600, certificates and public keys 0644,
// directories 0755, in sorted order.
func (f Files) Tar() ([]byte, error) {
	names, err := f.entries()
	if err != nil {
		return nil, err
	}
	now := time.Now().Truncate(time.Second)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, name := range names {
		hdr := &tar.Header{Name: name, ModTime: now, Uname: "root", Gname: "root"}
		if strings.HasSuffix(name, "/") {
			hdr.Typeflag = tar.TypeDir
			hdr.Mode = int64(dirMode)
		} else {
			hdr.Typeflag = tar.TypeReg
			hdr.Mode = int64(fileMode(name))
			hdr.Size = int64(len(f[name]))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("failed to write tar header for %s: %w", name, err)
		}
		if _, err := tw.Write(f[name]); err != nil {
			return nil, fmt.Errorf("failed to write tar entry %s: %w", name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("failed to close tar stream: %w", err)
	}
	return buf.Bytes(), nil
}
