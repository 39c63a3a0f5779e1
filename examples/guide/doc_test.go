package guide_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/frameworks.md's code blocks from the files they include")

const guideDoc = "docs/frameworks.md"

// includeMarker precedes every code block of the guide and names the file
// the block shows whole.
var includeMarker = regexp.MustCompile(`^<!-- include (\S+) -->$`)

// The guide shows code only as whole files that its tests compile and run:
// every fenced block must follow an include marker and equal that file.
// go test ./examples/guide -run TestGuideCodeBlocksAreTheFiles -update
// rewrites the blocks after the files changed.
func TestGuideCodeBlocksAreTheFiles(t *testing.T) {
	root := filepath.Join("..", "..")
	doc, err := os.ReadFile(filepath.Join(root, guideDoc))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(doc), "\n")
	var out bytes.Buffer
	included := 0
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		out.WriteString(line)
		if !strings.HasPrefix(line, "```") {
			continue
		}
		end := i + 1
		for end < len(lines) && !strings.HasPrefix(lines[end], "```") {
			end++
		}
		if end == len(lines) {
			t.Fatalf("%s:%d: a code block is not closed", guideDoc, i+1)
		}
		block := strings.Join(lines[i+1:end], "")
		m := includeMarker.FindStringSubmatch(strings.TrimSpace(previous(lines, i)))
		if m == nil {
			t.Errorf("%s:%d: a code block without an include marker: its code is run by no test", guideDoc, i+1)
			out.WriteString(block)
		} else {
			included++
			file, err := os.ReadFile(filepath.Join(root, m[1]))
			if err != nil {
				t.Fatalf("%s:%d: %v", guideDoc, i+1, err)
			}
			if block != string(file) && !*update {
				t.Errorf("%s:%d: the block differs from %s (%s); rerun with -update", guideDoc, i+1, m[1], firstDifference(block, string(file)))
			}
			out.Write(file)
		}
		out.WriteString(lines[end])
		i = end
	}
	if included == 0 {
		t.Fatalf("%s includes no files", guideDoc)
	}
	if *update {
		if err := os.WriteFile(filepath.Join(root, guideDoc), out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func previous(lines []string, i int) string {
	if i == 0 {
		return ""
	}
	return lines[i-1]
}

func firstDifference(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(al), len(bl)) {
		if al[i] != bl[i] {
			return fmt.Sprintf("line %d: %q in the doc, %q in the file", i+1, al[i], bl[i])
		}
	}
	return fmt.Sprintf("%d lines in the doc, %d in the file", len(al), len(bl))
}
