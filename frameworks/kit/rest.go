package kit

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// Encode renders v as indented JSON with a final newline. A value that
// cannot be encoded becomes a message saying so: views share a framework's
// state, so callers encode while they hold its lock and write afterwards.
func Encode(v any) []byte {
	b, err := encode(v)
	if err != nil {
		b, _ = json.Marshal(map[string]string{"message": "encoding the answer: " + err.Error()})
		b = append(b, '\n')
	}
	return b
}

func encode(v any) ([]byte, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// WriteRaw answers status with b, already JSON.
func WriteRaw(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// WriteJSON answers status with v as JSON; a value that cannot be
// encoded is a 500 saying why, not a half-written answer.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := encode(v)
	if err != nil {
		status, b = http.StatusInternalServerError, Encode(map[string]string{"message": "encoding the answer: " + err.Error()})
	}
	WriteRaw(w, status, b)
}

// WriteError answers status with {"message": ...}, the shape Marathon's
// API and the bundled frameworks' clients read.
func WriteError(w http.ResponseWriter, status int, format string, args ...any) {
	WriteJSON(w, status, map[string]string{"message": fmt.Sprintf(format, args...)})
}
