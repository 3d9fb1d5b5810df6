package recorder

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"sort"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	// The Modal service and its messages, registered for decoding.
	_ "github.com/modal-labs/libmodal/modal-go/proto/modal_proto"
)

const serviceName = "modal.client.ModalClient"

// Replayer serves a recording: each call gets the next recorded exchange
// of its method, and a request that differs from the recorded one (or a
// call the recording lacks) is drift, which Drift reports.
type Replayer struct {
	// URL is the address, for MODAL_SERVER_URL.
	URL string

	srv *grpc.Server

	mu      sync.Mutex
	queues  map[string][]Exchange // by method
	secrets []string
	drift   []string
}

// Serve starts a replayer of xs on 127.0.0.1; Close stops it. Values in
// secrets are redacted from incoming requests before they are compared,
// as the recorder redacted them.
func Serve(xs []Exchange, secrets ...string) (*Replayer, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &Replayer{URL: "http://" + lis.Addr().String(), queues: map[string][]Exchange{}, secrets: secrets}
	for _, x := range xs {
		r.queues[x.Method] = append(r.queues[x.Method], x)
	}
	r.srv = grpc.NewServer(grpc.UnknownServiceHandler(r.handle))
	go func() { _ = r.srv.Serve(lis) }()
	return r, nil
}

// Close stops the server.
func (r *Replayer) Close() { r.srv.Stop() }

// Drift lists every difference between the calls made and the recording.
func (r *Replayer) Drift() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.drift)
}

// Unused lists the recorded exchanges no call consumed, by method, except
// those of methods in ignore (polls whose count depends on timing).
func (r *Replayer) Unused(ignore ...string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for m, q := range r.queues {
		if len(q) > 0 && !slices.Contains(ignore, shortMethod(m)) {
			out = append(out, fmt.Sprintf("%s x%d", shortMethod(m), len(q)))
		}
	}
	sort.Strings(out)
	return out
}

func (r *Replayer) noteDrift(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.drift = append(r.drift, fmt.Sprintf(format, args...))
}

// handle answers any method of the Modal service from the recording.
func (r *Replayer) handle(_ any, stream grpc.ServerStream) error {
	method, ok := grpc.MethodFromServerStream(stream)
	if !ok {
		return status.Error(codes.Internal, "replay: no method")
	}
	in, out, err := messageTypes(method)
	if err != nil {
		r.noteDrift("%s: %v", method, err)
		return status.Error(codes.Unimplemented, err.Error())
	}
	req := in.New().Interface()
	if err := stream.RecvMsg(req); err != nil {
		return err
	}
	r.mu.Lock()
	q := r.queues[method]
	var x Exchange
	found := len(q) > 0
	if found {
		x, r.queues[method] = q[0], q[1:]
	}
	r.mu.Unlock()
	if !found {
		r.noteDrift("%s: called once more than recorded, with %s", shortMethod(method), r.canonical(req))
		return status.Errorf(codes.Unimplemented, "replay: no recorded exchange left for %s", method)
	}
	if got, want := r.canonical(req), canonicalJSON(x.Request); got != want {
		r.noteDrift("%s: request differs from the recording\n  got:  %s\n  want: %s", shortMethod(method), got, want)
	}
	for _, data := range x.Responses {
		resp := out.New().Interface()
		if err := (protojson.UnmarshalOptions{DiscardUnknown: false}).Unmarshal(data, resp); err != nil {
			r.noteDrift("%s: the recorded response does not parse as %s any more: %v", shortMethod(method), out.Descriptor().FullName(), err)
			return status.Error(codes.Internal, err.Error())
		}
		if err := stream.SendMsg(resp); err != nil {
			return err
		}
	}
	code := parseCode(x.Code)
	if code == codes.OK || code == codes.Canceled {
		return nil
	}
	return status.Error(code, x.Message)
}

// messageTypes are method's request and response types.
func messageTypes(method string) (in, out protoreflect.MessageType, err error) {
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(serviceName)
	if err != nil {
		return nil, nil, err
	}
	m := d.(protoreflect.ServiceDescriptor).Methods().ByName(protoreflect.Name(shortMethod(method)))
	if m == nil {
		return nil, nil, fmt.Errorf("the Modal service has no method %s", method)
	}
	if in, err = protoregistry.GlobalTypes.FindMessageByName(m.Input().FullName()); err != nil {
		return nil, nil, err
	}
	out, err = protoregistry.GlobalTypes.FindMessageByName(m.Output().FullName())
	return in, out, err
}

// canonical is a request as the recorder wrote it, in canonical form.
func (r *Replayer) canonical(m proto.Message) string {
	data, err := marshal.Marshal(m)
	if err != nil {
		return fmt.Sprintf("<%v>", err)
	}
	for _, s := range r.secrets {
		quoted, _ := json.Marshal(s)
		data = bytes.ReplaceAll(data, quoted[1:len(quoted)-1], []byte(Redacted))
	}
	return canonicalJSON(data)
}

// canonicalJSON re-encodes JSON with object keys sorted and arrays sorted
// by their elements' encoding: Go map iteration orders repeated fields
// (tags, mounts) at random, which is no drift.
func canonicalJSON(data []byte) string {
	if len(bytes.TrimSpace(data)) == 0 {
		return "{}"
	}
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return string(data)
	}
	out, _ := json.Marshal(sortArrays(v))
	return string(out)
}

func sortArrays(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			t[k] = sortArrays(e)
		}
		return t
	case []any:
		keys := make([]string, len(t))
		for i, e := range t {
			t[i] = sortArrays(e)
			b, _ := json.Marshal(t[i])
			keys[i] = string(b)
		}
		sort.Sort(byKey{t, keys})
		return t
	}
	return v
}

type byKey struct {
	v    []any
	keys []string
}

func (b byKey) Len() int           { return len(b.v) }
func (b byKey) Less(i, j int) bool { return b.keys[i] < b.keys[j] }
func (b byKey) Swap(i, j int) {
	b.v[i], b.v[j] = b.v[j], b.v[i]
	b.keys[i], b.keys[j] = b.keys[j], b.keys[i]
}

// parseCode reads codes.Code's String form ("NotFound").
func parseCode(s string) codes.Code {
	for c := codes.OK; c <= codes.Unauthenticated; c++ {
		if c.String() == s {
			return c
		}
	}
	return codes.Unknown
}
