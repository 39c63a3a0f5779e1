package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/corral-sched/corral/auth"
)

// addClientCredentialFlags adds the flags a client of an authenticating
// master uses: --principal and --secret-file (or CORRAL_PRINCIPAL and
// CORRAL_SECRET_FILE, or the secret itself in CORRAL_SECRET).
func addClientCredentialFlags(f *pflag.FlagSet) {
	f.String("principal", "", "principal to authenticate to the master as (HTTP Basic); also CORRAL_PRINCIPAL")
	f.String("secret-file", "", "file holding the principal's secret; also CORRAL_SECRET_FILE, or the secret in CORRAL_SECRET")
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

// cobraFlags reads string flags of a command, for clientCredentials.
func cobraFlags(cmd *cobra.Command) func(string) string {
	return func(name string) string {
		v, _ := cmd.Flags().GetString(name)
		return v
	}
}
