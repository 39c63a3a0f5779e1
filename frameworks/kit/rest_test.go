package kit

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestWriteJSONAndWriteError(t *testing.T) {
	w := httptest.NewRecorder()
	WriteJSON(w, http.StatusCreated, map[string]int{"n": 1})
	if w.Code != http.StatusCreated || w.Header().Get("Content-Type") != "application/json" || w.Body.String() != "{\n  \"n\": 1\n}\n" {
		t.Errorf("WriteJSON: %d %q %q", w.Code, w.Header().Get("Content-Type"), w.Body.String())
	}
	w = httptest.NewRecorder()
	WriteError(w, http.StatusNotFound, "job %q does not exist", "x")
	var msg struct{ Message string }
	if w.Code != http.StatusNotFound || json.Unmarshal(w.Body.Bytes(), &msg) != nil || msg.Message != `job "x" does not exist` {
		t.Errorf("WriteError: %d %q", w.Code, w.Body.String())
	}
}

// A value JSON cannot encode is a 500 that says so, never a 200 with
// half an answer.
func TestWriteJSONOfWhatCannotBeEncoded(t *testing.T) {
	w := httptest.NewRecorder()
	WriteJSON(w, http.StatusOK, map[string]any{"f": func() {}})
	if w.Code != http.StatusInternalServerError || !strings.Contains(w.Body.String(), "encoding the answer") {
		t.Errorf("got %d %q", w.Code, w.Body.String())
	}
	if b := Encode(make(chan int)); !json.Valid(b) || !strings.Contains(string(b), "encoding the answer") {
		t.Errorf("Encode of a channel: %q", b)
	}
}
