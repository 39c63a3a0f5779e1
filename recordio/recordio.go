// Package recordio reads and writes RecordIO, the framing of Mesos' HTTP
// event streams: each record is its length in ASCII decimal, a newline, and
// exactly that many bytes. Records carry no separator, and HTTP chunk
// boundaries have nothing to do with record boundaries.
package recordio

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// maxLengthDigits bounds the length token; 20 digits hold any uint64.
const maxLengthDigits = 20

// ErrRecordTooLarge reports a record longer than the reader's limit.
var ErrRecordTooLarge = errors.New("recordio: record exceeds the size limit")

// Writer writes records to an underlying writer.
type Writer struct {
	w   io.Writer
	buf []byte
}

// NewWriter returns a Writer on w. If w can Flush (an http.ResponseWriter
// that is an http.Flusher, a bufio.Writer), every record is flushed so that
// it reaches the reader at once.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

type flusher interface{ Flush() }
type errFlusher interface{ Flush() error }

// WriteRecord writes p as one record.
func (w *Writer) WriteRecord(p []byte) error {
	w.buf = strconv.AppendInt(w.buf[:0], int64(len(p)), 10)
	w.buf = append(w.buf, '\n')
	w.buf = append(w.buf, p...)
	if _, err := w.w.Write(w.buf); err != nil {
		return fmt.Errorf("recordio: write: %w", err)
	}
	switch f := w.w.(type) {
	case errFlusher:
		if err := f.Flush(); err != nil {
			return fmt.Errorf("recordio: flush: %w", err)
		}
	case flusher:
		f.Flush()
	}
	return nil
}

// Reader reads records from an underlying reader.
type Reader struct {
	r   *bufio.Reader
	max int
}

// NewReader returns a Reader on r that refuses records longer than
// maxRecord bytes (0 or less means no limit).
//
// Its buffer holds length tokens and small records; a large record is read
// past it straight into the record's own slice. A bigger buffer saves
// little and costs every long-lived stream: 64 KiB per agent was most of
// the memory of 10,000 simulated agents.
func NewReader(r io.Reader, maxRecord int) *Reader {
	return &Reader{r: bufio.NewReaderSize(r, readBufferSize), max: maxRecord}
}

const readBufferSize = 4 << 10

// ReadRecord returns the next record. It returns io.EOF at a clean end of
// the stream and io.ErrUnexpectedEOF when the stream ends inside a record.
// Zero-length records are skipped. The returned slice is the caller's.
func (r *Reader) ReadRecord() ([]byte, error) {
	for {
		n, err := r.readLength()
		if err != nil {
			return nil, err
		}
		if n == 0 {
			continue
		}
		if r.max > 0 && n > uint64(r.max) {
			return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrRecordTooLarge, n, r.max)
		}
		if n > uint64(int(^uint(0)>>1)) {
			return nil, fmt.Errorf("%w: %d bytes", ErrRecordTooLarge, n)
		}
		rec := make([]byte, n)
		if _, err := io.ReadFull(r.r, rec); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("recordio: reading a %d-byte record: %w", n, err)
		}
		return rec, nil
	}
}

// readLength reads the length token and its newline, tolerating
// whitespace around the digits (such as "\r\n").
func (r *Reader) readLength() (uint64, error) {
	var digits [maxLengthDigits]byte
	nd := 0
	started, ended := false, false
	for {
		c, err := r.r.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) {
				if !started {
					return 0, io.EOF
				}
				return 0, io.ErrUnexpectedEOF
			}
			return 0, fmt.Errorf("recordio: reading a length: %w", err)
		}
		switch {
		case c == '\n':
			if nd == 0 {
				if started {
					return 0, errors.New("recordio: empty length token")
				}
				continue // blank line between records
			}
			n, err := strconv.ParseUint(string(digits[:nd]), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("recordio: bad length %q: %w", digits[:nd], err)
			}
			return n, nil
		case c == ' ' || c == '\t' || c == '\r':
			if nd > 0 {
				ended = true
			}
			started = true
		case c >= '0' && c <= '9':
			if ended {
				return 0, errors.New("recordio: whitespace inside a length token")
			}
			if nd == maxLengthDigits {
				return 0, fmt.Errorf("recordio: length token longer than %d digits", maxLengthDigits)
			}
			digits[nd] = c
			nd++
			started = true
		default:
			return 0, fmt.Errorf("recordio: unexpected byte %q in a length token", c)
		}
	}
}
