package kernel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// Tunables; tests shorten them.
var (
	// replyGrace: how long to wait for the other half of (execute_reply,
	// status idle) once one has come, before deciding it was lost.
	replyGrace = 5 * time.Second
	// pingInterval keeps tunnels and proxies from closing an idle socket.
	pingInterval = 30 * time.Second
)

// readLimit bounds one websocket message; coder/websocket's default of
// 32 KiB would drop the connection on the first plot.
const readLimit = 1 << 30

// writeTimeout bounds one frame write. Writes use their own context because
// coder/websocket closes the connection when a write's context ends.
const writeTimeout = 30 * time.Second

// Kernel is a connection to one kernel over its websocket. One goroutine
// reads every message and routes it by the parent msg_id to the request that
// caused it. Its methods are safe for concurrent use; the kernel itself runs
// executions one at a time.
type Kernel struct {
	id      string
	srv     *Server
	conn    *websocket.Conn
	codec   codec
	proto   string
	session string // client session UUID: ws session_id and header.session

	stop       context.CancelFunc // ends the reader and pinger
	readerDone chan struct{}

	mu       sync.Mutex
	pending  map[string]*call
	err      error // terminal: set once the kernel is dead or the socket gone
	restarts int   // restarts seen on this connection
}

// Connect opens the websocket of kernel kernelID, offering the v1 protocol
// and falling back to legacy JSON when the server selects none. The server
// answers only once the kernel is alive, which can take many seconds for a
// cold kernel: give ctx a minute.
func (s *Server) Connect(ctx context.Context, kernelID string) (*Kernel, error) {
	if kernelID == "" {
		return nil, errorf(ErrKernelNotFound, "connect: empty kernel id")
	}
	u := s.endpoint("api", "kernels", kernelID, "channels")
	u.Scheme = strings.Replace(u.Scheme, "http", "ws", 1)
	session := newUUID()
	u.RawQuery = "session_id=" + session
	h := http.Header{}
	s.authorize(h)
	conn, resp, err := websocket.Dial(ctx, u.String(), &websocket.DialOptions{
		HTTPClient:   s.http,
		HTTPHeader:   h,
		Subprotocols: []string{subprotocolV1},
	})
	if err != nil {
		switch {
		case resp != nil && resp.StatusCode == http.StatusNotFound:
			return nil, errorf(ErrKernelNotFound, "no kernel %q on %s: it was shut down, culled or never started", kernelID, s.BaseURL())
		case resp != nil && (resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusUnauthorized):
			return nil, errorf(ErrAuth, "jupyter server at %s refused the kernel websocket (HTTP %d): pass the token shown in the server's URL",
				s.BaseURL(), resp.StatusCode)
		case ctx.Err() != nil:
			return nil, errorf(ErrConnection, "kernel %s websocket: %v (a cold kernel can take a minute to answer)", kernelID, ctx.Err())
		}
		return nil, errorf(ErrConnection, "kernel %s websocket on %s: %v (do proxies forward websocket upgrades?)",
			kernelID, s.BaseURL(), unwrapURLError(err))
	}
	conn.SetReadLimit(readLimit)
	k := &Kernel{
		id: kernelID, srv: s, conn: conn, session: session,
		codec: legacyCodec{}, proto: "legacy",
		readerDone: make(chan struct{}),
		pending:    map[string]*call{},
	}
	if conn.Subprotocol() == subprotocolV1 {
		k.codec, k.proto = v1Codec{}, "v1"
	}
	rctx, stop := context.WithCancel(context.Background())
	k.stop = stop
	go k.read(rctx)
	go k.ping(rctx)
	return k, nil
}

// Restarts counts the kernel restarts this connection has seen: its own
// Restart calls and the server's news of a kernel that died and was
// restarted, whether or not a request was pending.
func (k *Kernel) Restarts() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.restarts
}

// ID returns the kernel id.
func (k *Kernel) ID() string { return k.id }

// Protocol returns the websocket protocol in use: "v1" or "legacy".
func (k *Kernel) Protocol() string { return k.proto }

// Close closes the websocket; the kernel keeps running. Pending requests
// fail with ErrConnection.
func (k *Kernel) Close() error {
	k.die(errorf(ErrConnection, "kernel %s: the client was closed", k.id))
	err := k.conn.Close(websocket.StatusNormalClosure, "")
	k.stop()
	<-k.readerDone
	if errors.Is(err, net.ErrClosed) { // closed already: by the server, or a second Close
		return nil
	}
	return err
}

