// Package fakemodal is a Modal control plane for tests. It serves the
// server side of modal-go's own gRPC service (modal_proto.ModalClient) on a
// loopback listener, without TLS, where the real modal-go client reaches it
// through MODAL_SERVER_URL=http://127.0.0.1:PORT, exactly as it would reach
// another Modal server.
//
// It is strict where Modal is: it checks the credentials modal-go sends,
// object names, tag rules, environment variable names, mount points, the
// size of a sandbox's command line, GPU strings, timeouts, and that every
// id a request names exists, answering InvalidArgument, NotFound or
// AlreadyExists as the service does. It dedupes retried calls by their
// idempotency key, enforces a sandbox's timeout, and applies Modal's idle
// timeout as Modal does (no open tunnel connection counts as idle). Fault
// and latency modes (FailNext, DropNext, Delay, SetTunnelTimeouts,
// SetImageBuild, OnBatch) reproduce what a real service does on a bad day.
//
// Sandboxes have a filesystem (a host directory per sandbox, volumes as
// shared host directories) reached through Modal's filesystem API, and
// logs. With RunLocally their commands run as local processes rooted there.
// Anything else answers Unimplemented, so a new call shows up in a test.
package fakemodal

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	pb "github.com/modal-labs/libmodal/modal-go/proto/modal_proto"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Credentials the fake accepts; Start points the environment at them.
const (
	TokenID     = "ak-fake-token-id"
	TokenSecret = "as-fake-token-secret"
)

// DefaultEnvironment is the environment requests without one belong to.
const DefaultEnvironment = "main"

// authToken is the JWT handed out by AuthTokenGet: modal-go reads its exp
// claim ({"exp":9999999999}) to schedule refreshes.
const authToken = "x.eyJleHAiOjk5OTk5OTk5OTl9.x"

// Server is a running fake.
type Server struct {
	pb.UnimplementedModalClientServer

	// URL is the server's address as MODAL_SERVER_URL takes it.
	URL string

	t        testing.TB
	mu       sync.Mutex
	failures map[string]error // method -> the error it always answers
	faults   map[string]*fault
	calls    []Call
	answered map[string]answer // idempotency key -> the answer given
	next     int

	environments map[string]bool
	apps         map[string]*app    // env/name -> app
	volumes      map[string]*volume // env/name -> volume
	volumeByID   map[string]*volume
	secrets      map[string]*secret // id -> secret
	named        map[string]string  // env/secret name -> id
	images       map[string]*pb.Image
	boxes        map[string]*sandbox
	order        []string // sandbox ids in creation order
	execs        map[string]*fsExec

	noDedupe       bool
	tunnelTimeouts int
	startDelay     time.Duration
	build          imageBuild
	batch          func(*Batch) (int, string)
	noTunnels      bool
	runtime        *runtime // set by RunLocally
	cert           tls.Certificate
}

// Call is one request the fake received.
type Call struct {
	Method string
	Req    proto.Message
	// IdempotencyKey and Attempt are what modal-go's retry loop sends
	// (x-idempotency-key, x-retry-attempt).
	IdempotencyKey string
	Attempt        int
}

type answer struct {
	resp any
	err  error
}

// fault is a mode one method is in: the next failN calls fail, the next
// dropN run but lose their answer, every call waits stall before acting
// and delay before answering.
type fault struct {
	failN   int
	failErr error
	dropN   int
	delay   time.Duration
	stall   time.Duration
}

type imageBuild struct {
	logs      []string
	exception string
}

type app struct {
	id, name, env string
}

type volume struct {
	id, name, env string
	dir           string // the volume's files, shared by every sandbox that mounts it
}

type secret struct {
	name string
	env  map[string]string
}

