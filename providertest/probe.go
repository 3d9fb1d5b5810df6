package providertest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"testing"

	"github.com/sena-labs/sena/internal/wheeltest"
)

// The python_packages check installs a wheel the suite builds and serves
// itself, so it needs no package index: pip takes it as a direct URL.
const probeValue = "sena conformance probe 1.0"

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
	reqs, err := wheeltest.Serve(t, host, wheeltest.Wheel{
		Name: "sena-conformance-probe", Version: "1.0", Module: fmt.Sprintf("VALUE = %q\n", probeValue),
	})
	if err != nil {
		return "", err
	}
	return reqs[0], nil
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
