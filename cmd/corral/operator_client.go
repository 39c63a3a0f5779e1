package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/auth"
	"github.com/corral-sched/corral/codec"
	"github.com/corral-sched/corral/election"
	"github.com/corral-sched/corral/proto/masterpb"
	"github.com/corral-sched/corral/store"
)

// operatorClient calls the leading master's operator API (POST /api/v1)
// for the operator commands.
type operatorClient struct {
	base   string
	output string
	http   *http.Client
}

func newOperatorClient(cmd *cobra.Command) (*operatorClient, error) {
	master, _ := cmd.Flags().GetString("master")
	zkURL, _ := cmd.Flags().GetString("zk")
	output, _ := cmd.Flags().GetString("output")
	if output != "table" && output != "json" && output != "yaml" {
		return nil, fmt.Errorf("--output %q: use table, json or yaml", output)
	}
	if env := os.Getenv("CORRAL_MASTER"); env != "" && !cmd.Flags().Changed("master") {
		master = env
	}
	if zkURL != "" {
		servers, path, err := store.ParseZKURL(zkURL)
		if err != nil {
			return nil, fmt.Errorf("--zk: %w", err)
		}
		session, err := election.Dial(servers, 10*time.Second, nil)
		if err != nil {
			return nil, err
		}
		defer session.Close()
		ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Second)
		defer cancel()
		if master, err = election.NewDetector(session, path).Leader(ctx); err != nil {
			return nil, fmt.Errorf("no leading master found in %s: %w", zkURL, err)
		}
	}
	tlsCfg, err := tlsFiles(cobraFlags(cmd)).Client()
	if err != nil {
		return nil, err
	}
	transport, err := withCredentials(&http.Transport{TLSClientConfig: tlsCfg}, cobraFlags(cmd))
	if err != nil {
		return nil, err
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: transport}
	return &operatorClient{base: auth.Scheme(tlsCfg) + "://" + master, output: output, http: client}, nil
}

func (c *operatorClient) call(call *masterpb.Call) (*masterpb.Response, error) {
	body, err := codec.Protobuf.Marshal(call)
	if err != nil {
		return nil, err
	}
	req, _ := http.NewRequest(http.MethodPost, c.base+"/api/v1", bytes.NewReader(body))
	req.Header.Set("Content-Type", codec.ProtobufMediaType)
	req.Header.Set("Accept", codec.ProtobufMediaType)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the master at %s (is `corral master` or `corral dev` running? set --master or --zk): %w", c.base, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%v: %s: %s", call.GetType(), resp.Status, strings.TrimSpace(string(b)))
	}
	out := &masterpb.Response{}
	if len(b) > 0 {
		if err := codec.Protobuf.Unmarshal(b, out); err != nil {
			return nil, fmt.Errorf("decoding the master's answer: %w", err)
		}
	}
	return out, nil
}

// get asks the master what a GET_* call answers.
func (c *operatorClient) get(what masterpb.Call_Type) (*masterpb.Response, error) {
	return c.call(&masterpb.Call{Type: what.Enum()})
}

// getBoth asks two GET_* calls in turn.
func (c *operatorClient) getBoth(first, second masterpb.Call_Type) (*masterpb.Response, *masterpb.Response, error) {
	a, err := c.get(first)
	if err != nil {
		return nil, nil, err
	}
	b, err := c.get(second)
	return a, b, err
}

// show prints resp as JSON or YAML, or its table.
func (c *operatorClient) show(cmd *cobra.Command, resp proto.Message, t *table) error {
	out := cmd.OutOrStdout()
	if c.output == "table" {
		return t.print(out)
	}
	b, err := codec.JSON.Marshal(resp)
	if err != nil {
		return err
	}
	if c.output == "json" {
		return printIndented(out, b)
	}
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		return err
	}
	y, err := yaml.Marshal(doc)
	if err != nil {
		return err
	}
	_, err = out.Write(y)
	return err
}

// withOperator runs an operator command with a client of the master.
func withOperator(run func(cmd *cobra.Command, c *operatorClient, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		c, err := newOperatorClient(cmd)
		if err != nil {
			return err
		}
		return run(cmd, c, args)
	}
}

// listing runs an operator command that shows the answer to one GET_*
// call.
func listing(what masterpb.Call_Type, tableOf func(cmd *cobra.Command, resp *masterpb.Response) *table) func(*cobra.Command, []string) error {
	return withOperator(func(cmd *cobra.Command, c *operatorClient, _ []string) error {
		resp, err := c.get(what)
		if err != nil {
			return err
		}
		return c.show(cmd, resp, tableOf(cmd, resp))
	})
}

// sending runs an operator command that makes one call of the args and
// sends it.
func sending(callOf func(cmd *cobra.Command, args []string) (*masterpb.Call, error)) func(*cobra.Command, []string) error {
	return withOperator(func(cmd *cobra.Command, c *operatorClient, args []string) error {
		call, err := callOf(cmd, args)
		if err != nil {
			return err
		}
		_, err = c.call(call)
		return err
	})
}
