package cplog

import (
	"bufio"
	"errors"
	"fmt"
	"os"

	"github.com/corral-sched/corral/internal/fsync"
)

// rewriteLocked replaces the log by one holding only the live records:
// written to log.tmp, synced, renamed over the log (after setting a
// damaged log aside, if one is to be), and the directory synced. Every
// crash between two steps leaves a log Open reads whole (package doc).
func (l *Log) rewriteLocked() (err error) {
	tmp := l.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("creating %s: %w", tmp, err)
	}
	next := l.wrap(f)
	defer func() {
		if err != nil && !errors.Is(err, errCrashed) {
			next.Close()
			os.Remove(tmp)
		} else if err != nil {
			next.Close() // as the death of the process would
		}
	}()
	if l.crashAt("created") {
		return errCrashed
	}
	w := bufio.NewWriterSize(next, 1<<20)
	half, i := len(l.live)/2, 0
	for _, rec := range l.live {
		if _, err := w.Write(rec); err != nil {
			return fmt.Errorf("writing %s: %w", tmp, err)
		}
		if i++; i == half {
			if err := w.Flush(); err != nil {
				return fmt.Errorf("writing %s: %w", tmp, err)
			}
			if l.crashAt("half-written") {
				return errCrashed
			}
		}
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("writing %s: %w", tmp, err)
	}
	if l.crashAt("written") {
		return errCrashed
	}
	if err := next.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", tmp, err)
	}
	if l.crashAt("synced") {
		return errCrashed
	}
	if l.setAside != "" {
		if err := os.Rename(l.path, l.setAside); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("setting the damaged log aside: %w", err)
		}
		if l.crashAt("set-aside") {
			return errCrashed
		}
	}
	if err := os.Rename(tmp, l.path); err != nil {
		return fmt.Errorf("renaming %s: %w", tmp, err)
	}
	// From here on the new log is the log, whatever fails.
	l.f.Close()
	l.f, l.size, l.broken, l.setAside, l.nextCompact = next, l.liveSize, false, "", 0
	if l.crashAt("renamed") {
		return nil
	}
	if err := fsync.Dir(l.dir); err != nil {
		l.log.Warn("checkpoint log: could not sync its directory after a rewrite", "dir", l.dir, "err", err)
	}
	return nil
}

func (l *Log) crashAt(step string) bool { return l.hooks.crash != nil && l.hooks.crash(step) }
