package httpbody

import (
	"errors"
	"fmt"
	"net/http"

	"google.golang.org/protobuf/proto"

	"github.com/corral-sched/corral/codec"
)

// The v1 APIs (scheduler, operator, agent, executor) take calls as JSON
// or protobuf, as the request's Content-Type says, and answer in what its
// Accept allows. These answer a request that gets either wrong, saying
// what was expected.

// ContentCodec is the codec r's Content-Type names; without one, or with
// another, it has answered 400 or 415.
func ContentCodec(w http.ResponseWriter, r *http.Request) (codec.Codec, bool) {
	c, err := codec.ForContentType(r.Header.Get("Content-Type"))
	switch {
	case errors.Is(err, codec.ErrNoContentType):
		http.Error(w, "Expecting 'Content-Type' to be present", http.StatusBadRequest)
		return nil, false
	case err != nil:
		http.Error(w, fmt.Sprintf("Expecting 'Content-Type' of %s or %s, got %q",
			codec.JSON.MediaType(), codec.Protobuf.MediaType(), r.Header.Get("Content-Type")), http.StatusUnsupportedMediaType)
		return nil, false
	}
	return c, true
}

// Decode reads r's body, at most limit bytes, into call with c; on
// failure it has answered (400 or 413).
func Decode(w http.ResponseWriter, r *http.Request, c codec.Codec, limit int64, call proto.Message) bool {
	body, ok := Read(w, r, limit)
	if !ok {
		return false
	}
	if err := c.Unmarshal(body, call); err != nil {
		http.Error(w, "Failed to parse body into Call: "+err.Error(), http.StatusBadRequest)
		return false
	}
	return true
}

// ReadCall is ContentCodec then Decode: the call in r's body, and the
// codec it came in.
func ReadCall(w http.ResponseWriter, r *http.Request, limit int64, call proto.Message) (codec.Codec, bool) {
	c, ok := ContentCodec(w, r)
	if !ok || !Decode(w, r, c, limit, call) {
		return nil, false
	}
	return c, true
}

// AcceptCodec is the codec to answer r in: what its Accept allows, or in
// (the request's own) without an Accept header. An Accept allowing
// neither JSON nor protobuf has been answered 406.
func AcceptCodec(w http.ResponseWriter, r *http.Request, in codec.Codec) (codec.Codec, bool) {
	if r.Header.Get("Accept") == "" {
		return in, true
	}
	out, err := codec.Negotiate(r.Header.Get("Accept"))
	if err != nil {
		http.Error(w, fmt.Sprintf("Expecting 'Accept' to allow %s or %s", codec.JSON.MediaType(), codec.Protobuf.MediaType()), http.StatusNotAcceptable)
		return nil, false
	}
	return out, true
}

// WriteResponse answers 200 with resp in c, or with no body (and no
// Content-Type) when resp is nil, as Mesos answers calls that return
// nothing.
func WriteResponse(w http.ResponseWriter, c codec.Codec, resp proto.Message) {
	if resp == nil || !resp.ProtoReflect().IsValid() {
		w.WriteHeader(http.StatusOK)
		return
	}
	b, err := c.Marshal(resp)
	if err != nil {
		http.Error(w, "Failed to encode the response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", c.MediaType())
	_, _ = w.Write(b)
}
