package httpbody

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/corral-sched/corral/proto/mesospb"
	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/codec"
)

func TestReadCallAnswersWhatIsWrong(t *testing.T) {
	for _, c := range []struct {
		name, contentType, body string
		status                  int
		says                    string
	}{
		{"no content type", "", `{}`, http.StatusBadRequest, "to be present"},
		{"another content type", "text/plain", `{}`, http.StatusUnsupportedMediaType, `got "text/plain"`},
		{"not the call", "application/json", `{"value": [1]}`, http.StatusBadRequest, "Failed to parse body"},
		{"too big", "application/json", `{"value": "` + strings.Repeat("x", 100) + `"}`, http.StatusRequestEntityTooLarge, "exceeds 64 bytes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/api/v1", strings.NewReader(c.body))
			if c.contentType != "" {
				r.Header.Set("Content-Type", c.contentType)
			}
			w := httptest.NewRecorder()
			if _, ok := ReadCall(w, r, 64, &mesospb.TaskID{}); ok {
				t.Fatal("the call was read")
			}
			if w.Code != c.status || !strings.Contains(w.Body.String(), c.says) {
				t.Fatalf("answered %d %q, want %d saying %q", w.Code, w.Body.String(), c.status, c.says)
			}
		})
	}
	r := httptest.NewRequest(http.MethodPost, "/api/v1", strings.NewReader(`{"value": "ok"}`))
	r.Header.Set("Content-Type", "application/json")
	var got mesospb.TaskID
	if c, ok := ReadCall(httptest.NewRecorder(), r, 64, &got); !ok || c != codec.JSON || got.GetValue() != "ok" {
		t.Fatalf("a good call read as %v (%v, %v)", got.GetValue(), c, ok)
	}
}

func TestAcceptCodec(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "/api/v1", nil)
	if c, ok := AcceptCodec(httptest.NewRecorder(), r, codec.Protobuf); !ok || c != codec.Protobuf {
		t.Fatalf("without Accept: %v %v, want the request's own codec", c, ok)
	}
	r.Header.Set("Accept", "application/json")
	if c, ok := AcceptCodec(httptest.NewRecorder(), r, codec.Protobuf); !ok || c != codec.JSON {
		t.Fatalf("Accept JSON: %v %v", c, ok)
	}
	r.Header.Set("Accept", "text/html")
	w := httptest.NewRecorder()
	if _, ok := AcceptCodec(w, r, codec.Protobuf); ok || w.Code != http.StatusNotAcceptable {
		t.Fatalf("Accept text/html: answered %d, want 406", w.Code)
	}
}

func TestWriteResponse(t *testing.T) {
	w := httptest.NewRecorder()
	var none *mesospb.TaskID
	WriteResponse(w, codec.JSON, none)
	if w.Code != http.StatusOK || w.Body.Len() != 0 || w.Header().Get("Content-Type") != "" {
		t.Fatalf("a nil response: %d %q %q, want 200 without a body", w.Code, w.Header().Get("Content-Type"), w.Body.String())
	}
	w = httptest.NewRecorder()
	WriteResponse(w, codec.JSON, &mesospb.TaskID{Value: proto.String("t")})
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != codec.JSON.MediaType() || !strings.Contains(w.Body.String(), `"t"`) {
		t.Fatalf("a response: %d %q %q", w.Code, w.Header().Get("Content-Type"), w.Body.String())
	}
}
