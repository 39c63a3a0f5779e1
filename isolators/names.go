package isolators

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Known lists the isolators by Mesos' names, in the order the
// containerizer prepares them: volumes are resolved before a file system
// isolator makes them appear, namespaces and cgroups before what measures
// the result. namespaces/net and network/cni work together: a container
// that names CNI networks (network_infos) joins the namespace network/cni
// made and attached for it, any other gets loopback only; with
// network/cni alone, the others share the host's network.
var Known = []string{
	"volume/sandbox_path",
	"volume/host_path",
	"filesystem/posix",
	"filesystem/linux",
	"docker/runtime",
	"namespaces/pid",
	"namespaces/ipc",
	"namespaces/uts",
	"namespaces/net",
	"network/cni",
	"cgroups/cpu",
	"cgroups/mem",
	"cgroups/pids",
	"cgroups/devices",
	"posix/cpu",
	"posix/mem",
	"disk/du",
}

// aliases are names Mesos also accepts, for the isolator they stand for.
var aliases = map[string][]string{
	"posix/disk":  {"disk/du"}, // Mesos' older name of disk/du
	"cgroups/all": {"cgroups/cpu", "cgroups/mem", "cgroups/pids", "cgroups/devices"},
}

// Shorthands are the --isolation values that stand for a whole list.
// "sim" runs no isolators: simulated agents fork nothing. "auto" is
// "linux" when the agent can run it, else "posix".
var Shorthands = map[string][]string{
	"posix": {"filesystem/posix", "posix/cpu", "posix/mem", "disk/du", "volume/sandbox_path", "volume/host_path"},
	"linux": {"filesystem/linux", "namespaces/pid", "namespaces/ipc", "namespaces/uts",
		"cgroups/cpu", "cgroups/mem", "cgroups/pids", "cgroups/devices", "disk/du", "volume/sandbox_path", "volume/host_path"},
	"sim": nil,
}

// Env is what an agent can do here, for the checks of Expand.
type Env struct {
	// Linux is "" when this agent can make linux containers (root,
	// cgroups, a build with libcontainer), else why not.
	Linux string
}

// Selection is an expanded --isolation list.
type Selection struct {
	// Names are the isolators to run, in Known's order.
	Names []string
	// Sim is set for simulated agents, which fork nothing.
	Sim bool
}

// Has reports whether the selection includes the isolator name.
func (s Selection) Has(name string) bool { return slices.Contains(s.Names, name) }

// String is the selection as --isolation would spell it, expanded.
func (s Selection) String() string {
	if s.Sim {
		return "sim"
	}
	return strings.Join(s.Names, ",")
}

// Linux reports whether the selection needs the linux launcher: a
// container with a root, namespaces, cgroups or a network of its own.
func (s Selection) Linux() bool {
	for _, n := range s.Names {
		if needsLinux(n) {
			return true
		}
	}
	return false
}

// needsLinux reports whether isolator n works only in a linux container.
// network/cni joins the container to a network namespace made before it
// starts, which only the linux launcher can do.
func needsLinux(n string) bool {
	return n == "filesystem/linux" || n == "network/cni" || strings.HasPrefix(n, "namespaces/") || strings.HasPrefix(n, "cgroups/")
}

// Expand turns an --isolation value (a shorthand, or Mesos' comma-
// separated list of isolator names) into the isolators to run, and
// refuses names it does not know and lists that cannot work together or
// here.
func Expand(list string, env Env) (Selection, error) {
	list = strings.TrimSpace(list)
	switch list {
	case "", "auto":
		if env.Linux == "" {
			list = "linux"
		} else {
			list = "posix"
		}
	case "sim":
		return Selection{Sim: true}, nil
	}
	if names, ok := Shorthands[list]; ok {
		list = strings.Join(names, ",")
	}
	seen := map[string]bool{}
	for _, entry := range strings.Split(list, ",") {
		entry = strings.TrimSpace(entry)
		names := []string{entry}
		switch {
		case entry == "":
			return Selection{}, fmt.Errorf("isolation %q: an empty entry between commas", list)
		case aliases[entry] != nil:
			names = aliases[entry]
		case entry == "sim" || Shorthands[entry] != nil:
			return Selection{}, fmt.Errorf("isolation %q: %q is a shorthand for a whole list and cannot be combined with other entries", list, entry)
		case !slices.Contains(Known, entry):
			return Selection{}, fmt.Errorf("isolation %q: unknown isolator %q (known: %s; shorthands: auto, linux, posix, sim)",
				list, entry, strings.Join(Known, ", "))
		}
		for _, n := range names {
			seen[n] = true
		}
	}
	var names []string
	for _, n := range Known {
		if seen[n] {
			names = append(names, n)
		}
	}
	return check(names, env)
}

// check refuses lists that cannot work together or here, and puts the
// file system isolator Mesos implies (filesystem/posix) where none is
// named.
func check(names []string, env Env) (Selection, error) {
	s := Selection{Names: names}
	if s.Has("filesystem/linux") && s.Has("filesystem/posix") {
		return Selection{}, errors.New("isolation: filesystem/linux and filesystem/posix exclude each other: a container has one root")
	}
	if s.Has("docker/runtime") && !s.Has("filesystem/linux") {
		// An image's config means something only in the image's root.
		return Selection{}, errors.New("isolation: docker/runtime needs filesystem/linux: images run in a root of their own")
	}
	if s.Linux() {
		if !s.Has("filesystem/linux") {
			var which []string
			for _, n := range names {
				if needsLinux(n) {
					which = append(which, n)
				}
			}
			return Selection{}, fmt.Errorf("isolation: %s need filesystem/linux: corral's linux launcher gives every container a root of its own", strings.Join(which, ", "))
		}
		if env.Linux != "" {
			return Selection{}, fmt.Errorf("isolation: %s cannot run here: %s (use posix)", s.linuxNames(), env.Linux)
		}
	}
	if !s.Has("filesystem/linux") && !s.Has("filesystem/posix") {
		s.Names = insertKnown(s.Names, "filesystem/posix")
	}
	return s, nil
}

func (s Selection) linuxNames() string {
	var out []string
	for _, n := range s.Names {
		if needsLinux(n) {
			out = append(out, n)
		}
	}
	return strings.Join(out, ", ")
}

// insertKnown adds name to names, keeping Known's order.
func insertKnown(names []string, name string) []string {
	out := append(slices.Clone(names), name)
	slices.SortFunc(out, func(a, b string) int { return slices.Index(Known, a) - slices.Index(Known, b) })
	return out
}
