package main

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/corral-sched/corral/auth"
)

// addCredentialFlags adds the flags a client of an authenticating server
// (the master, a framework's REST API) uses: --principal and --secret-file
// (or CORRAL_PRINCIPAL and CORRAL_SECRET_FILE, or the secret itself in
// CORRAL_SECRET). The names are the same for every server, so that one
// CORRAL_PRINCIPAL serves all.
func addCredentialFlags(f *pflag.FlagSet, server string) {
	f.String("principal", "", "principal to authenticate to "+server+" as (HTTP Basic); also CORRAL_PRINCIPAL")
	f.String("secret-file", "", "file holding the principal's secret; also CORRAL_SECRET_FILE, or the secret in CORRAL_SECRET")
}

// addClientFlags adds the credentials of a client that serves nothing
// itself, and the CA and certificate it calls server with.
func addClientFlags(f *pflag.FlagSet, server string) {
	addCredentialFlags(f, server)
	f.String("tls-ca", "", "PEM CA bundle verifying "+server+", which is then called over https")
	f.String("tls-cert", "", "PEM client certificate, if "+server+" asks for one")
	f.String("tls-key", "", "PEM key of --tls-cert")
}

// addAPIAuthFlags adds a server's authentication flags: guarded names
// what they protect, open what stays open.
func addAPIAuthFlags(f *pflag.FlagSet, guarded, open string) {
	f.String("credentials", "", `credentials file in Mesos' JSON format ({"credentials":[{"principal":"…","secret":"…"}]}): who may call `+guarded)
	f.Bool("authenticate-http", false, "require HTTP Basic credentials from --credentials on "+guarded+" ("+open+" open)")
}

// apiCredentials are the credentials a server requires of its HTTP
// clients: nil unless --authenticate-http is on.
func apiCredentials(s *settings) (auth.Credentials, error) {
	path := s.String("credentials")
	if !s.Bool("authenticate-http") {
		return nil, nil
	}
	if path == "" {
		return nil, fmt.Errorf("--authenticate-http needs --credentials FILE")
	}
	return auth.LoadCredentials(path)
}

// clientCredentials reads them; no principal means no authentication.
func clientCredentials(get func(string) string) (principal, secret string, err error) {
	principal, file := get("principal"), get("secret-file")
	if principal == "" {
		principal = os.Getenv("CORRAL_PRINCIPAL")
	}
	if file == "" {
		file = os.Getenv("CORRAL_SECRET_FILE")
	}
	if principal == "" {
		if file != "" {
			return "", "", fmt.Errorf("--secret-file needs --principal")
		}
		return "", "", nil
	}
	switch {
	case file != "":
		secret, err = auth.LoadSecret(file)
	case os.Getenv("CORRAL_SECRET") != "":
		secret = os.Getenv("CORRAL_SECRET")
	default:
		err = fmt.Errorf("--principal %s needs its secret: --secret-file FILE or CORRAL_SECRET", principal)
	}
	return principal, secret, err
}

// withCredentials authenticates what base sends with the client's
// credentials, if it has any.
func withCredentials(base http.RoundTripper, get func(string) string) (http.RoundTripper, error) {
	principal, secret, err := clientCredentials(get)
	if err != nil || principal == "" {
		return base, err
	}
	return &auth.Transport{Base: base, Principal: principal, Secret: secret}, nil
}

// cobraFlags reads string flags of a command, for clientCredentials.
func cobraFlags(cmd *cobra.Command) func(string) string {
	return func(name string) string {
		v, _ := cmd.Flags().GetString(name)
		return v
	}
}

// addTLSFlags adds a server's TLS flags; the CA also verifies the servers
// it calls (the master), which it then calls over https.
func addTLSFlags(f *pflag.FlagSet) {
	f.String("tls-cert", "", "PEM certificate to serve TLS with (TLS 1.2+); also the client certificate")
	f.String("tls-key", "", "PEM key of --tls-cert")
	f.String("tls-ca", "", "PEM CA bundle verifying peers: the master this process calls (over https), and client certificates shown to it")
}

func tlsFiles(get func(string) string) auth.TLSFiles {
	return auth.TLSFiles{Cert: get("tls-cert"), Key: get("tls-key"), CA: get("tls-ca")}
}

// secureListen listens on addr, with TLS when a certificate is configured.
func secureListen(addr string, files auth.TLSFiles) (net.Listener, string, error) {
	cfg, err := files.Server()
	if err != nil {
		return nil, "", err
	}
	ln, err := listen(addr)
	if err != nil {
		return nil, "", err
	}
	if cfg == nil {
		return ln, "http", nil
	}
	return tls.NewListener(ln, cfg), "https", nil
}
