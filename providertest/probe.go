package providertest

import (
	"archive/zip"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"
)

// The python_packages check installs a wheel the suite builds and serves
// itself, so it needs no package index: pip takes it as a direct URL.
const (
	probeWheel = "sena_conformance_probe-1.0-py3-none-any.whl"
	probeValue = "sena conformance probe 1.0"
)

// probeServer serves the probe wheel for one Run: every mode asks for the
// same requirement, so an environment or image built for it is reused.
type probeServer struct {
	once sync.Once
	req  string
	err  error
}

// requirement serves the probe wheel at host until t (the Run's test) ends
// and returns the pip requirement that installs it from there.
func (p *probeServer) requirement(t *testing.T, host string) (string, error) {
	p.once.Do(func() { p.req, p.err = serveProbe(t, host) })
	return p.req, p.err
}

func serveProbe(t *testing.T, host string) (string, error) {
	wheel, err := buildWheel()
	if err != nil {
		return "", err
	}
	lis, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", fmt.Errorf("serve the probe wheel on %s (Options.PackageHost): %v", host, err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/"+probeWheel {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(wheel)
	})}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(func() { _ = srv.Close() })
	return fmt.Sprintf("sena-conformance-probe @ http://%s/%s", lis.Addr(), probeWheel), nil
}

// buildWheel makes a pure-Python wheel (PEP 427) with one module.
func buildWheel() ([]byte, error) {
	files := []struct{ name, body string }{
		{"sena_conformance_probe/__init__.py", fmt.Sprintf("VALUE = %q\n", probeValue)},
		{"sena_conformance_probe-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: sena-conformance-probe\nVersion: 1.0\n"},
		{"sena_conformance_probe-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nGenerator: sena-providertest\nRoot-Is-Purelib: true\nTag: py3-none-any\n"},
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	var record bytes.Buffer
	for _, f := range files {
		w, err := zw.Create(f.name)
		if err != nil {
			return nil, err
		}
		if _, err := w.Write([]byte(f.body)); err != nil {
			return nil, err
		}
		sum := sha256.Sum256([]byte(f.body))
		fmt.Fprintf(&record, "%s,sha256=%s,%d\n", f.name, base64.RawURLEncoding.EncodeToString(sum[:]), len(f.body))
	}
	const recordName = "sena_conformance_probe-1.0.dist-info/RECORD"
	fmt.Fprintf(&record, "%s,,\n", recordName)
	w, err := zw.Create(recordName)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(record.Bytes()); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
