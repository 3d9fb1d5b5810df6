// Package wheeltest builds pure-Python wheels and serves them over HTTP, so
// tests can install packages with pip and no package index: pip takes a
// served wheel as a direct URL requirement ("name @ http://...").
package wheeltest

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
)

// Wheel is one package of one module.
type Wheel struct {
	Name    string // distribution name, as in sena-probe
	Version string
	Module  string // the module's source, in Name with - as _
}

// Filename is the wheel's PEP 427 file name.
func (w Wheel) Filename() string {
	return fmt.Sprintf("%s-%s-py3-none-any.whl", w.pkg(), w.Version)
}

func (w Wheel) pkg() string { return strings.ReplaceAll(w.Name, "-", "_") }

// Build makes the wheel.
func (w Wheel) Build() ([]byte, error) {
	info := fmt.Sprintf("%s-%s.dist-info", w.pkg(), w.Version)
	files := []struct{ name, body string }{
		{w.pkg() + "/__init__.py", w.Module},
		{info + "/METADATA", fmt.Sprintf("Metadata-Version: 2.1\nName: %s\nVersion: %s\n", w.Name, w.Version)},
		{info + "/WHEEL", "Wheel-Version: 1.0\nGenerator: sena-wheeltest\nRoot-Is-Purelib: true\nTag: py3-none-any\n"},
		{info + "/top_level.txt", w.pkg() + "\n"},
	}
	var buf, record bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range files {
		fw, err := zw.Create(f.name)
		if err != nil {
			return nil, err
		}
		if _, err := fw.Write([]byte(f.body)); err != nil {
			return nil, err
		}
		sum := sha256.Sum256([]byte(f.body))
		fmt.Fprintf(&record, "%s,sha256=%s,%d\n", f.name, base64.RawURLEncoding.EncodeToString(sum[:]), len(f.body))
	}
	fmt.Fprintf(&record, "%s/RECORD,,\n", info)
	fw, err := zw.Create(info + "/RECORD")
	if err != nil {
		return nil, err
	}
	if _, err := fw.Write(record.Bytes()); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Serve serves the wheels at host (an address the installing pip reaches)
// until t ends, and returns a pip requirement for each, in order.
func Serve(t testing.TB, host string, wheels ...Wheel) ([]string, error) {
	files := map[string][]byte{}
	for _, w := range wheels {
		data, err := w.Build()
		if err != nil {
			return nil, err
		}
		files["/"+w.Filename()] = data
	}
	lis, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return nil, fmt.Errorf("serve wheels on %s: %v", host, err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(data)
	})}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(func() { _ = srv.Close() })
	var reqs []string
	for _, w := range wheels {
		reqs = append(reqs, fmt.Sprintf("%s @ http://%s/%s", w.Name, lis.Addr(), w.Filename()))
	}
	return reqs, nil
}
