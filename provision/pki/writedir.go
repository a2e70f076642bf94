package pki

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// WriteDir writes the files under dir with the same modes Tar uses. Modes
// are set explicitly, so neither the umask nor an existing file's mode
// loosens them.
func (f Files) WriteDir(dir string) error {
	names, err := f.entries()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return fmt.Errorf("failed to create directory %s: %w", dir, err)
	}
	for _, name := range names {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, dirMode); err != nil {
				return fmt.Errorf("failed to create directory %s: %w", p, err)
			}
			if err := os.Chmod(p, dirMode); err != nil {
				return fmt.Errorf("failed to set mode of %s: %w", p, err)
			}
			continue
		}
		if err := writeFile(p, f[name], fileMode(name)); err != nil {
			return err
		}
	}
	return nil
}

// writeFile writes data to p with mode, setting the mode before writing so
// a private key is never readable with an existing file's looser mode.
func writeFile(p string, data []byte, mode os.FileMode) error {
	file, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return fmt.Errorf("failed to open file %s: %w", p, err)
	}
	if err := file.Chmod(mode); err != nil {
		file.Close()
		return fmt.Errorf("failed to set mode of %s: %w", p, err)
	}
	if _, err := file.Write(data); err != nil {
		file.Close()
		return fmt.Errorf("failed to write file %s: %w", p, err)
	}
	if err := file.Close(); err != nil {
		return fmt.Errorf("failed to close file %s: %w", p, err)
	}
	return nil
}
