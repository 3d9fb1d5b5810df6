package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/coder/websocket"
)

// wsExec is the floor's client: it opens kernel id's websocket on the bare
// server in the legacy JSON protocol, runs code and returns once the kernel
// has replied and gone idle. Nothing else: no notebook, no records.
func (s *bareServer) wsExec(ctx context.Context, id, code string) error {
	session := randomHex(16)
	u := strings.Replace(s.url, "http", "ws", 1) + "api/kernels/" + id + "/channels?session_id=" + session
	conn, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{
		HTTPHeader: http.Header{"Authorization": {"token " + s.token}},
	})
	if err != nil {
		return err
	}
	defer conn.CloseNow()
	conn.SetReadLimit(1 << 30)
	msgID := randomHex(16)
	req, _ := json.Marshal(map[string]any{
		"header": map[string]any{"msg_id": msgID, "msg_type": "execute_request", "session": session,
			"username": "bench", "version": "5.3", "date": ""},
		"parent_header": map[string]any{}, "metadata": map[string]any{}, "channel": "shell",
		"content": map[string]any{"code": code, "silent": false, "store_history": false,
			"user_expressions": map[string]any{}, "allow_stdin": false, "stop_on_error": false},
	})
	if err := conn.Write(ctx, websocket.MessageText, req); err != nil {
		return err
	}
	replied, idle := false, false
	for !replied || !idle {
		_, data, err := conn.Read(ctx)
		if err != nil {
			return err
		}
		var m struct {
			Header struct {
				MsgType string `json:"msg_type"`
			} `json:"header"`
			ParentHeader struct {
				MsgID string `json:"msg_id"`
			} `json:"parent_header"`
			Content struct {
				Status         string `json:"status"`
				ExecutionState string `json:"execution_state"`
			} `json:"content"`
		}
		if json.Unmarshal(data, &m) != nil || m.ParentHeader.MsgID != msgID {
			continue
		}
		switch {
		case m.Header.MsgType == "execute_reply":
			if m.Content.Status != "ok" {
				return fmt.Errorf("execute_reply status %q", m.Content.Status)
			}
			replied = true
		case m.Header.MsgType == "status" && m.Content.ExecutionState == "idle":
			idle = true
		}
	}
	return nil
}

// firstCell starts a kernel and runs 1+1 in it, up to three times: on a
// loaded machine jupyter_server may drop the websocket of a kernel slow to
// answer, or give up on a kernel that died starting, and a user would try
// again.
func (s *bareServer) firstCell(ctx context.Context) (err error) {
	for range 3 {
		var id string
		if id, err = s.startKernel(ctx); err == nil {
			if err = s.wsExec(ctx, id, "1+1"); err == nil {
				return nil
			}
		}
		if ctx.Err() != nil {
			return err
		}
	}
	return err
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
