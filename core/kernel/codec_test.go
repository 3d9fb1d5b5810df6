package kernel

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"testing"

	"github.com/coder/websocket"
)

func sampleMessage(buffers ...[]byte) *message {
	m, err := newMessage("s1", "iopub", "display_data", map[string]any{"data": map[string]any{"application/json": json.RawMessage(`9223372036854775809`)}})
	if err != nil {
		panic(err)
	}
	m.Parent = json.RawMessage(`{"msg_id":"p1"}`)
	m.Buffers = buffers
	return m
}

func TestV1RoundTrip(t *testing.T) {
	for _, bufs := range [][][]byte{nil, {[]byte("one")}, {[]byte("a"), {}, []byte("\x00\xff\x10")}} {
		m := sampleMessage(bufs...)
		typ, frame, err := v1Codec{}.encode(m)
		if err != nil || typ != websocket.MessageBinary {
			t.Fatalf("encode: %v, %v", typ, err)
		}
		n := int(binary.LittleEndian.Uint64(frame))
		if want := 6 + len(bufs); n != want {
			t.Errorf("offset count %d; want %d", n, want)
		}
		if o := binary.LittleEndian.Uint64(frame[8:]); o != uint64(8*(n+1)) {
			t.Errorf("offsets[0] = %d; want %d", o, 8*(n+1))
		}
		if o := binary.LittleEndian.Uint64(frame[8*n:]); o != uint64(len(frame)) {
			t.Errorf("last offset %d; want the frame length %d", o, len(frame))
		}
		got, err := v1Codec{}.decode(typ, frame)
		if err != nil {
			t.Fatal(err)
		}
		assertSame(t, got, m)
	}
}

func assertSame(t *testing.T, got, want *message) {
	t.Helper()
	if got.Channel != want.Channel || got.Header != want.Header || got.parentID() != want.parentID() ||
		!bytes.Equal(got.Content, want.Content) || len(got.Buffers) != len(want.Buffers) {
		t.Fatalf("round trip: got %+v\nwant %+v", got, want)
	}
	for i := range want.Buffers {
		if !bytes.Equal(got.Buffers[i], want.Buffers[i]) {
			t.Errorf("buffer %d: %q, want %q", i, got.Buffers[i], want.Buffers[i])
		}
	}
}

func TestV1DecodeRejects(t *testing.T) {
	_, good, _ := v1Codec{}.encode(sampleMessage())
	cut := func(b []byte, n int) []byte { return append([]byte(nil), b[:n]...) }
	setU64 := func(i int, v uint64) []byte {
		b := append([]byte(nil), good...)
		binary.LittleEndian.PutUint64(b[8*i:], v)
		return b
	}
	for name, frame := range map[string][]byte{
		"empty":           nil,
		"short":           cut(good, 7),
		"table past end":  cut(good, 40),
		"huge count":      setU64(0, 1<<62),
		"too few parts":   setU64(0, 3),
		"offset past end": setU64(3, uint64(len(good)+1)),
		"offset backward": setU64(3, 1),
		"bad header":      setU64(2, binary.LittleEndian.Uint64(good[8*2:])+1),
	} {
		if _, err := (v1Codec{}).decode(websocket.MessageBinary, frame); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
	if _, err := (v1Codec{}).decode(websocket.MessageText, good); err == nil {
		t.Error("text frame accepted by the v1 codec")
	}
}

func TestLegacyRoundTrip(t *testing.T) {
	m := sampleMessage()
	typ, frame, err := legacyCodec{}.encode(m)
	if err != nil || typ != websocket.MessageText {
		t.Fatalf("encode: %v, %v", typ, err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(frame, &raw); err != nil || string(raw["channel"]) != `"iopub"` {
		t.Fatalf("legacy frame %s: want a JSON object with channel", frame)
	}
	got, err := legacyCodec{}.decode(typ, frame)
	if err != nil {
		t.Fatal(err)
	}
	assertSame(t, got, m)
	if _, _, err := (legacyCodec{}).encode(sampleMessage([]byte("b"))); err == nil {
		t.Error("legacy encode of a message with buffers: want an error")
	}
}

func TestLegacyBinaryDecode(t *testing.T) {
	m := sampleMessage([]byte("buf0"), []byte("buf1"))
	body, _ := json.Marshal(legacyMessage{Channel: m.Channel, Header: m.Header, Parent: m.Parent, Metadata: orEmpty(nil), Content: m.Content})
	frame := legacyBinary(append([][]byte{body}, m.Buffers...))
	got, err := legacyCodec{}.decode(websocket.MessageBinary, frame)
	if err != nil {
		t.Fatal(err)
	}
	assertSame(t, got, m)
	for name, bad := range map[string][]byte{
		"short":         frame[:3],
		"zero parts":    append(be32(0), frame[4:]...),
		"count too big": append(be32(1<<30), frame[4:]...),
		"offset past":   append(append(be32(1), be32(uint32(len(frame)+5))...), frame[8:]...),
	} {
		if _, err := (legacyCodec{}).decode(websocket.MessageBinary, bad); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
}

// FuzzDecodeV1: the decoder never panics, and what it accepts survives
// re-encoding unchanged.
func FuzzDecodeV1(f *testing.F) {
	for _, bufs := range [][][]byte{nil, {[]byte("x")}, {[]byte("a"), []byte("bc"), {}}} {
		_, frame, _ := v1Codec{}.encode(sampleMessage(bufs...))
		f.Add(frame)
	}
	f.Add([]byte{})
	f.Add(make([]byte, 64))
	f.Fuzz(func(t *testing.T, frame []byte) {
		m, err := v1Codec{}.decode(websocket.MessageBinary, frame)
		if err != nil {
			return
		}
		_, again, err := v1Codec{}.encode(m)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		m2, err := v1Codec{}.decode(websocket.MessageBinary, again)
		if err != nil {
			t.Fatalf("decode of re-encoded frame: %v", err)
		}
		if m2.Channel != m.Channel || m2.Header != m.Header || !bytes.Equal(m2.Parent, m.Parent) ||
			!bytes.Equal(m2.Metadata, orEmpty(m.Metadata)) || !bytes.Equal(m2.Content, orEmpty(m.Content)) || len(m2.Buffers) != len(m.Buffers) {
			t.Fatalf("round trip changed the message:\n%+v\n%+v", m, m2)
		}
	})
}
