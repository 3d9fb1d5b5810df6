// Package fakemodal is a Modal control plane for tests. It serves the
// server side of modal-go's own gRPC service (modal_proto.ModalClient) on a
// loopback listener, without TLS, where the real modal-go client reaches it
// through MODAL_SERVER_URL=http://127.0.0.1:PORT, exactly as it would reach
// another Modal server. It checks the credentials modal-go sends, records
// every request for tests to assert on, and keeps just enough state (apps,
// volumes, secrets, images, sandboxes with tags) for the calls Sena makes.
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

// authToken is the JWT handed out by AuthTokenGet: modal-go reads its exp
// claim ({"exp":9999999999}) to schedule refreshes.
const authToken = "x.eyJleHAiOjk5OTk5OTk5OTl9.x"

// Server is a running fake.
type Server struct {
	pb.UnimplementedModalClientServer

	// URL is the server's address as MODAL_SERVER_URL takes it.
	URL string

	mu       sync.Mutex
	failures map[string]error // method -> the error it answers
	calls    []call
	next     int
	apps     map[string]string  // name -> id
	volumes  map[string]string  // name -> id
	secrets  map[string]*secret // id -> secret
	named    map[string]string  // secret name -> id
	boxes    map[string]*sandbox
	order    []string // sandbox ids in creation order

	batchExitCode int
	noTunnels     bool
	runtime       *runtime // set by RunLocally
	cert          tls.Certificate
}

type call struct {
	method string
	req    proto.Message
}

type secret struct {
	name string
	env  map[string]string
}

type sandbox struct {
	id         string
	appID      string
	def        *pb.Sandbox
	tags       map[string]string
	created    float64
	exitCode   *int
	terminated bool
	host       *hostSide // tunnels (and process) of a sandbox with ports
}

func (b *sandbox) done() bool { return b.terminated || b.exitCode != nil }

// Start serves a fake on 127.0.0.1 until the test ends, and points modal-go
// at it: MODAL_SERVER_URL, the fake's token in MODAL_TOKEN_ID and
// MODAL_TOKEN_SECRET, and an empty MODAL_CONFIG_PATH so ~/.modal.toml is
// not read. Sandbox tunnels are TLS listeners on 127.0.0.1 whose
// certificate http.DefaultTransport (and, through SSL_CERT_FILE, a child
// process) trusts until the test ends; behind them
// a stub answers /api/status as Jupyter would, unless RunLocally runs the
// sandbox's real command.
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
		cert:     cert,
		URL:      "http://" + lis.Addr().String(),
		failures: map[string]error{},
		apps:     map[string]string{},
		volumes:  map[string]string{},
		secrets:  map[string]*secret{},
		named:    map[string]string{},
		boxes:    map[string]*sandbox{},
	}
	g := grpc.NewServer(grpc.ChainUnaryInterceptor(s.intercept))
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

// SetBatchExitCode sets the exit code of sandboxes without open ports
// (Sena's model download): they finish as soon as they are created.
func (s *Server) SetBatchExitCode(code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batchExitCode = code
}

// SetNoTunnels makes sandboxes with ports exit with code 1 before their
// tunnels open, as when Jupyter fails to start.
func (s *Server) SetNoTunnels(v bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noTunnels = v
}

// intercept checks the credentials modal-go sends, records the request and
// answers a configured failure.
func (s *Server) intercept(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	method := path.Base(info.FullMethod)
	md, _ := metadata.FromIncomingContext(ctx)
	if first(md, "x-modal-token-id") != TokenID || first(md, "x-modal-token-secret") != TokenSecret {
		return nil, status.Error(codes.Unauthenticated, "Token ID or secret is incorrect")
	}
	if method != "AuthTokenGet" && first(md, "x-modal-auth-token") != authToken {
		return nil, status.Error(codes.Unauthenticated, "missing or invalid auth token")
	}
	s.mu.Lock()
	s.calls = append(s.calls, call{method: method, req: proto.Clone(req.(proto.Message))})
	err := s.failures[method]
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return handler(ctx, req)
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
		if c.method == method {
			out = append(out, c.req.(T))
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
		out[i] = c.method
	}
	return out
}

// AddSecret stores a named Modal Secret, as `modal secret create` would.
func (s *Server) AddSecret(name string, env map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.id("st")
	s.secrets[id] = &secret{name: name, env: env}
	s.named[name] = id
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

// VolumeID returns the id of the named volume, or "".
func (s *Server) VolumeID(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.volumes[name]
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
	b := &sandbox{id: s.id("sb"), def: &pb.Sandbox{}, tags: tags}
	b.created = float64(s.next)
	s.boxes[b.id] = b
	s.order = append(s.order, b.id)
	return b.id
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

// stopAll stops every sandbox's tunnels and processes.
func (s *Server) stopAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range s.boxes {
		if b.host != nil {
			b.host.stop()
		}
	}
}

// startHost opens a new sandbox's tunnels, with the stub or its process
// behind them; the caller holds s.mu.
func (s *Server) startHost(b *sandbox) (*hostSide, error) {
	env := map[string]string{}
	for _, id := range b.def.GetSecretIds() {
		if sec := s.secrets[id]; sec != nil {
			for k, v := range sec.env {
				env[k] = v
			}
		}
	}
	if s.runtime != nil {
		return s.runtime.start(s, b, env)
	}
	h := &hostSide{}
	for _, p := range b.def.GetOpenPorts().GetPorts() {
		lis, err := s.listenTunnel(h, p.GetPort())
		if err != nil {
			h.stop()
			return nil, err
		}
		srv := &http.Server{Handler: stubJupyter(env["JUPYTER_TOKEN"]), ReadHeaderTimeout: 5 * time.Second}
		h.closers = append(h.closers, srv)
		go func() { _ = srv.Serve(lis) }()
	}
	return h, nil
}

// id makes a Modal-style object id ("sb-3"); the caller holds s.mu.
func (s *Server) id(prefix string) string {
	s.next++
	return fmt.Sprintf("%s-%d", prefix, s.next)
}
