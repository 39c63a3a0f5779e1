// Package fsync makes changes to a directory durable: after a file is
// created, renamed or removed, only a sync of its directory makes the
// change itself survive a machine crash.
package fsync

import "os"

// Dir flushes dir's entries to disk. Its errors name dir.
func Dir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
