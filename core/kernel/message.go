package kernel

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"time"
)

// protocolVersion is the messaging protocol version Sena speaks; kernels do
// not branch on it.
const protocolVersion = "5.3"

// header is a Jupyter message header. Incoming headers may carry more fields
// and other date formats; only msg_id and msg_type are read.
type header struct {
	MsgID    string `json:"msg_id"`
	Session  string `json:"session,omitempty"`
	Username string `json:"username,omitempty"`
	Date     string `json:"date,omitempty"`
	MsgType  string `json:"msg_type"`
	Version  string `json:"version,omitempty"`
}

// message is one Jupyter message on the kernel websocket. Parent, Metadata
// and Content stay raw so large integers and key order survive.
type message struct {
	Channel  string // shell, iopub, stdin or control
	Header   header
	Parent   json.RawMessage
	Metadata json.RawMessage
	Content  json.RawMessage
	Buffers  [][]byte
}

// parentID is the msg_id of the request this message answers, "" if none.
func (m *message) parentID() string {
	var p struct {
		MsgID string `json:"msg_id"`
	}
	if len(m.Parent) == 0 || json.Unmarshal(m.Parent, &p) != nil {
		return ""
	}
	return p.MsgID
}

// newMessage builds a request on channel with a fresh msg_id.
func newMessage(session, channel, msgType string, content any) (*message, error) {
	c, err := json.Marshal(content)
	if err != nil {
		return nil, err
	}
	return &message{
		Channel: channel,
		Header: header{
			MsgID: newUUID(), Session: session, Username: "sena", MsgType: msgType, Version: protocolVersion,
			// jupyter_client parses at most 6 fractional digits.
			Date: time.Now().UTC().Format("2006-01-02T15:04:05.000000Z07:00"),
		},
		Parent:   json.RawMessage("{}"),
		Metadata: json.RawMessage("{}"),
		Content:  c,
	}, nil
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// NewMsgID returns a fresh msg_id, for ExecuteOptions.MsgID.
func NewMsgID() string { return newUUID() }
