package kernel

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/coder/websocket"
)

// subprotocolV1 is the binary kernel websocket protocol of jupyter_server
// 1.13.5 and later; without it the server speaks the legacy JSON protocol.
const subprotocolV1 = "v1.kernel.websocket.jupyter.org"

// codec turns messages into websocket frames and back.
type codec interface {
	encode(m *message) (websocket.MessageType, []byte, error)
	decode(typ websocket.MessageType, frame []byte) (*message, error)
}

// v1Codec: binary frames, all little-endian u64:
//
//	n, offsets[n], channel, header, parent, metadata, content, buffers...
//
// with offsets[0] = 8*(n+1), segment i spanning [offsets[i], offsets[i+1])
// and offsets[n-1] = len(frame).
type v1Codec struct{}

// v1Parts is the number of JSON parts before the buffers.
const v1Parts = 4

func (v1Codec) encode(m *message) (websocket.MessageType, []byte, error) {
	h, err := json.Marshal(m.Header)
	if err != nil {
		return 0, nil, err
	}
	segs := [][]byte{[]byte(m.Channel), h, orEmpty(m.Parent), orEmpty(m.Metadata), orEmpty(m.Content)}
	segs = append(segs, m.Buffers...)
	n := len(segs) + 1
	size := 8 * (n + 1)
	for _, s := range segs {
		size += len(s)
	}
	out := make([]byte, 8*(n+1), size)
	binary.LittleEndian.PutUint64(out, uint64(n))
	off := 8 * (n + 1)
	for i, s := range segs {
		binary.LittleEndian.PutUint64(out[8*(i+1):], uint64(off))
		off += len(s)
	}
	binary.LittleEndian.PutUint64(out[8*n:], uint64(off))
	for _, s := range segs {
		out = append(out, s...)
	}
	return websocket.MessageBinary, out, nil
}

func (v1Codec) decode(typ websocket.MessageType, frame []byte) (*message, error) {
	if typ != websocket.MessageBinary {
		return nil, errors.New("v1 kernel protocol: text frame, want binary")
	}
	if len(frame) < 8 {
		return nil, errors.New("v1 kernel protocol: frame shorter than its offset count")
	}
	n64 := binary.LittleEndian.Uint64(frame)
	// channel + 4 JSON parts need 6 offsets; the offset table must fit the frame.
	if n64 < v1Parts+2 || n64 > uint64(len(frame)/8-1) {
		return nil, fmt.Errorf("v1 kernel protocol: bad offset count %d for a %d-byte frame", n64, len(frame))
	}
	n := int(n64)
	offs := make([]int, n)
	prev := uint64(8 * (n + 1))
	for i := range offs {
		o := binary.LittleEndian.Uint64(frame[8*(i+1):])
		if o < prev || o > uint64(len(frame)) {
			return nil, fmt.Errorf("v1 kernel protocol: offset %d (%d) out of order or past the frame", i, o)
		}
		offs[i], prev = int(o), o
	}
	seg := func(i int) []byte { return frame[offs[i]:offs[i+1]] }
	m := &message{
		Channel:  string(seg(0)),
		Parent:   seg(2),
		Metadata: seg(3),
		Content:  seg(4),
	}
	if err := json.Unmarshal(seg(1), &m.Header); err != nil {
		return nil, fmt.Errorf("v1 kernel protocol: bad header: %v", err)
	}
	for i := 1 + v1Parts; i < n-1; i++ {
		m.Buffers = append(m.Buffers, seg(i))
	}
	return m, nil
}

// legacyCodec: one JSON object per text frame, or, for messages with
// buffers, a binary frame of big-endian u32 n, offsets[n], then the JSON
// message and the buffers, each part running to the next offset.
type legacyCodec struct{}

type legacyMessage struct {
	Channel  string          `json:"channel"`
	Header   header          `json:"header"`
	Parent   json.RawMessage `json:"parent_header"`
	Metadata json.RawMessage `json:"metadata"`
	Content  json.RawMessage `json:"content"`
}

func (legacyCodec) encode(m *message) (websocket.MessageType, []byte, error) {
	if len(m.Buffers) > 0 {
		return 0, nil, errors.New("legacy kernel protocol: sending buffers is not supported")
	}
	b, err := json.Marshal(legacyMessage{
		Channel: m.Channel, Header: m.Header,
		Parent: orEmpty(m.Parent), Metadata: orEmpty(m.Metadata), Content: orEmpty(m.Content),
	})
	return websocket.MessageText, b, err
}

func (legacyCodec) decode(typ websocket.MessageType, frame []byte) (*message, error) {
	body, bufs := frame, [][]byte(nil)
	if typ == websocket.MessageBinary {
		parts, err := splitLegacyBinary(frame)
		if err != nil {
			return nil, err
		}
		body, bufs = parts[0], parts[1:]
	}
	var lm legacyMessage
	if err := json.Unmarshal(body, &lm); err != nil {
		return nil, fmt.Errorf("legacy kernel protocol: bad message: %v", err)
	}
	return &message{Channel: lm.Channel, Header: lm.Header, Parent: lm.Parent,
		Metadata: lm.Metadata, Content: lm.Content, Buffers: bufs}, nil
}

func splitLegacyBinary(frame []byte) ([][]byte, error) {
	if len(frame) < 4 {
		return nil, errors.New("legacy kernel protocol: binary frame shorter than its part count")
	}
	n := binary.BigEndian.Uint32(frame)
	if n < 1 || uint64(n) > uint64(len(frame)/4-1) {
		return nil, fmt.Errorf("legacy kernel protocol: bad part count %d for a %d-byte frame", n, len(frame))
	}
	offs := make([]int, n+1)
	prev := 4 * (int(n) + 1)
	for i := 0; i < int(n); i++ {
		o := int(binary.BigEndian.Uint32(frame[4*(i+1):]))
		if o < prev || o > len(frame) {
			return nil, fmt.Errorf("legacy kernel protocol: offset %d (%d) out of order or past the frame", i, o)
		}
		offs[i], prev = o, o
	}
	offs[n] = len(frame)
	parts := make([][]byte, n)
	for i := range parts {
		parts[i] = frame[offs[i]:offs[i+1]]
	}
	return parts, nil
}

// orEmpty stands in "{}" for a missing JSON part; the server needs each
// part to be valid JSON.
func orEmpty(r json.RawMessage) json.RawMessage {
	if len(r) == 0 {
		return json.RawMessage("{}")
	}
	return r
}