// read is the one reader: it never blocks on a consumer, so pongs keep
// flowing and one slow caller cannot stall another.
func (k *Kernel) read(ctx context.Context) {
	defer close(k.readerDone)
	for {
		typ, frame, err := k.conn.Read(ctx)
		if err != nil {
			k.die(errorf(ErrConnection, "kernel %s: websocket closed: %v (the server stopped or the network dropped; reconnect)", k.id, err))
			return
		}
		m, err := k.codec.decode(typ, frame)
		if err != nil {
			continue // one malformed frame is not worth the connection
		}
		k.route(m)
	}
}

func (k *Kernel) ping(ctx context.Context) {
	t := time.NewTicker(pingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			pctx, cancel := context.WithTimeout(ctx, writeTimeout)
			err := k.conn.Ping(pctx)
			cancel()
			if err != nil && ctx.Err() == nil {
				// A dead peer; closing wakes the reader, which fails pending calls.
				_ = k.conn.CloseNow()
				return
			}
		}
	}
}

// route hands a message to the request that caused it, or treats it as news
// about the kernel itself.
func (k *Kernel) route(m *message) {
	parent := m.parentID()
	k.mu.Lock()
	c := k.pending[parent]
	if c != nil {
		c.add(m)
	}
	k.mu.Unlock()
	if c != nil {
		c.poke()
		return
	}
	switch {
	case m.Channel == "iopub" && m.Header.MsgType == "status" && parent == "":
		// The server's restarter speaks for a kernel process that died.
		switch executionState(m.Content) {
		case "restarting":
			k.mu.Lock()
			k.restarts++
			k.mu.Unlock()
			k.failPending(errorf(ErrKernelRestarted, "kernel %s died and was restarted: its variables are gone; run the setup code again", k.id))
		case "dead":
			k.die(errorf(ErrKernelDead, "kernel %s died and could not be restarted: start a new kernel", k.id))
		}
	case m.Header.MsgType == "shutdown_reply":
		var c struct {
			Restart bool `json:"restart"`
		}
		_ = json.Unmarshal(m.Content, &c)
		if c.Restart {
			k.mu.Lock()
			k.restarts++
			k.mu.Unlock()
			k.failPending(errorf(ErrKernelRestarted, "kernel %s was restarted: its variables are gone", k.id))
		} else {
			k.die(errorf(ErrKernelDead, "kernel %s was shut down: start a new kernel", k.id))
		}
	}
}

func executionState(content json.RawMessage) string {
	var s struct {
		State string `json:"execution_state"`
	}
	_ = json.Unmarshal(content, &s)
	return s.State
}

// failPending ends every pending request with err.
func (k *Kernel) failPending(err error) {
	k.mu.Lock()
	calls := make([]*call, 0, len(k.pending))
	for _, c := range k.pending {
		if c.err == nil {
			c.err = err
		}
		calls = append(calls, c)
	}
	k.mu.Unlock()
	for _, c := range calls {
		c.poke()
	}
}

// die marks the kernel unusable (the first reason wins) and fails pending requests.
func (k *Kernel) die(err error) {
	k.mu.Lock()
	if k.err == nil {
		k.err = err
	}
	err = k.err
	k.mu.Unlock()
	k.failPending(err)
}

// MaxMessageSize is the largest message jupyter_server takes from a kernel
// client, Tornado's default websocket_max_message_size: a bigger one makes
// the server drop the connection.
const MaxMessageSize = 10 << 20

// start registers a request before sending it, so no answer can outrun it.
func (k *Kernel) start(channel, msgType string, content any) (*call, error) {
	return k.startID(channel, msgType, content, "")
}

// startID is start with the request's msg_id given (a fresh one when "").
func (k *Kernel) startID(channel, msgType string, content any, msgID string) (*call, error) {
	m, err := newMessage(k.session, channel, msgType, content)
	if err != nil {
		return nil, err
	}
	if msgID != "" {
		m.Header.MsgID = msgID
	}
	c := &call{id: m.Header.MsgID, wake: make(chan struct{}, 1)}
	k.mu.Lock()
	if k.err != nil {
		err = k.err
	} else {
		k.pending[c.id] = c
	}
	k.mu.Unlock()
	if err != nil {
		return nil, err
	}
	typ, frame, err := k.codec.encode(m)
	if err == nil && len(frame) > MaxMessageSize {
		err = errorf(ErrMessageTooLarge, "kernel %s: the %s is %s, over the %s a Jupyter server takes in one message",
			k.id, msgType, sizeWords(len(frame)), sizeWords(MaxMessageSize))
	}
	if err == nil {
		wctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
		err = k.conn.Write(wctx, typ, frame)
		cancel()
		if err != nil {
			err = errorf(ErrConnection, "kernel %s: sending %s: %v", k.id, msgType, err)
		}
	}
	if err != nil {
		k.finish(c)
		return nil, err
	}
	return c, nil
}

