package mcp

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// HTTPOptions configure the streamable HTTP transport.
type HTTPOptions struct {
	// Addr is host:port to listen on.
	Addr string
	// Token is the bearer token every request must carry.
	Token string
	// AllowRemote permits a non-loopback address. The token is then the only
	// guard: put TLS in front of it.
	AllowRemote bool
	// Ready is called with the server's URL once it listens.
	Ready func(url string)
}

// ServeHTTP serves the tools over streamable HTTP until ctx ends.
func (s *Server) ServeHTTP(ctx context.Context, o HTTPOptions) error {
	if len(o.Token) < MinTokenBytes {
		return fmt.Errorf("the HTTP transport's bearer token has %d bytes; it needs at least %d (a guessable token lets anyone run code): unset SENA_MCP_TOKEN to have one generated", len(o.Token), MinTokenBytes)
	}
	if err := checkLoopback(o.Addr, o.AllowRemote); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return err
	}
	h := sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return s.sdk }, nil)
	srv := &http.Server{Handler: requireToken(o.Token, h), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if o.Ready != nil {
		o.Ready("http://" + ln.Addr().String() + "/")
	}
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// checkLoopback refuses addresses other machines can reach unless allowed:
// the tools run arbitrary code.
func checkLoopback(addr string, allowRemote bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--http %q: want HOST:PORT, such as 127.0.0.1:8765", addr)
	}
	if allowRemote || host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("--http %s: that address is reachable from other machines, and these tools run any code; "+
		"listen on 127.0.0.1, or pass --allow-remote (behind TLS)", addr)
}

// MinTokenBytes is the shortest bearer token the HTTP transport accepts.
const MinTokenBytes = 32

// requireToken lets through requests with "Authorization: Bearer <token>";
// the scheme is case-insensitive (RFC 6750, RFC 7235). The comparison takes
// constant time; the token is never logged.
func requireToken(token string, next http.Handler) http.Handler {
	want := []byte(token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, got, _ := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
		if !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="sena"`)
			http.Error(w, "missing or wrong bearer token (sena mcp --http prints it, or set SENA_MCP_TOKEN)", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}