// Start serves a fake on 127.0.0.1 until the test ends, and points modal-go
// at it: MODAL_SERVER_URL, the fake's token in MODAL_TOKEN_ID and
// MODAL_TOKEN_SECRET, and an empty MODAL_CONFIG_PATH so ~/.modal.toml is
// not read. Sandbox tunnels are TLS listeners on 127.0.0.1 whose
// certificate http.DefaultTransport (and, through SSL_CERT_FILE, a child
// process) trusts until the test ends; behind them a stub answers
// /api/status as Jupyter would, unless RunLocally runs the sandbox's real
// command.
func Start(t testing.TB) *Server {
	t.Helper()
	cert, pool, err := selfSigned()
	if err != nil {
		t.Fatalf("fakemodal: tunnel certificate: %v", err)
	}
	tr := http.DefaultTransport.(*http.Transport)
	prev := tr.TLSClientConfig
	tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	t.Cleanup(func() { tr.TLSClientConfig = prev; tr.CloseIdleConnections() })
	// Child processes (a provider plugin binary) trust it through the file
	// Go reads for its system roots.
	caFile := filepath.Join(t.TempDir(), "fakemodal-ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600); err != nil {
		t.Fatalf("fakemodal: %v", err)
	}
	t.Setenv("SSL_CERT_FILE", caFile)

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("fakemodal: listen: %v", err)
	}
	s := &Server{
		t:            t,
		cert:         cert,
		URL:          "http://" + lis.Addr().String(),
		failures:     map[string]error{},
		faults:       map[string]*fault{},
		answered:     map[string]answer{},
		environments: map[string]bool{DefaultEnvironment: true},
		apps:         map[string]*app{},
		volumes:      map[string]*volume{},
		volumeByID:   map[string]*volume{},
		secrets:      map[string]*secret{},
		named:        map[string]string{},
		images:       map[string]*pb.Image{},
		boxes:        map[string]*sandbox{},
		execs:        map[string]*fsExec{},
	}
	g := grpc.NewServer(grpc.ChainUnaryInterceptor(s.intercept), grpc.ChainStreamInterceptor(s.interceptStream))
	pb.RegisterModalClientServer(g, s)
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)
	t.Cleanup(s.stopAll)

	t.Setenv("MODAL_SERVER_URL", s.URL)
	t.Setenv("MODAL_TOKEN_ID", TokenID)
	t.Setenv("MODAL_TOKEN_SECRET", TokenSecret)
	t.Setenv("MODAL_CONFIG_PATH", filepath.Join(t.TempDir(), "absent.toml"))
	t.Setenv("MODAL_PROFILE", "")
	t.Setenv("MODAL_ENVIRONMENT", "")
	return s
}

// Fail makes method (as "SandboxCreate") answer code and msg from now on;
// codes.OK restores it.
func (s *Server) Fail(method string, code codes.Code, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if code == codes.OK {
		delete(s.failures, method)
		return
	}
	s.failures[method] = status.Error(code, msg)
}

// FailNext makes the next n calls to method answer code and msg without
// acting, as a service that is briefly down does (Unavailable): modal-go
// retries those codes with the same idempotency key.
func (s *Server) FailNext(method string, n int, code codes.Code, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.fault(method)
	f.failN, f.failErr = n, status.Error(code, msg)
}

// DropNext makes the next n calls to method act, then lose their answer
// (the client sees Unavailable), as a connection that drops after the
// service acted. A retry with the same idempotency key gets the answer the
// service kept, as Modal dedupes retried requests.
func (s *Server) DropNext(method string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault(method).dropN = n
}

// Delay makes every call to method wait d after acting, before answering;
// a client that gives up meanwhile (Ctrl-C) never sees the answer.
func (s *Server) Delay(method string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault(method).delay = d
}

// Stall makes every call to method wait d before acting: a client that
// gives up meanwhile leaves nothing done, as a request stuck on its way in.
func (s *Server) Stall(method string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault(method).stall = d
}

func (s *Server) fault(method string) *fault {
	f := s.faults[method]
	if f == nil {
		f = &fault{}
		s.faults[method] = f
	}
	return f
}

// SetDedupe turns off (false) or on the deduping of retried calls by their
// idempotency key: without it a retry acts again, as a service that does
// not dedupe would (a retried SandboxCreate then hits AlreadyExists on the
// name its first attempt took).
func (s *Server) SetDedupe(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noDedupe = !on
}

// SetTunnelTimeouts makes each new sandbox's tunnels answer TIMEOUT n times
// before they appear, as while Modal schedules a GPU.
func (s *Server) SetTunnelTimeouts(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tunnelTimeouts = n
}

// SetStartDelay makes new sandboxes' containers start d after creation:
// until then they have no task (the filesystem API cannot reach them) and
// no tunnels.
func (s *Server) SetStartDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.startDelay = d
}

// SetImageBuild makes every image build stream logs (one log item each)
// through ImageJoinStreaming and then succeed, or fail with exception when
// it is not empty, as Modal's builder does.
func (s *Server) SetImageBuild(logs []string, exception string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.build = imageBuild{logs: logs, exception: exception}
}

// SetNoTunnels makes sandboxes with ports exit with code 1 before their
// tunnels open, as when Jupyter fails to start.
func (s *Server) SetNoTunnels(v bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noTunnels = v
}

