package auth

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// TLSFiles names the PEM files of a component's TLS setup: its own
// certificate and key (to serve TLS, and as a client certificate), and a
// CA bundle that verifies its peers (the servers it calls; the client
// certificates it is shown).
type TLSFiles struct {
	Cert, Key, CA string
}

// Server returns the listener's TLS configuration, nil when no
// certificate is configured. TLS 1.2 or later; with a CA, a client
// certificate is verified when one is presented (authentication itself
// stays HTTP Basic).
func (f TLSFiles) Server() (*tls.Config, error) {
	if f.Cert == "" && f.Key == "" {
		return nil, nil
	}
	if f.Cert == "" || f.Key == "" {
		return nil, errors.New("auth: TLS needs both --tls-cert and --tls-key")
	}
	cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return nil, fmt.Errorf("auth: TLS certificate: %w", err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if f.CA != "" {
		pool, err := loadPool(f.CA)
		if err != nil {
			return nil, err
		}
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.VerifyClientCertIfGiven
	}
	return cfg, nil
}

// Client returns the configuration for calling TLS servers, nil when no
// CA is configured (plain HTTP). The component's own certificate, if any,
// is offered as a client certificate.
func (f TLSFiles) Client() (*tls.Config, error) {
	if f.CA == "" {
		return nil, nil
	}
	pool, err := loadPool(f.CA)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
	if f.Cert != "" && f.Key != "" {
		cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
		if err != nil {
			return nil, fmt.Errorf("auth: TLS client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

func loadPool(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth: TLS CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("auth: TLS CA %s holds no PEM certificate", path)
	}
	return pool, nil
}

// Scheme is the URL scheme for a client with this configuration.
func Scheme(client *tls.Config) string {
	if client != nil {
		return "https"
	}
	return "http"
}
