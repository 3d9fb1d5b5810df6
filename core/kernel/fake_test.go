package kernel

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/coder/websocket"
)

// fakeKernel is a Jupyter server reduced to one kernel's websocket and its
// interrupt endpoint, speaking the real wire protocols, so tests can script
// orders and failures a real kernel produces only by chance.
type fakeKernel struct {
	t      *testing.T
	legacy bool                            // select no subprotocol
	handle func(c *fakeConn, req *message) // answers each client message
	// onInterrupt runs on POST /api/kernels/k1/interrupt; nil answers 204 and does nothing.
	onInterrupt func(c *fakeConn) int

	mu   sync.Mutex
	conn *fakeConn
}

// fakeConn is the server end of one kernel websocket.
type fakeConn struct {
	ws    *websocket.Conn
	codec codec
}

// start serves the fake and connects a client to it.
func (f *fakeKernel) start() *Kernel {
	f.t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/kernels/k1/channels", func(w http.ResponseWriter, r *http.Request) {
		opts := &websocket.AcceptOptions{}
		if !f.legacy {
			opts.Subprotocols = []string{subprotocolV1}
		}
		ws, err := websocket.Accept(w, r, opts)
		if err != nil {
			return
		}
		c := &fakeConn{ws: ws, codec: legacyCodec{}}
		if ws.Subprotocol() == subprotocolV1 {
			c.codec = v1Codec{}
		}
		f.mu.Lock()
		f.conn = c
		f.mu.Unlock()
		for {
			typ, frame, err := ws.Read(context.Background())
			if err != nil {
				return
			}
			m, err := c.codec.decode(typ, frame)
			if err != nil {
				f.t.Errorf("fake server: client sent a bad frame: %v", err)
				return
			}
			if f.handle != nil {
				f.handle(c, m)
			}
		}
	})
	mux.HandleFunc("POST /api/kernels/k1/interrupt", func(w http.ResponseWriter, r *http.Request) {
		code := http.StatusNoContent
		if f.onInterrupt != nil {
			f.mu.Lock()
			c := f.conn
			f.mu.Unlock()
			code = f.onInterrupt(c)
		}
		w.WriteHeader(code)
	})
	ts := httptest.NewServer(mux)
	f.t.Cleanup(ts.Close)
	srv, err := NewServer(ts.URL, "tok")
	if err != nil {
		f.t.Fatal(err)
	}
	k, err := srv.Connect(context.Background(), "k1")
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { k.Close() })
	return k
}

// send writes one message to the client; parent nil means an empty parent header.
func (c *fakeConn) send(channel, msgType string, parent *message, content any, buffers ...[]byte) {
	m, err := newMessage("kernel-session", channel, msgType, content)
	if err != nil {
		panic(err)
	}
	if parent != nil {
		m.Parent, _ = json.Marshal(parent.Header)
	}
	m.Buffers = buffers
	if c.codec == (legacyCodec{}) && len(buffers) > 0 {
		c.writeLegacyBinary(m)
		return
	}
	typ, frame, err := c.codec.encode(m)
	if err != nil {
		panic(err)
	}
	_ = c.ws.Write(context.Background(), typ, frame)
}

// writeLegacyBinary sends a message with buffers as jupyter_server's legacy
// protocol does: big-endian u32 count and offsets, the JSON, the buffers.
func (c *fakeConn) writeLegacyBinary(m *message) {
	body, _ := json.Marshal(legacyMessage{Channel: m.Channel, Header: m.Header, Parent: m.Parent,
		Metadata: orEmpty(m.Metadata), Content: m.Content})
	_ = c.ws.Write(context.Background(), websocket.MessageBinary, legacyBinary(append([][]byte{body}, m.Buffers...)))
}

func legacyBinary(parts [][]byte) []byte {
	n := len(parts)
	out := be32(uint32(n))
	off := 4 * (n + 1)
	for _, p := range parts {
		out = append(out, be32(uint32(off))...)
		off += len(p)
	}
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func be32(v uint32) []byte { return []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)} }

func status(state string) map[string]string { return map[string]string{"execution_state": state} }

func stdout(text string) map[string]string { return map[string]string{"name": "stdout", "text": text} }

func okReply(n int) map[string]any { return map[string]any{"status": "ok", "execution_count": n} }
