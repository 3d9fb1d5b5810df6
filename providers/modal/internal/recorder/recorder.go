// Package recorder records the gRPC traffic between modal-go and a Modal
// server through modal-go's own interceptor hooks (ClientParams'
// GRPCUnaryInterceptors and GRPCStreamInterceptors), and replays a
// recording as a server, reporting every request that differs from the
// recorded one. Recorded once against Modal itself, a golden file lets CI
// catch drift in modal-go or in Sena's use of it without credentials.
//
// A recording is JSON lines: a header line (Header), then one Exchange per
// line in the order the calls started. Messages are protojson with proto
// field names. Known secret values are replaced with Redacted, and the
// auth token Modal hands out with a placeholder that never expires.
package recorder

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	pb "github.com/modal-labs/libmodal/modal-go/proto/modal_proto"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// Redacted replaces secret values in a recording.
const Redacted = "REDACTED"

// placeholderToken is the auth token a replay hands out: a JWT whose exp
// claim is far away, which is all modal-go reads of it.
const placeholderToken = "x.eyJleHAiOjk5OTk5OTk5OTl9.x"

// Header is a recording's first line: what the scenario needs to make the
// same requests again.
type Header struct {
	// Scenario is free-form data of the test that recorded (names, ids).
	Scenario json.RawMessage `json:"scenario"`
	// Client is the modal-go version that recorded.
	Client string `json:"client"`
}

// Exchange is one call: its request, its responses (one for a unary call,
// any number for a server stream) and how it ended.
type Exchange struct {
	Method    string            `json:"method"`
	Request   json.RawMessage   `json:"request,omitempty"`
	Responses []json.RawMessage `json:"responses,omitempty"`
	Code      string            `json:"code"`
	Message   string            `json:"message,omitempty"`
}

// Recorder collects exchanges. Its interceptors go after modal-go's own, so
// each attempt of a retried call is one exchange, as the server saw it.
type Recorder struct {
	mu        sync.Mutex
	exchanges []*Exchange
	secrets   []string
}

// New returns a Recorder that redacts these values wherever they appear.
func New(secrets ...string) *Recorder {
	r := &Recorder{}
	r.Redact(secrets...)
	return r
}

// Redact adds values to replace with Redacted.
func (r *Recorder) Redact(secrets ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range secrets {
		if s != "" {
			r.secrets = append(r.secrets, s)
		}
	}
}

var marshal = protojson.MarshalOptions{UseProtoNames: true}

func (r *Recorder) encode(m any) json.RawMessage {
	msg, ok := m.(proto.Message)
	if !ok {
		return nil
	}
	if tok, ok := m.(*pb.AuthTokenGetResponse); ok && tok.GetToken() != "" {
		msg = pb.AuthTokenGetResponse_builder{Token: placeholderToken}.Build()
	}
	data, err := marshal.Marshal(msg)
	if err != nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.secrets {
		quoted, _ := json.Marshal(s)
		data = bytes.ReplaceAll(data, quoted[1:len(quoted)-1], []byte(Redacted))
	}
	return data
}

func (r *Recorder) start(method string) *Exchange {
	x := &Exchange{Method: method}
	r.mu.Lock()
	r.exchanges = append(r.exchanges, x)
	r.mu.Unlock()
	return x
}

func (r *Recorder) end(x *Exchange, err error) {
	st := status.Convert(err)
	if errors.Is(err, context.Canceled) {
		st = status.FromContextError(err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	x.Code, x.Message = st.Code().String(), st.Message()
}

// Unary is the interceptor for unary calls.
func (r *Recorder) Unary() grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		x := r.start(method)
		reqData := r.encode(req)
		err := invoker(ctx, method, req, reply, cc, opts...)
		var resp json.RawMessage
		if err == nil {
			resp = r.encode(reply)
		}
		r.mu.Lock()
		x.Request = reqData
		if resp != nil {
			x.Responses = []json.RawMessage{resp}
		}
		r.mu.Unlock()
		r.end(x, err)
		return err
	}
}

// Stream is the interceptor for streaming calls.
func (r *Recorder) Stream() grpc.StreamClientInterceptor {
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		x := r.start(method)
		s, err := streamer(ctx, desc, cc, method, opts...)
		if err != nil {
			r.end(x, err)
			return nil, err
		}
		rs := &recordedStream{ClientStream: s, r: r, x: x}
		// A caller may stop reading and cancel (modal-go does once it has
		// what it waits for): the exchange ends then.
		stop := context.AfterFunc(ctx, func() { rs.finish(context.Canceled) })
		rs.stop = stop
		return rs, nil
	}
}

type recordedStream struct {
	grpc.ClientStream
	r    *Recorder
	x    *Exchange
	once sync.Once
	stop func() bool
}

func (s *recordedStream) SendMsg(m any) error {
	data := s.r.encode(m)
	s.r.mu.Lock()
	s.x.Request = data
	s.r.mu.Unlock()
	return s.ClientStream.SendMsg(m)
}

func (s *recordedStream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = nil
		}
		s.finish(err)
		return s.recvErr(err)
	}
	data := s.r.encode(m)
	s.r.mu.Lock()
	s.x.Responses = append(s.x.Responses, data)
	s.r.mu.Unlock()
	return nil
}

func (s *recordedStream) recvErr(err error) error {
	if err == nil {
		return io.EOF
	}
	return err
}

func (s *recordedStream) finish(err error) {
	s.once.Do(func() {
		if s.stop != nil {
			s.stop()
		}
		s.r.end(s.x, err)
	})
}

// Exchanges returns what was recorded so far.
func (r *Recorder) Exchanges() []Exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Exchange, len(r.exchanges))
	for i, x := range r.exchanges {
		out[i] = *x
	}
	return out
}

// Write saves the recording with its header, making the directory.
func (r *Recorder) Write(path string, h Header) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	if err := enc.Encode(h); err != nil {
		return err
	}
	for _, x := range r.Exchanges() {
		if err := enc.Encode(x); err != nil {
			return err
		}
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// Load reads a recording.
func Load(path string) (Header, []Exchange, error) {
	f, err := os.Open(path)
	if err != nil {
		return Header{}, nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	var h Header
	var xs []Exchange
	for i := 0; sc.Scan(); i++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if i == 0 {
			if err := json.Unmarshal(line, &h); err != nil {
				return Header{}, nil, fmt.Errorf("%s: header: %w", path, err)
			}
			continue
		}
		var x Exchange
		if err := json.Unmarshal(line, &x); err != nil {
			return Header{}, nil, fmt.Errorf("%s:%d: %w", path, i+1, err)
		}
		xs = append(xs, x)
	}
	return h, xs, sc.Err()
}

// shortMethod is "SandboxCreate" of "/modal.client.ModalClient/SandboxCreate".
func shortMethod(m string) string { return m[strings.LastIndex(m, "/")+1:] }
