// Package cplog keeps an agent's checkpoints in one append-only log: each
// change is one record appended with a single write(2), where a file per
// checkpoint cost an open, a write and a rename.
//
// # Format
//
// The log is one file, dir/log, holding records back to back:
//
//	header (12 bytes, little-endian)
//	  uint32 length of the body
//	  uint32 CRC-32C (Castagnoli) of the body
//	  uint32 CRC-32C of the first 8 header bytes
//	body
//	  byte   op: 1 put, 2 delete
//	  uvarint length of the key, then the key
//	  the value (the rest of the body; empty for a delete)
//
// Replaying the records in order gives the live records: the last put of
// each key not deleted since. A body is at most 64 MiB, so a damaged
// length cannot make a reader allocate gigabytes; the header's own
// checksum means a length that passed it was written as it reads.
//
// # Damage
//
// A record cut short at the end of the file, or a damaged one that no
// valid record follows, is what a crash in the middle of an append leaves
// (kill -9 during the write, or a machine crash that kept the file's size
// but not its last pages): it never happened. Open cuts it away and says
// so in the log; it is never an error, so an agent cannot crash-loop on
// it. A damaged record that valid records follow is damage in the middle:
// Open keeps what came before it, renames the file to log.<time>.corrupt
// for inspection, writes a fresh log of the live records and logs an
// error.
//
// # Durability
//
// Put and Delete return once their record is in the kernel: it survives
// the death of the process (kill -9), not a crash of the machine, which
// may lose the last records. Sync makes everything written so far
// durable. A write that fails (a full disk) is cut back off the file so
// later records never follow half a record; if even that fails, the next
// write first rewrites the log.
//
// # Compaction
//
// Once the log is larger than both 1 MiB and twice its live records, it is
// rewritten: the live records go to dir/log.tmp, which is synced, renamed
// over dir/log, and the directory synced. A crash before the rename leaves
// the old log whole and a stray log.tmp, which Open deletes; a crash after
// it leaves the new log. The rename that sets a damaged log aside runs
// after log.tmp is synced and before it is renamed into place: Open finds
// log.tmp without a log only then, and adopts it.
//
// A Log is safe for concurrent use, though the agent uses it from its
// loop only.
package cplog
