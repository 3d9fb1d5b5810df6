// Package freeport finds a free TCP port on the loopback interface.
package freeport

import "net"

// Get asks the kernel for a free port on 127.0.0.1. Another process may
// take it before the caller binds it: callers that start servers on it
// must expect that and retry.
func Get() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
