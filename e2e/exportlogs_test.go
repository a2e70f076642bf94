package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/skiff-k8s/skiff/images"
)

// TestExportLogsHasNoSecrets checks that `skiff export logs` writes no
// private key and no Secret's data, with Secrets in use by a pod (as env
// and as a volume) and the addons' own Secrets on the node.
func TestExportLogsHasNoSecrets(t *testing.T) {
	e2e(t)
	m, err := images.Resolved("")
	if err != nil {
		t.Fatal(err)
	}
	c := newCluster(t, "e2e-logs")

	raw := make([]byte, 12)
	if _, err := rand.Read(raw); err != nil {
		t.Fatal(err)
	}
	value := "skiff-e2e-secret-" + hex.EncodeToString(raw)
	c.kubectl("create", "secret", "generic", "e2e-logs-secret", "--from-literal=password="+value)
	certFile, keyFile, keyPEM := tlsPair(t)
	c.kubectl("create", "secret", "tls", "e2e-logs-tls", "--cert="+certFile, "--key="+keyFile)
	// A pod that uses both, so the kubelet and containerd handle them.
	applyYAML(c, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: uses-secrets
spec:
  containers:
  - name: pause
    image: %s
    imagePullPolicy: Never
    env:
    - name: PASSWORD
      valueFrom: {secretKeyRef: {name: e2e-logs-secret, key: password}}
    volumeMounts:
    - {name: tls, mountPath: /tls}
  volumes:
  - name: tls
    secret: {secretName: e2e-logs-tls}
`, m.Pause.Image))
	c.kubectl("wait", "--for=condition=Ready", "pod/uses-secrets", "--timeout=90s")

	dir := t.TempDir()
	c.mustSkiff(3*time.Minute, "export", "logs", dir, "--name", c.name)

	// Forbidden: any PEM private key, the value in clear or base64 (at each
	// alignment it can have inside a longer encoding), and the key's body.
	keyBody := strings.Split(keyPEM, "\n")[1]
	forbidden := []string{value, base64.StdEncoding.EncodeToString([]byte(value)), keyBody}
	for off := 1; off < 3; off++ {
		enc := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("x", off) + value))
		forbidden = append(forbidden, enc[4:len(enc)-4])
	}
	pemKey := regexp.MustCompile(`-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----`)
	b64 := regexp.MustCompile(`[A-Za-z0-9+/]{64,}={0,2}`)
	files := 0
	seen := map[string]bool{}
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		rel, _ := filepath.Rel(dir, path)
		seen[rel] = true
		text := string(data)
		if loc := pemKey.FindStringIndex(text); loc != nil {
			t.Errorf("%s holds a private key: %q", rel, text[loc[0]:min(len(text), loc[1]+40)])
		}
		for _, f := range forbidden {
			if strings.Contains(text, f) {
				t.Errorf("%s holds the secret %q", rel, f)
			}
		}
		for _, run := range b64.FindAllString(text, -1) {
			for off := range 4 {
				s := run[off:]
				dec, err := base64.StdEncoding.DecodeString(s[:len(s)/4*4])
				if err == nil && (pemKey.Match(dec) || strings.Contains(string(dec), value)) {
					t.Errorf("%s holds a private key or the secret in base64: %.60s...", rel, run)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Make sure the export is not vacuously clean.
	for _, want := range []string{"inspect.json", "skiff-node.log", "skiff/kubelet.log", "skiff/kube-apiserver.log", "config.json", "kubectl-all.txt"} {
		if !seen[want] {
			t.Errorf("export lacks %s (has %d files)", want, files)
		}
	}
	t.Logf("checked %d exported files", files)
}

// tlsPair writes a self-signed certificate and its key, and returns the
// files and the key's PEM.
func tlsPair(t *testing.T) (certFile, keyFile, keyPEM string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "e2e-logs.test"},
		DNSNames:     []string{"e2e-logs.test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	keyPEM = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}))
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, []byte(keyPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, keyPEM
}
