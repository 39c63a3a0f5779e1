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
)

// restClient calls a bundled framework's REST API and turns its errors
// into messages.
type restClient struct {
	base, what, how, flag string
	http                  *http.Client
}

// newRESTClient reads the framework's URL from --flag, or from the
// environment variable env when the flag is not given.
func newRESTClient(cmd *cobra.Command, flag, env, what, how string) restClient {
	base, _ := cmd.Flags().GetString(flag)
	if v := os.Getenv(env); v != "" && !cmd.Flags().Changed(flag) {
		base = v
	}
	return restClient{base: strings.TrimRight(base, "/"), what: what, how: how, flag: flag, http: &http.Client{Timeout: 30 * time.Second}}
}

func (c restClient) call(method, path string, body []byte, out any) error {
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
		return fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	if out != nil && len(b) > 0 {
		return json.Unmarshal(b, out)
	}
	return nil
}
