package kit

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestReadBodyRefusesOtherTypesAndLargeBodies(t *testing.T) {
	for _, tc := range []struct {
		ct, body string
		status   int
		msg      string
	}{
		{"application/json", `{"id":"x"}`, 0, ""},
		{"", `{"id":"x"}`, 0, ""},
		{"application/yaml", "id: x", http.StatusUnsupportedMediaType, "send the job as application/json, not application/yaml"},
		{"application/json", strings.Repeat(" ", MaxBody+1), http.StatusRequestEntityTooLarge, "the job exceeds 1048576 bytes"},
	} {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tc.body))
		if tc.ct != "" {
			req.Header.Set("Content-Type", tc.ct)
		}
		w := httptest.NewRecorder()
		body, ok := ReadBody(w, req, "job")
		switch {
		case tc.status == 0 && (!ok || string(body) != tc.body):
			t.Errorf("%q: got %v %q", tc.ct, ok, body)
		case tc.status != 0 && (ok || w.Code != tc.status || !strings.Contains(w.Body.String(), tc.msg)):
			t.Errorf("%q, %d bytes: %v %d %q, want %d %q", tc.ct, len(tc.body), ok, w.Code, w.Body.String(), tc.status, tc.msg)
		}
	}
}

func TestDecodeStrictRefusesUnknownFieldsAndTrailingData(t *testing.T) {
	var v struct {
		ID string `json:"id"`
	}
	if err := DecodeStrict([]byte(` {"id":"a"} `), &v); err != nil || v.ID != "a" {
		t.Errorf("one value: %v %q", err, v.ID)
	}
	if err := DecodeStrict([]byte(`{"id":"a","idd":1}`), &v); err == nil || !strings.Contains(err.Error(), `unknown field "idd"`) {
		t.Errorf("unknown field: %v", err)
	}
	if err := DecodeStrict([]byte(`{"id":"a"} {}`), &v); err != ErrTrailingData {
		t.Errorf("trailing value: %v, want ErrTrailingData", err)
	}
	if err := DecodeStrict([]byte(`{"id":`), &v); err == nil || err == ErrTrailingData {
		t.Errorf("malformed: %v", err)
	}
}
