package recordio

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestReadRecords(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string
		wantErr error
		errText string
	}{
		{name: "two records", in: "5\nhello3\nabc", want: []string{"hello", "abc"}},
		{name: "crlf and spaces around the length", in: " 2\r\nhi", want: []string{"hi"}},
		{name: "zero-length records are skipped", in: "0\n2\nok", want: []string{"ok"}},
		{name: "empty stream", in: "", want: nil},
		{name: "cut inside a record", in: "5\nhel", want: nil, wantErr: io.ErrUnexpectedEOF},
		{name: "cut inside a length", in: "12", want: nil, wantErr: io.ErrUnexpectedEOF},
		{name: "not a number", in: "x\nabc", errText: "unexpected byte"},
		{name: "too many digits", in: "123456789012345678901\n", errText: "longer than"},
		{name: "over the limit", in: "2000\n", wantErr: ErrRecordTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(strings.NewReader(tt.in), 1024)
			var got []string
			var err error
			for {
				var rec []byte
				rec, err = r.ReadRecord()
				if err != nil {
					break
				}
				got = append(got, string(rec))
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Fatalf("records = %q, want %q", got, tt.want)
			}
			switch {
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			case tt.errText != "" && (err == nil || !strings.Contains(err.Error(), tt.errText)):
				t.Fatalf("err = %v, want one mentioning %q", err, tt.errText)
			case tt.wantErr == nil && tt.errText == "" && err != io.EOF:
				t.Fatalf("err = %v, want io.EOF", err)
			}
		})
	}
}

// oneByteWriter splits every write, as a network may.
type oneByteWriter struct{ w io.Writer }

func (o oneByteWriter) Write(p []byte) (int, error) {
	for i := range p {
		if _, err := o.w.Write(p[i : i+1]); err != nil {
			return i, err
		}
	}
	return len(p), nil
}

func TestRoundTripThroughAPipe(t *testing.T) {
	pr, pw := io.Pipe()
	records := [][]byte{[]byte("a"), bytes.Repeat([]byte("x"), 70000), []byte("\n\n5\n"), []byte("last")}
	go func() {
		w := NewWriter(oneByteWriter{pw})
		for _, rec := range records {
			if err := w.WriteRecord(rec); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		pw.Close()
	}()
	r := NewReader(pr, 0)
	for i, want := range records {
		got, err := r.ReadRecord()
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("record %d = %q, want %q", i, got[:min(len(got), 20)], want[:min(len(want), 20)])
		}
	}
	if _, err := r.ReadRecord(); err != io.EOF {
		t.Fatalf("after the last record: %v, want io.EOF", err)
	}
}

type countingFlusher struct {
	bytes.Buffer
	flushes int
}

func (c *countingFlusher) Flush() { c.flushes++ }

func TestWriterFlushesEveryRecord(t *testing.T) {
	var f countingFlusher
	w := NewWriter(&f)
	for range 3 {
		if err := w.WriteRecord([]byte("ab")); err != nil {
			t.Fatal(err)
		}
	}
	if f.flushes != 3 || f.String() != "2\nab2\nab2\nab" {
		t.Fatalf("flushes = %d, output %q", f.flushes, f.String())
	}
}

func FuzzReader(f *testing.F) {
	for _, seed := range []string{"5\nhello", "0\n", "3\r\nabc2\nde", "x", "99999999999999999999\n", "\n\n1\na"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r := NewReader(bytes.NewReader(in), 1<<16)
		for range len(in) + 1 {
			if _, err := r.ReadRecord(); err != nil {
				return
			}
		}
	})
}

func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte("hello"), []byte(""), []byte("12\n"))
	f.Fuzz(func(t *testing.T, a, b, c []byte) {
		var buf bytes.Buffer
		w := NewWriter(&buf)
		for _, rec := range [][]byte{a, b, c} {
			if err := w.WriteRecord(rec); err != nil {
				t.Fatal(err)
			}
		}
		r := NewReader(&buf, 0)
		for _, want := range [][]byte{a, b, c} {
			if len(want) == 0 {
				continue // empty records are skipped by design
			}
			got, err := r.ReadRecord()
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("got %q, %v; want %q", got, err, want)
			}
		}
		if _, err := r.ReadRecord(); err != io.EOF {
			t.Fatalf("trailing data: %v", err)
		}
	})
}
