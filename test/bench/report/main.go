// Command report writes the results of `make bench` into
// docs/PERFORMANCE.md. Each result is a file NAME.txt in the results
// directory: a first line "$ command", then what the command printed
// (for `corral-bench` scenarios a JSON line and a markdown table; for
// micro-benchmarks, `go test -bench` output). The document holds one
// section per name between the markers
//
//	<!-- bench:NAME -->
//	…
//	<!-- /bench -->
//
// and report replaces what is between them, leaving the rest of the
// document (the historical sections) as it is. Two sections are made
// here rather than read: bench:machine (where and when) and
// bench:targets (each target, its anchor, the figure and by how much it
// is met or missed).
//
// Run it with `go run ./test/bench/report -doc docs/PERFORMANCE.md -results .work/bench`.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/corral-sched/corral/internal/testkit/benchkit"
)

func main() {
	doc := flag.String("doc", "docs/PERFORMANCE.md", "the document to rewrite")
	results := flag.String("results", ".work/bench", "directory of NAME.txt results")
	flag.Parse()
	if err := run(*doc, *results); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

func run(docPath, dir string) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.txt"))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no results (*.txt) in %s", dir)
	}
	results := map[string]result{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		name := strings.TrimSuffix(filepath.Base(f), ".txt")
		r, err := parseResult(string(b))
		if err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		results[name] = r
	}
	sections := map[string]string{}
	for name, r := range results {
		sections[name] = r.markdown()
	}
	sections["machine"] = machineSection(benchkit.ThisMachine())
	sections["targets"] = targetsSection(results)
	b, err := os.ReadFile(docPath)
	if err != nil {
		return err
	}
	out, err := rewrite(string(b), sections)
	if err != nil {
		return fmt.Errorf("%s: %w", docPath, err)
	}
	return os.WriteFile(docPath, []byte(out), 0o644)
}

const (
	openPrefix = "<!-- bench:"
	openSuffix = " -->"
	closeMark  = "<!-- /bench -->"
)

// rewrite replaces the body of each marked section of doc named in
// sections. Every name in sections must have a section in doc (a result
// nobody reads is a mistake); sections without a result keep their body.
func rewrite(doc string, sections map[string]string) (string, error) {
	lines := strings.SplitAfter(doc, "\n")
	var out strings.Builder
	seen := map[string]bool{}
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		out.WriteString(line)
		name, ok := openMarker(line)
		if !ok {
			if strings.TrimSpace(line) == closeMark {
				return "", fmt.Errorf("line %d: %s without an opening marker", i+1, closeMark)
			}
			continue
		}
		if seen[name] {
			return "", fmt.Errorf("line %d: a second section %q", i+1, name)
		}
		seen[name] = true
		end := -1
		for j := i + 1; j < len(lines); j++ {
			if strings.TrimSpace(lines[j]) == closeMark {
				end = j
				break
			}
			if _, nested := openMarker(lines[j]); nested {
				return "", fmt.Errorf("line %d: section %q opened inside %q", j+1, lines[j], name)
			}
		}
		if end < 0 {
			return "", fmt.Errorf("line %d: section %q is not closed by %s", i+1, name, closeMark)
		}
		if body, ok := sections[name]; ok {
			if !strings.HasSuffix(body, "\n") {
				body += "\n"
			}
			out.WriteString(body)
		} else {
			out.WriteString(strings.Join(lines[i+1:end], ""))
		}
		out.WriteString(lines[end])
		i = end
	}
	var missing []string
	for name := range sections {
		if !seen[name] {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return "", fmt.Errorf("no section for %s: add a %sNAME%s … %s pair", strings.Join(missing, ", "), openPrefix, openSuffix, closeMark)
	}
	return out.String(), nil
}

func openMarker(line string) (string, bool) {
	s := strings.TrimSpace(line)
	if !strings.HasPrefix(s, openPrefix) || !strings.HasSuffix(s, openSuffix) {
		return "", false
	}
	name := strings.TrimSuffix(strings.TrimPrefix(s, openPrefix), openSuffix)
	return name, name != "" && !strings.ContainsAny(name, " \t")
}

func machineSection(m benchkit.Machine) string {
	return fmt.Sprintf("Last `make bench`: %s, %d cores (%s), %s. The machine is shared with other work: each table gives the load average when it started.\n",
		m.Date, m.Cores, m.CPU, m.GoVersion)
}
