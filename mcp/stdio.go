package mcp

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// MaxLineBytes bounds one JSON-RPC message on the stdio transport.
const MaxLineBytes = sdk.DefaultMaxLineLength

// StdioTransport is the stdio transport, guarded: the SDK's own ends the
// connection on the first line that is not a JSON-RPC message, so one stray
// write from a client (or random bytes) would stop the server. Here each
// line is checked first: a JSON object or array passes to the SDK; anything
// else, or a line over MaxLineBytes, is answered with a JSON-RPC parse error
// (id null) and dropped, and the server carries on.
func StdioTransport(in io.Reader, out io.Writer) sdk.Transport {
	w := &lockedWriter{w: out}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(guardLines(in, pw, w)) }()
	return &sdk.IOTransport{Reader: pr, Writer: nopCloser{w}}
}

// guardLines copies the well-formed lines of in to pass and answers the
// others on reply.
func guardLines(in io.Reader, pass io.Writer, reply io.Writer) error {
	r := bufio.NewReaderSize(in, 64<<10)
	for {
		line, tooLong, err := readLine(r, MaxLineBytes)
		if len(line) > 0 || tooLong {
			switch trimmed := bytes.TrimSpace(line); {
			case tooLong:
				parseError(reply, fmt.Sprintf("message over %d bytes", MaxLineBytes))
			case len(trimmed) == 0:
			case (trimmed[0] == '{' || trimmed[0] == '[') && json.Valid(trimmed):
				if _, werr := pass.Write(append(trimmed, '\n')); werr != nil {
					return werr
				}
			default:
				parseError(reply, "not a JSON-RPC message: each line must be one JSON object")
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// readLine reads up to a newline; past max bytes the rest of the line is
// read and dropped, and tooLong says so.
func readLine(r *bufio.Reader, max int) (line []byte, tooLong bool, err error) {
	for {
		chunk, err := r.ReadSlice('\n')
		if !tooLong {
			if len(line)+len(chunk) > max {
				tooLong, line = true, nil
			} else {
				line = append(line, chunk...)
			}
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return line, tooLong, err
		}
	}
}

func parseError(w io.Writer, msg string) {
	b, _ := json.Marshal(map[string]any{
		"jsonrpc": "2.0", "id": nil,
		"error": map[string]any{"code": -32700, "message": "Parse error: " + msg},
	})
	_, _ = w.Write(append(b, '\n'))
}

// lockedWriter keeps the SDK's messages and the guard's replies whole.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
