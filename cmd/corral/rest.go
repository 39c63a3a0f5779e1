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
)

// restAPI is a bundled framework's REST API as its client commands see
// it.
type restAPI struct {
	// flag and env name the API's URL: --flag (default url), or $env when
	// the flag is not given.
	flag, url, env string
	// what is the framework, how the command that runs it.
	what, how string
}

var (
	serviceAPI = restAPI{flag: "service", url: "http://127.0.0.1:8080", env: "CORRAL_SERVICE", what: "the service framework", how: "corral service"}
	petsAPI    = restAPI{flag: "pets", url: "http://127.0.0.1:8081", env: "CORRAL_PETS", what: "the pets framework", how: "corral pets"}
	batchAPI   = restAPI{flag: "batch", url: "http://127.0.0.1:8082", env: "CORRAL_BATCH", what: "the batch framework", how: "corral batch"}
)

// command is the parent command of the API's client commands: the URL as
// --flag, the credentials and CA to call it with, and -o where the
// commands print tables.
func (api restAPI) command(use, short string, output bool) *cobra.Command {
	cmd := &cobra.Command{Use: use, Short: short}
	cmd.PersistentFlags().String(api.flag, api.url, "URL of "+api.what)
	addClientFlags(cmd.PersistentFlags(), api.what)
	if output {
		cmd.PersistentFlags().StringP("output", "o", "table", "output format: table or json")
	}
	return cmd
}

func (api restAPI) client(cmd *cobra.Command) restClient {
	return newRESTClient(cmd, api.flag, api.env, api.what, api.how)
}

// restListing runs a client command that lists what GET path answers: a
// T, or with key a T under that key of the answer; as JSON with -o json,
// else as a table.
func restListing[T any](api restAPI, path func(args []string) string, key string, tableOf func(T) *table) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		var v T
		if err := api.client(cmd).call(http.MethodGet, path(args), nil, under(key, &v)); err != nil {
			return err
		}
		return showListing(cmd, v, tableOf)
	}
}

// under decodes into v what is under key of a JSON object, or the whole
// document without key.
func under(key string, v any) any {
	if key == "" {
		return v
	}
	return &keyed{key: key, v: v}
}

type keyed struct {
	key string
	v   any
}

func (k *keyed) UnmarshalJSON(b []byte) error {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(b, &doc); err != nil {
		return err
	}
	if raw, ok := doc[k.key]; ok {
		return json.Unmarshal(raw, k.v)
	}
	return nil
}

// fixedPath is the path of a listing that takes no arguments.
func fixedPath(path string) func([]string) string { return func([]string) string { return path } }

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
// credentials and CA to call it with (addClientFlags). With --tls-ca
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
	transport, err := withCredentials(&http.Transport{TLSClientConfig: tlsCfg, Proxy: http.ProxyFromEnvironment}, cobraFlags(cmd))
	if err != nil && c.err == nil {
		c.err = err
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

// restShow runs a client command that prints what GET path answers (or,
// with key, what is under that key of it) as indented JSON.
func restShow(api restAPI, path func(args []string) string, key string) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		var raw json.RawMessage
		if err := api.client(cmd).call(http.MethodGet, path(args), nil, under(key, &raw)); err != nil {
			return err
		}
		return printIndented(cmd.OutOrStdout(), raw)
	}
}