// finish forgets a request; later messages for it are dropped.
func (k *Kernel) finish(c *call) {
	k.mu.Lock()
	delete(k.pending, c.id)
	k.mu.Unlock()
}

// call is one request in flight. The reader fills it under Kernel.mu; its
// owner drains it.
type call struct {
	id     string
	events []Event  // iopub outputs not yet handed to the owner
	reply  *message // shell or control reply
	idle   bool     // iopub status idle seen
	err    error    // the kernel restarted, died or the socket went
	wake   chan struct{}
}

// add records a message for this call; caller holds Kernel.mu.
func (c *call) add(m *message) {
	switch {
	case m.Channel == "iopub" && m.Header.MsgType == "status":
		if executionState(m.Content) == "idle" {
			c.idle = true
		}
	case m.Channel == "iopub" && outputTypes[m.Header.MsgType]:
		c.events = append(c.events, Event{Type: m.Header.MsgType, Content: m.Content})
	case (m.Channel == "shell" || m.Channel == "control") && strings.HasSuffix(m.Header.MsgType, "_reply"):
		c.reply = m
	}
}

// poke wakes the owner without ever blocking the reader.
func (c *call) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// take returns what arrived since the last take.
func (k *Kernel) take(c *call) (events []Event, reply *message, idle bool, err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	events, c.events = c.events, nil
	return events, c.reply, c.idle, c.err
}

// KernelInfo is the kernel's kernel_info_reply.
type KernelInfo struct {
	ProtocolVersion string          `json:"protocol_version"`
	Implementation  string          `json:"implementation"`
	LanguageInfo    json.RawMessage `json:"language_info"` // name, version, mimetype, file_extension, ...
	Banner          string          `json:"banner"`
	// Session is the kernel process's own session id (its replies'
	// header.session): a restarted kernel has a new one.
	Session string `json:"-"`
	// RequestID is the msg_id of the kernel_info_request this answered.
	RequestID string `json:"-"`
}

// Info asks the kernel for its kernel_info. It waits behind a running
// execution, as the kernel answers shell requests in order.
func (k *Kernel) Info(ctx context.Context) (*KernelInfo, error) {
	c, err := k.start("shell", "kernel_info_request", struct{}{})
	if err != nil {
		return nil, err
	}
	defer k.finish(c)
	for {
		_, reply, _, err := k.take(c)
		if err != nil {
			return nil, err
		}
		if reply != nil {
			var ki KernelInfo
			if err := json.Unmarshal(reply.Content, &ki); err != nil {
				return nil, errorf(ErrConnection, "kernel %s: bad kernel_info_reply: %v", k.id, err)
			}
			ki.Session = reply.Header.Session
			ki.RequestID = c.id
			return &ki, nil
		}
		select {
		case <-c.wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Interrupt interrupts the running execution (REST, so it works while the
// shell channel is busy).
func (k *Kernel) Interrupt(ctx context.Context) error {
	return k.srv.InterruptKernel(ctx, k.id)
}

// Restart restarts the kernel, losing its state; pending executions fail
// with ErrKernelRestarted.
func (k *Kernel) Restart(ctx context.Context) error {
	if err := k.srv.RestartKernel(ctx, k.id); err != nil {
		return err
	}
	k.mu.Lock()
	k.restarts++
	k.mu.Unlock()
	k.failPending(errorf(ErrKernelRestarted, "kernel %s was restarted: its variables are gone", k.id))
	return nil
}

// RequestSize is how many bytes an execute_request for code takes on this
// kernel's websocket, to compare with MaxMessageSize before sending it.
func (k *Kernel) RequestSize(code string) int {
	m, err := newMessage(k.session, "shell", "execute_request", map[string]any{
		"code": code, "silent": false, "store_history": true,
		"user_expressions": map[string]any{}, "allow_stdin": false, "stop_on_error": false,
	})
	if err != nil {
		return 0
	}
	_, frame, err := k.codec.encode(m)
	if err != nil {
		return 0
	}
	return len(frame)
}

func sizeWords(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
