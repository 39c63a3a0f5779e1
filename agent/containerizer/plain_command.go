package containerizer

import (
	"slices"
	"strings"
)

// A shell command is most often a program and its arguments ("sleep
// 3600", "python3 -m http.server 8080"), for which `sh -c` does nothing
// but look the program up on PATH and exec it. Under the exit-status
// wrapper, whose subshell already does exactly that (`exec "$@"`), such a
// command runs as its words, without a second shell: one exec fewer per
// task, a third of the processes a short task starts. Anything the shell
// would do more with (quotes, expansions, redirections, operators,
// globs, assignments, comments, keywords and builtins, several lines)
// still goes to `sh -c`.

// plainCommand returns the words of cmd when it is such a command.
func plainCommand(cmd string) ([]string, bool) {
	// Split on spaces alone: a tab or a newline is not a plain rune, and
	// a newline would end the command.
	words := slices.DeleteFunc(strings.Split(cmd, " "), func(w string) bool { return w == "" })
	if len(words) == 0 || strings.Contains(words[0], "=") || shellOwn[words[0]] {
		return nil, false
	}
	for _, w := range words {
		for _, r := range w {
			if !plainRune(r) {
				return nil, false
			}
		}
	}
	return words, true
}

func plainRune(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return true
	}
	return strings.ContainsRune("_-./,:@%+=", r)
}

// shellOwn are the words a shell runs itself rather than look up on PATH:
// reserved words and the builtins of dash and POSIX.
var shellOwn = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`! { } case do done elif else esac fi for function if in select then until while
		. : [ alias bg break cd chdir command continue echo eval exec exit export false fc fg getopts hash jobs kill
		local printf pwd read readonly return set shift test times trap true type ulimit umask unalias unset wait`) {
		m[w] = true
	}
	return m
}()
