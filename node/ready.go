package node

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/skiff-k8s/skiff/internal/waitfor"
)

// readyCheck returns nil once a component serves.
type readyCheck func(ctx context.Context) error

func socketReady(path string) readyCheck {
	return func(ctx context.Context) error {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "unix", path)
		if err != nil {
			return err
		}
		return conn.Close()
	}
}

// tlsConfig builds a client TLS configuration when the check runs (the PKI
// is read lazily so that a check can be built before the files exist).
type tlsConfig func() (*tls.Config, error)

func adminTLS() (*tls.Config, error) {
	return clientTLS(pki("admin.crt"), pki("admin.key"), pki("ca.crt"))
}

// clientTLS authenticates with a certificate and trusts one CA.
func clientTLS(certFile, keyFile, caFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool}, nil
}

// insecureTLS is for the health endpoints of the controller manager and the
// scheduler, which serve self-signed certificates on 127.0.0.1.
func insecureTLS() (*tls.Config, error) {
	return &tls.Config{InsecureSkipVerify: true}, nil //nolint:gosec // local health probe only
}

func httpReady(url string, tlsc tlsConfig) readyCheck {
	return func(ctx context.Context) error {
		tr := &http.Transport{DisableKeepAlives: true}
		if tlsc != nil {
			c, err := tlsc()
			if err != nil {
				return err
			}
			tr.TLSClientConfig = c
		}
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s answered %s", url, resp.Status)
		}
		return nil
	}
}

// waitReady polls check every 100 ms until it passes, timeout elapses or
// abort, asked after every failed check, returns an error.
func waitReady(ctx context.Context, check readyCheck, abort func() error, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := waitfor.Poll(ctx, 100*time.Millisecond, func(ctx context.Context) (bool, string, error) {
		err := check(ctx)
		if err == nil {
			return true, "", nil
		}
		return false, err.Error(), abort()
	})
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("not ready after %s: %w", timeout, err)
	}
	return err
}
