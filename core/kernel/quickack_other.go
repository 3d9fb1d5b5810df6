//go:build !linux

package kernel

import "net/http"

// newHTTPClient is the client for REST calls and websockets (quick ACKs
// are a Linux socket option; elsewhere the default transport).
func newHTTPClient() *http.Client { return &http.Client{} }
