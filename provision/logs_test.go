package provision

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"strings"
	"testing"
)

func testKeyPEM(t *testing.T) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

func redactString(t *testing.T, in string) string {
	t.Helper()
	var out bytes.Buffer
	if err := redactKeys(&out, strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func TestRedactKeys(t *testing.T) {
	key := testKeyPEM(t)
	body := strings.Split(key, "\n")[1]
	escaped := strings.ReplaceAll(strings.TrimSpace(key), "\n", `\n`)
	b64 := base64.StdEncoding.EncodeToString([]byte(key))
	cert := "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUG\n-----END CERTIFICATE-----\n"
	rsa := strings.NewReplacer("BEGIN PRIVATE", "BEGIN RSA PRIVATE", "END PRIVATE", "END RSA PRIVATE").Replace(key)
	for _, c := range []struct{ name, in, want string }{
		{"block between lines", "before\n" + key + "after\n", "before\n" + redacted + "\nafter\n"},
		{"other key type", rsa, redacted + "\n"},
		{"escaped on one line", `{"msg":"loaded","key":"` + escaped + `","n":1}` + "\n", `{"msg":"loaded","key":"` + redacted + `","n":1}` + "\n"},
		{"base64 as in a Secret", "  tls.key: " + b64 + "\n", "  tls.key: " + redacted + "\n"},
		{"base64 after other characters", "key=" + b64 + "\n", "key=" + redacted + "\n"},
		{"cut short", "x -----BEGIN PRIVATE KEY-----\n" + body + "\nlog goes on\n", "x " + redacted + "\nlog goes on\n"},
		{"no newline at the end", strings.TrimSuffix(key, "\n"), redacted},
		{"certificates stay", cert, cert},
		{"base64 that is no key stays", "  ca.crt: " + base64.StdEncoding.EncodeToString([]byte(cert)) + "\n", "  ca.crt: " + base64.StdEncoding.EncodeToString([]byte(cert)) + "\n"},
		{"plain text stays", "I1201 kubelet.go:1] started\n\nlast", "I1201 kubelet.go:1] started\n\nlast"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := redactString(t, c.in); got != c.want {
				t.Errorf("got\n%q\nwant\n%q", got, c.want)
			}
		})
	}
}

func TestRedactSecrets(t *testing.T) {
	in := `apiVersion: v1
kind: ConfigMap
metadata:
  name: keep
data:
  greeting: hello
---
apiVersion: v1
kind: Secret
metadata:
  name: webhook
type: kubernetes.io/tls
data:
  tls.crt: Y2VydA==
  tls.key: a2V5
stringData:
  password: hunter2
`
	out := string(redactSecrets([]byte(in)))
	for _, leak := range []string{"Y2VydA==", "a2V5", "hunter2"} {
		if strings.Contains(out, leak) {
			t.Errorf("%q left in:\n%s", leak, out)
		}
	}
	for _, keep := range []string{"greeting: hello", "name: webhook", "tls.key: '" + redacted + "'", "password: '" + redacted + "'", "type: kubernetes.io/tls"} {
		if !strings.Contains(out, keep) {
			t.Errorf("%q missing from:\n%s", keep, out)
		}
	}
	if strings.Count(out, "\n---\n") != 1 {
		t.Errorf("want two documents:\n%s", out)
	}

	noSecret := "# rendered\nkind: ConfigMap\ndata: {a: b}\n"
	if got := string(redactSecrets([]byte(noSecret))); got != noSecret {
		t.Errorf("a stream without Secrets changed: %q", got)
	}
	if got := string(redactSecrets([]byte("kind: Secret\ndata: {tls.key: a2V5\n"))); strings.Contains(got, "a2V5") || !strings.Contains(got, "not valid YAML") {
		t.Errorf("invalid YAML not withheld: %q", got)
	}
}
