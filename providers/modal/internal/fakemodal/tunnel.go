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
	"time"

	pb "github.com/modal-labs/libmodal/modal-go/proto/modal_proto"
)

// hostSide is what a running sandbox has on the host: its tunnels (TLS
// listeners on 127.0.0.1, as Modal's tunnels terminate TLS) and, when run
// by RunLocally, its process.
type hostSide struct {
	tunnels []*pb.TunnelData
	closers []io.Closer
	kill    func()
}

func (h *hostSide) stop() {
	if h.kill != nil {
		h.kill()
	}
	for _, c := range h.closers {
		_ = c.Close()
	}
}

// listenTunnel opens a TLS listener for one container port.
func (s *Server) listenTunnel(h *hostSide, containerPort uint32) (net.Listener, error) {
	lis, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{s.cert}})
	if err != nil {
		return nil, err
	}
	h.closers = append(h.closers, lis)
	h.tunnels = append(h.tunnels, pb.TunnelData_builder{
		Host: "127.0.0.1", Port: uint32(lis.Addr().(*net.TCPAddr).Port), ContainerPort: containerPort,
	}.Build())
	return lis, nil
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
