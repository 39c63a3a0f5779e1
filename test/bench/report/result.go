package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// result is one NAME.txt: the command that produced it, and either a
// scenario's JSON and table or go test -bench output.
type result struct {
	command string
	fields  map[string]any // the JSON line, nil for micro-benchmarks
	table   string
	benches []benchLine
}

type benchLine struct {
	name                      string
	nsPerOp, bPerOp, allocsOp float64
}

func parseResult(text string) (result, error) {
	first, rest, _ := strings.Cut(text, "\n")
	cmd, ok := strings.CutPrefix(first, "$ ")
	if !ok {
		return result{}, errors.New(`the first line is not "$ command"`)
	}
	r := result{command: strings.TrimSpace(cmd)}
	trimmed := strings.TrimLeft(rest, "\n")
	if strings.HasPrefix(trimmed, "{") {
		line, table, _ := strings.Cut(trimmed, "\n")
		if err := json.Unmarshal([]byte(line), &r.fields); err != nil {
			return result{}, fmt.Errorf("the JSON line: %w", err)
		}
		r.table = strings.TrimSpace(table) + "\n"
		return r, nil
	}
	for _, line := range strings.Split(rest, "\n") {
		if b, ok := parseBenchLine(line); ok {
			r.benches = append(r.benches, b)
		}
	}
	if len(r.benches) == 0 {
		return result{}, errors.New("neither a JSON result nor benchmark lines")
	}
	return r, nil
}

// parseBenchLine reads "BenchmarkX-2  100  123 ns/op  45 B/op  6 allocs/op".
func parseBenchLine(line string) (benchLine, bool) {
	f := strings.Fields(line)
	if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
		return benchLine{}, false
	}
	b := benchLine{name: f[0]}
	for i := 2; i+1 < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return benchLine{}, false
		}
		switch f[i+1] {
		case "ns/op":
			b.nsPerOp = v
		case "B/op":
			b.bPerOp = v
		case "allocs/op":
			b.allocsOp = v
		}
	}
	return b, b.nsPerOp > 0
}

func (r result) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Command: `%s`\n\n", r.command)
	if r.fields != nil {
		b.WriteString(r.table)
		return b.String()
	}
	b.WriteString("| benchmark | time/op | B/op | allocs/op |\n|---|---|---|---|\n")
	for _, x := range r.benches {
		fmt.Fprintf(&b, "| %s | %s | %.0f | %.0f |\n", x.name, duration(x.nsPerOp), x.bPerOp, x.allocsOp)
	}
	return b.String()
}

func duration(ns float64) string {
	switch {
	case ns >= 1e9:
		return fmt.Sprintf("%.2f s", ns/1e9)
	case ns >= 1e6:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.2f µs", ns/1e3)
	}
	return fmt.Sprintf("%.0f ns", ns)
}

// number reads a JSON field by a dotted path ("accept_to_running.p99_ms").
func (r result) number(path string) (float64, bool) {
	var v any = r.fields
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return 0, false
		}
		v = m[k]
	}
	f, ok := v.(float64)
	return f, ok
}
