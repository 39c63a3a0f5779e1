// Package fetcher puts a task's CommandInfo.uris into its sandbox before it
// starts: http(s) downloads, file:// URIs and plain paths, optionally
// through a per-agent cache, extracting archives (tar, tar.gz, tgz,
// tar.bz2, tar.xz, zip) and marking files executable. A failure names the
// URI and what went wrong.
//
// Two promises hold whatever a framework sends:
//
//   - Nothing a URI or an archive names lands outside the sandbox. Every
//     file, directory and link is created relative to one descriptor of the
//     sandbox, each path resolved by the kernel with openat2(2)
//     RESOLVE_BENEATH, so a "..", an absolute link, a chain of relative
//     links that climbs out (a/b -> . repeated until a link's ".." run
//     leaves the tree) or a link planted in the sandbox beforehand fails
//     the fetch instead of being followed. Hard links, device nodes and
//     FIFOs are refused, setuid/setgid/sticky bits dropped, and an archive
//     may write at most Fetcher.MaxExtractBytes in MaxExtractEntries
//     entries.
//   - A fetch reads and writes as the task's user, as Mesos' fetcher does.
//     When the agent runs as root and the task runs as another uid, the
//     sandbox directory itself is handed to that user and the file work
//     (opening file:// sources, creating files, extracting, reading and
//     filling the cache) happens on an OS thread whose filesystem uid, gid
//     and supplementary groups are the user's; the kernel then applies the
//     user's permission checks and the files belong to the user. That
//     thread is locked and never unlocked, so it dies with its goroutine
//     and never serves other Go code with those credentials. Network I/O
//     needs no credentials and runs in net/http's own goroutines. A task
//     running as nobody therefore cannot fetch a root-only host file.
//
// The cache keeps one directory per uid (<CacheDir>/<uid>/<sha256 of the
// URI>, mode 0700, owned by that uid), so an entry filled by one user is
// never served to another; least recently used entries across all users
// go first once CacheSize is exceeded.
package fetcher
