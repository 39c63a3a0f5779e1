package dns

import (
	"strconv"
	"strings"
)

// maxLabel is a DNS label's limit (RFC 1035).
const maxLabel = 63

// label turns s into one DNS label as Mesos-DNS does for task names:
// lower case; letters, digits and '-' kept; '.', '_' and every other
// character made '-'; runs of '-' kept but none at either end; at most 63
// characters. It returns "" when nothing is left.
func label(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
		if b.Len() >= maxLabel {
			break
		}
	}
	out := b.String()
	if len(out) > maxLabel {
		out = out[:maxLabel]
	}
	return strings.Trim(out, "-")
}

// dotted sanitizes a name that may span labels (a framework's name, the
// domain): each dot-separated part becomes a label; empty parts go.
func dotted(s string) string {
	var parts []string
	for p := range strings.SplitSeq(s, ".") {
		if l := label(p); l != "" {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, ".")
}

// PetName is the stable name the records give a pet (the pets
// framework's ordinal `ordinal` of set `set`), e.g. "db-0.db.pets.corral":
// pets use it to tell their peers where they are.
func PetName(set string, ordinal int, framework, domain string) string {
	return label(set+"-"+strconv.Itoa(ordinal)) + "." + label(set) + "." + dotted(framework) + "." + dotted(domain)
}