// AddEnvironment creates a Modal environment besides DefaultEnvironment.
func (s *Server) AddEnvironment(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.environments[name] = true
}

// intercept checks the credentials modal-go sends, records the request,
// dedupes retries by idempotency key and applies the method's faults.
func (s *Server) intercept(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	method := path.Base(info.FullMethod)
	md, _ := metadata.FromIncomingContext(ctx)
	if err := checkCredentials(md, method != "AuthTokenGet"); err != nil {
		return nil, err
	}
	key := first(md, "x-idempotency-key")
	attempt, _ := strconv.Atoi(first(md, "x-retry-attempt"))
	s.mu.Lock()
	s.calls = append(s.calls, Call{Method: method, Req: proto.Clone(req.(proto.Message)), IdempotencyKey: key, Attempt: attempt})
	err := s.failures[method]
	f := s.faults[method]
	var delay, stall time.Duration
	drop := false
	if f != nil {
		delay, stall = f.delay, f.stall
		switch {
		case err == nil && f.failN > 0:
			f.failN--
			err = f.failErr
		case err == nil && f.dropN > 0:
			f.dropN--
			drop = true
		}
	}
	prev, seen := s.answered[method+"/"+key]
	seen = seen && !s.noDedupe
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if err := s.checkEnvironment(req); err != nil {
		return nil, err
	}
	if stall > 0 {
		select {
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		case <-time.After(stall):
		}
	}
	var resp any
	if seen && key != "" {
		resp, err = prev.resp, prev.err
	} else {
		resp, err = handler(ctx, req)
		if key != "" {
			s.mu.Lock()
			s.answered[method+"/"+key] = answer{resp, err}
			s.mu.Unlock()
		}
	}
	if delay > 0 {
		select {
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		case <-time.After(delay):
		}
	}
	if drop {
		return nil, status.Error(codes.Unavailable, "fakemodal: connection dropped after the request was handled")
	}
	return resp, err
}

// interceptStream checks the credentials of a streaming call and records it.
func (s *Server) interceptStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	md, _ := metadata.FromIncomingContext(ss.Context())
	if err := checkCredentials(md, false); err != nil {
		return err
	}
	method := path.Base(info.FullMethod)
	s.mu.Lock()
	s.calls = append(s.calls, Call{Method: method})
	err := s.failures[method]
	s.mu.Unlock()
	if err != nil {
		return err
	}
	return handler(srv, ss)
}

func checkCredentials(md metadata.MD, needAuthToken bool) error {
	if first(md, "x-modal-token-id") != TokenID || first(md, "x-modal-token-secret") != TokenSecret {
		return status.Error(codes.Unauthenticated, "Token ID or secret is incorrect")
	}
	if needAuthToken && first(md, "x-modal-auth-token") != authToken {
		return status.Error(codes.Unauthenticated, "missing or invalid auth token")
	}
	return nil
}

// checkEnvironment refuses a request in an environment the workspace lacks.
func (s *Server) checkEnvironment(req any) error {
	r, ok := req.(interface{ GetEnvironmentName() string })
	if !ok {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if env := r.GetEnvironmentName(); env != "" && !s.environments[env] {
		return status.Errorf(codes.NotFound, "Environment '%s' not found", env)
	}
	return nil
}

func envOf(name string) string {
	if name == "" {
		return DefaultEnvironment
	}
	return name
}

func first(md metadata.MD, key string) string {
	if v := md.Get(key); len(v) > 0 {
		return v[0]
	}
	return ""
}

// Requests returns the requests made to method, in order, as type T:
// Requests[*pb.SandboxCreateRequest](s, "SandboxCreate").
func Requests[T proto.Message](s *Server, method string) []T {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []T
	for _, c := range s.calls {
		if c.Method == method && c.Req != nil {
			out = append(out, c.Req.(T))
		}
	}
	return out
}

// Calls returns the calls made to method, in order, with their retry metadata.
func (s *Server) Calls(method string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

// Methods returns the methods called, in order.
func (s *Server) Methods() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, len(s.calls))
	for i, c := range s.calls {
		out[i] = c.Method
	}
	return out
}

// AddSecret stores a named Modal Secret, as `modal secret create` would.
func (s *Server) AddSecret(name string, env map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.id("st")
	s.secrets[id] = &secret{name: name, env: env}
	s.named[DefaultEnvironment+"/"+name] = id
}

