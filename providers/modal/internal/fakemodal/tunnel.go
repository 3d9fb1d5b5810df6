package fakemodal

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"net/http"
	"sync"
	"time"

	pb "github.com/modal-labs/libmodal/modal-go/proto/modal_proto"
)

// hostSide is what a running sandbox has on the host: its tunnels (TLS
// listeners on 127.0.0.1, as Modal's tunnels terminate TLS) and, when run
// by RunLocally, its process. It counts open tunnel connections, which is
// all Modal's idle timeout looks at.
type hostSide struct {
	tunnels []*pb.TunnelData
	closers []io.Closer
	kill    func()

	mu         sync.Mutex
	open       int
	lastActive time.Time
}

func newHostSide() *hostSide { return &hostSide{lastActive: time.Now()} }

func (h *hostSide) stop() {
	if h.kill != nil {
		h.kill()
	}
	for _, c := range h.closers {
		_ = c.Close()
	}
}

// activity returns the open tunnel connections and when the last one closed.
func (h *hostSide) activity() (int, time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.open, h.lastActive
}

// connOpened and connClosed track a tunnel connection.
func (h *hostSide) connOpened() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.open++
}

func (h *hostSide) connClosed() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.open--
	h.lastActive = time.Now()
}

// countingListener reports each accepted connection's life to its host.
type countingListener struct {
	net.Listener
	h *hostSide
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.h.connOpened()
	return &countedConn{Conn: c, h: l.h}, nil
}

type countedConn struct {
	net.Conn
	h    *hostSide
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(c.h.connClosed)
	return c.Conn.Close()
}

// listenTunnel opens a TLS listener for one container port.
func (s *Server) listenTunnel(h *hostSide, containerPort uint32) (net.Listener, error) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	lis := tls.NewListener(countingListener{Listener: raw, h: h}, &tls.Config{Certificates: []tls.Certificate{s.cert}})
	h.closers = append(h.closers, lis)
	h.tunnels = append(h.tunnels, pb.TunnelData_builder{
		Host: "127.0.0.1", Port: uint32(raw.Addr().(*net.TCPAddr).Port), ContainerPort: containerPort,
	}.Build())
	return lis, nil
}

// stubHost opens a sandbox's tunnels with a stub Jupyter behind each; the
// caller holds s.mu.
func (s *Server) stubHost(b *sandbox, env map[string]string) (*hostSide, error) {
	h := newHostSide()
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

// stubJupyter answers GET /api/status as jupyter_server does: 200 with
// the sandbox's JUPYTER_TOKEN, 403 without. It stands in for the process
// when the fake does not run sandboxes (RunLocally).
func stubJupyter(token string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path != "/api/status":
			http.NotFound(w, r)
		case token == "" || r.Header.Get("Authorization") != "token "+token:
			http.Error(w, "Forbidden", http.StatusForbidden)
		default:
			_, _ = io.WriteString(w, `{"started": "now"}`)
		}
	})
}

// proxy forwards each connection to backend as plain TCP.
func proxy(lis net.Listener, backend string) {
	for {
		in, err := lis.Accept()
		if err != nil {
			return
		}
		go func() {
			defer in.Close()
			out, err := net.Dial("tcp", backend)
			if err != nil {
				return // not listening yet: the client retries
			}
			defer out.Close()
			go func() { _, _ = io.Copy(out, in) }()
			_, _ = io.Copy(in, out)
		}()
	}
}

// selfSigned makes a certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned() (tls.Certificate, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "fakemodal tunnel"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool, nil
}
