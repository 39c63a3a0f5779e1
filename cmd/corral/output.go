package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

// table is what a listing command prints: a header and rows of cells,
// aligned in columns.
type table struct {
	header []string
	rows   [][]string
}

func newTable(header ...string) *table { return &table{header: header} }

// add appends a row; each cell is printed as fmt's %v prints it.
func (t *table) add(cells ...any) {
	row := make([]string, len(cells))
	for i, c := range cells {
		row[i] = fmt.Sprint(c)
	}
	t.rows = append(t.rows, row)
}

func (t *table) print(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(t.header, "\t"))
	for _, r := range t.rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// jsonOutput says whether a framework client command was given -o json;
// the commands without -o always print tables.
func jsonOutput(cmd *cobra.Command) bool {
	o, _ := cmd.Flags().GetString("output")
	return o == "json"
}

// showListing prints what a framework's API answered: v as JSON with
// -o json, else the table made of it.
func showListing[T any](cmd *cobra.Command, v T, tableOf func(T) *table) error {
	if jsonOutput(cmd) {
		return printJSON(cmd.OutOrStdout(), v)
	}
	return tableOf(v).print(cmd.OutOrStdout())
}

// printJSON prints v indented.
func printJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}

// printIndented prints JSON as it came, indented.
func printIndented(w io.Writer, raw []byte) error {
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, raw, "", "  "); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w, pretty.String())
	return err
}

// progress shows a changing status line while a client waits: redrawn in
// place on a terminal, a line per change otherwise.
type progress struct {
	out  io.Writer
	tty  bool
	last string
}

func newProgress(out io.Writer) *progress { return &progress{out: out, tty: isTerminal(out)} }

func (p *progress) show(line string) {
	if line == p.last {
		return
	}
	if p.tty {
		fmt.Fprintf(p.out, "\r\033[K%s", line)
	} else {
		fmt.Fprintln(p.out, line)
	}
	p.last = line
}

// end ends the redrawn line, so that what follows starts on a line of
// its own.
func (p *progress) end() {
	if p.tty {
		fmt.Fprintln(p.out)
	}
}

// gauge draws filled of width as "[###...]".
func gauge(filled, width int) string {
	return "[" + strings.Repeat("#", filled) + strings.Repeat(".", width-filled) + "]"
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
