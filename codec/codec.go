// Package codec encodes the messages of corral's HTTP APIs the way Mesos
// does: protobuf (application/x-protobuf) or JSON (application/json) with
// proto field names, enum names, padded standard base64 for bytes and
// 64-bit integers as plain JSON numbers. It also negotiates which one a
// request speaks (Content-Type) and wants back (Accept).
package codec

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// Media types of the two encodings.
const (
	ProtobufMediaType = "application/x-protobuf"
	JSONMediaType     = "application/json"
)

// Codec turns messages into bytes of one media type and back.
type Codec interface {
	MediaType() string
	Marshal(m proto.Message) ([]byte, error)
	Unmarshal(b []byte, m proto.Message) error
}

// The two codecs.
var (
	Protobuf Codec = protobufCodec{}
	JSON     Codec = jsonCodec{}
)

// Errors of content negotiation, mapped by servers to 400, 415 and 406.
var (
	ErrNoContentType          = errors.New("codec: no Content-Type")
	ErrUnsupportedContentType = errors.New("codec: unsupported Content-Type")
	ErrNotAcceptable          = errors.New("codec: no acceptable media type")
)

type protobufCodec struct{}

func (protobufCodec) MediaType() string { return ProtobufMediaType }

// Marshal writes required fields even when they are missing a value is
// the caller's business: AllowPartial keeps a missing required field from
// failing the whole message.
func (protobufCodec) Marshal(m proto.Message) ([]byte, error) {
	b, err := proto.MarshalOptions{AllowPartial: true}.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("codec: protobuf marshal: %w", err)
	}
	return b, nil
}

// Unmarshal accepts messages that lack proto2 required fields; callers
// validate what they need with messages that say what is missing.
func (protobufCodec) Unmarshal(b []byte, m proto.Message) error {
	if err := (proto.UnmarshalOptions{AllowPartial: true}).Unmarshal(b, m); err != nil {
		return fmt.Errorf("codec: protobuf unmarshal: %w", err)
	}
	return nil
}

type jsonCodec struct{}

func (jsonCodec) MediaType() string { return JSONMediaType }

func (jsonCodec) Marshal(m proto.Message) ([]byte, error) {
	return appendMessage(make([]byte, 0, 256), m.ProtoReflect()), nil
}

// jsonIn reads what Mesos clients send: proto or lowerCamel names, null for
// absent fields, numbers quoted or not, and fields we do not know.
var jsonIn = protojson.UnmarshalOptions{DiscardUnknown: true, AllowPartial: true}

func (jsonCodec) Unmarshal(b []byte, m proto.Message) error {
	if err := jsonIn.Unmarshal(b, m); err != nil {
		return fmt.Errorf("codec: json unmarshal: %w", err)
	}
	return nil
}

// ForContentType returns the codec of a request's Content-Type. As Mesos
// does, the whole header must equal a media type: no parameters.
func ForContentType(contentType string) (Codec, error) {
	switch strings.TrimSpace(contentType) {
	case "":
		return nil, ErrNoContentType
	case ProtobufMediaType:
		return Protobuf, nil
	case JSONMediaType:
		return JSON, nil
	}
	return nil, fmt.Errorf("%w: %q", ErrUnsupportedContentType, contentType)
}

// Negotiate picks the codec for a response from an Accept header: JSON if
// acceptable (Mesos' preference), else protobuf. A missing header accepts
// anything. Values may repeat (mesos-go sends its type twice); parameters
// other than q are ignored and q=0 excludes a type.
func Negotiate(accept string) (Codec, error) {
	if strings.TrimSpace(accept) == "" {
		return JSON, nil
	}
	var jsonOK, protoOK bool
	for _, part := range strings.Split(accept, ",") {
		fields := strings.Split(part, ";")
		mt := strings.ToLower(strings.TrimSpace(fields[0]))
		excluded := false
		for _, p := range fields[1:] {
			k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			if strings.TrimSpace(k) == "q" && isZeroQ(strings.TrimSpace(v)) {
				excluded = true
			}
		}
		if excluded {
			continue
		}
		switch mt {
		case "*/*", "application/*":
			jsonOK, protoOK = true, true
		case JSONMediaType:
			jsonOK = true
		case ProtobufMediaType:
			protoOK = true
		}
	}
	switch {
	case jsonOK:
		return JSON, nil
	case protoOK:
		return Protobuf, nil
	}
	return nil, fmt.Errorf("%w: %q", ErrNotAcceptable, accept)
}

func isZeroQ(v string) bool {
	q, err := strconv.ParseFloat(v, 64)
	return err == nil && q == 0
}
