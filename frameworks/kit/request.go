package kit

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
)

// MaxBody bounds a request body: a submission is a spec, not data.
const MaxBody = 1 << 20

// ReadBody reads the JSON body of a request that submits a what (e.g.
// "job"), of at most MaxBody bytes. A body of another type is answered
// 415, one too large 413, and ReadBody reports false.
func ReadBody(w http.ResponseWriter, r *http.Request, what string) ([]byte, bool) {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		WriteError(w, http.StatusUnsupportedMediaType, "send the %s as application/json, not %s", what, ct)
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		WriteError(w, http.StatusRequestEntityTooLarge, "the %s exceeds %d bytes", what, MaxBody)
		return nil, false
	}
	return body, true
}

// ErrTrailingData is DecodeStrict's error for a body with more after its
// JSON value.
var ErrTrailingData = errors.New("trailing data")

// DecodeStrict decodes body, one JSON value, into v. Unknown fields are
// errors, so that a misspelt setting is not silently ignored; anything
// after the value is ErrTrailingData.
func DecodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return ErrTrailingData
	}
	return nil
}