// SecretEnv returns the variables of the secret with this id.
func (s *Server) SecretEnv(id string) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sec := s.secrets[id]; sec != nil {
		return sec.env
	}
	return nil
}

// SecretName returns the name of a named secret ("" for an ephemeral one).
func (s *Server) SecretName(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sec := s.secrets[id]; sec != nil {
		return sec.name
	}
	return ""
}

// VolumeID returns the id of the named volume (default environment), or "".
func (s *Server) VolumeID(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v := s.volumes[DefaultEnvironment+"/"+name]; v != nil {
		return v.id
	}
	return ""
}

// VolumeDir returns the host directory that holds the named volume's files
// (default environment), or "".
func (s *Server) VolumeDir(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v := s.volumes[DefaultEnvironment+"/"+name]; v != nil {
		return v.dir
	}
	return ""
}

// SandboxState reports a sandbox's tags and whether it still runs.
func (s *Server) SandboxState(id string) (tags map[string]string, running, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.boxes[id]
	if b == nil {
		return nil, false, false
	}
	return b.tags, !b.done(), true
}

// SandboxName returns the name a sandbox was created with.
func (s *Server) SandboxName(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b := s.boxes[id]; b != nil {
		return b.def.GetName()
	}
	return ""
}

// Result returns how a finished sandbox ended, or nil while it runs.
func (s *Server) Result(id string) *pb.GenericResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b := s.boxes[id]; b != nil {
		return b.result
	}
	return nil
}

// Running returns the ids of the sandboxes still running.
func (s *Server) Running() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, id := range s.order {
		if !s.boxes[id].done() {
			out = append(out, id)
		}
	}
	return out
}

// AddSandbox starts a sandbox with these tags that no provider made, as
// another tool sharing the Modal workspace would, and returns its id.
func (s *Server) AddSandbox(tags map[string]string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.newSandbox("", &pb.Sandbox{})
	b.tags = tags
	b.started = true
	return b.id
}

// AddNamedSandbox starts a sandbox named name in app appName (made if
// missing) with no tags, as a create whose tagging never happened leaves
// it, and returns its id.
func (s *Server) AddNamedSandbox(appName, name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.apps[DefaultEnvironment+"/"+appName]
	if a == nil {
		a = &app{id: s.id("ap"), name: appName, env: DefaultEnvironment}
		s.apps[DefaultEnvironment+"/"+appName] = a
	}
	b := s.newSandbox(a.id, pb.Sandbox_builder{Name: &name}.Build())
	b.started = true
	return b.id
}

// CreateVolume makes the named volume (default environment) and returns
// the host directory that holds its files, for a test to fill.
func (s *Server) CreateVolume(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := &volume{id: s.id("vo"), name: name, env: DefaultEnvironment, dir: s.t.TempDir()}
	s.volumes[DefaultEnvironment+"/"+name] = v
	s.volumeByID[v.id] = v
	return v.dir
}

// Exit ends a running sandbox as its command would, with code and stderr.
func (s *Server) Exit(id string, code int, stderr string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b := s.boxes[id]; b != nil && !b.done() {
		b.stderr.write(stderr)
		s.finish(b, exitResult(code))
	}
}

// TunnelURL is the URL modal-go makes of a running sandbox's tunnel for
// containerPort, or "".
func (s *Server) TunnelURL(id string, containerPort int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b := s.boxes[id]; b != nil && b.host != nil {
		for _, t := range b.host.tunnels {
			if int(t.GetContainerPort()) == containerPort {
				return fmt.Sprintf("https://%s:%d", t.GetHost(), t.GetPort())
			}
		}
	}
	return ""
}

// ReadFile returns a file of a sandbox's filesystem (a container path,
// volumes included), as the filesystem API or its command left it.
func (s *Server) ReadFile(id, containerPath string) ([]byte, error) {
	s.mu.Lock()
	b := s.boxes[id]
	s.mu.Unlock()
	if b == nil {
		return nil, fmt.Errorf("fakemodal: no sandbox %s", id)
	}
	return os.ReadFile(b.hostPath(containerPath))
}

// stopAll stops every sandbox's tunnels and processes.
func (s *Server) stopAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range s.boxes {
		if b.host != nil {
			b.host.stop()
		}
		if b.timer != nil {
			b.timer.Stop()
		}
	}
}

// id makes a Modal-style object id ("sb-3"); the caller holds s.mu.
func (s *Server) id(prefix string) string {
	s.next++
	return fmt.Sprintf("%s-%d", prefix, s.next)
}
