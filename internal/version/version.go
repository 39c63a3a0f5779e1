// Package version holds the build's version, set at link time:
//
//	go build -ldflags "-X github.com/corral-sched/corral/internal/version.Version=v0.1.0 -X github.com/corral-sched/corral/internal/version.GitSHA=abc123"
package version

// Version is the release version; "dev" for untagged builds.
var Version = "dev"

// GitSHA is the commit the binary was built from, when known.
var GitSHA = ""

// String returns the version with the commit, when known.
func String() string {
	if GitSHA == "" {
		return Version
	}
	return Version + " (" + GitSHA + ")"
}
