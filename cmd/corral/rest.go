package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/corral-sched/corral/auth"
)

// newFrameworkClientCommand is the parent command of a bundled framework's
// client commands: the framework's URL as --flag, the credentials and CA
// to call it with, and -o where the commands print tables.
func newFrameworkClientCommand(use, short, flag, url, what string, output bool) *cobra.Command {
	cmd := &cobra.Command{Use: use, Short: short}
	cmd.PersistentFlags().String(flag, url, "URL of "+what)
	addRESTClientFlags(cmd.PersistentFlags(), what)
	if output {
		cmd.PersistentFlags().StringP("output", "o", "table", "output format: table or json")
	}
	return cmd
}

// readSpecFile reads what a client submits (an app, a set, a job) in YAML
// or JSON into the JSON the API takes, with its id; the API checks the
// fields.
func readSpecFile(path, what string) ([]byte, string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, "", err
	}
	var doc map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, "", fmt.Errorf("%s: %w", path, err)
	}
	id, _ := doc["id"].(string)
	if id == "" {
		return nil, "", fmt.Errorf("%s: the %s needs an id", path, what)
	}
	b, err := json.Marshal(doc)
	return b, id, err
}

// restClient calls a bundled framework's REST API and turns its errors
// into messages.
type restClient struct {
	base, what, how, flag string
	http                  *http.Client
	// err is a bad credential or TLS flag, reported by the first call so
	// that building a client never fails.
	err error
}

// newRESTClient reads the framework's URL from --flag, or from the
// environment variable env when the flag is not given, and the
// credentials and CA to call it with (addRESTClientFlags). With --tls-ca
// and no URL given, the default URL is called over https.
func newRESTClient(cmd *cobra.Command, flag, env, what, how string) restClient {
	base, _ := cmd.Flags().GetString(flag)
	given := cmd.Flags().Changed(flag)
	if v := os.Getenv(env); v != "" && !given {
		base, given = v, true
	}
	c := restClient{what: what, how: how, flag: flag}
	tlsCfg, err := tlsFiles(cobraFlags(cmd)).Client()
	if err != nil {
		c.err = err
	}
	if tlsCfg != nil && !given {
		base = strings.Replace(base, "http://", "https://", 1)
	}
	var transport http.RoundTripper = &http.Transport{TLSClientConfig: tlsCfg, Proxy: http.ProxyFromEnvironment}
	principal, secret, err := clientCredentials(cobraFlags(cmd))
	if err != nil && c.err == nil {
		c.err = err
	}
	if principal != "" {
		transport = &auth.Transport{Base: transport, Principal: principal, Secret: secret}
	}
	c.base, c.http = strings.TrimRight(base, "/"), &http.Client{Timeout: 30 * time.Second, Transport: transport}
	return c
}

func (c restClient) call(method, path string, body []byte, out any) error {
	if c.err != nil {
		return c.err
	}
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach %s at %s (is `%s` or `corral dev` running? set --%s): %w", c.what, c.base, c.how, c.flag, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Message string
			Details []struct {
				Path   string
				Errors []string
			}
		}
		if json.Unmarshal(b, &e) == nil && e.Message != "" {
			msg := e.Message
			for _, d := range e.Details {
				msg += "\n  " + d.Path + ": " + strings.Join(d.Errors, "; ")
			}
			return errors.New(msg)
		}
		if resp.StatusCode == http.StatusUnauthorized {
			return fmt.Errorf("%s %s: %s: %s is authenticating its clients: give --principal and --secret-file (or CORRAL_PRINCIPAL and CORRAL_SECRET_FILE)",
				method, path, resp.Status, c.what)
		}
		return fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	if out != nil && len(b) > 0 {
		return json.Unmarshal(b, out)
	}
	return nil
}
