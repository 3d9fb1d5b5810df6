package kernel

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/coder/websocket"
)

// FuzzV1Decode: any frame decodes or fails without panicking, and what
// decodes encodes back to a frame that decodes to the same message.
func FuzzV1Decode(f *testing.F) {
	good, _ := v1Frame(f)
	f.Add(good)
	f.Add([]byte{})
	f.Add(make([]byte, 8))
	f.Add(binary.LittleEndian.AppendUint64(nil, 1<<62))
	f.Fuzz(func(t *testing.T, frame []byte) {
		m, err := v1Codec{}.decode(websocket.MessageBinary, frame)
		if err != nil {
			return
		}
		_, again, err := v1Codec{}.encode(m)
		if err != nil {
			t.Fatalf("a decoded message does not encode: %v", err)
		}
		m2, err := v1Codec{}.decode(websocket.MessageBinary, again)
		if err != nil {
			t.Fatalf("a re-encoded frame does not decode: %v", err)
		}
		_, third, _ := v1Codec{}.encode(m2)
		if !bytes.Equal(again, third) {
			t.Fatalf("encode is not stable over decode")
		}
	})
}

func v1Frame(f *testing.F) ([]byte, error) {
	m := &message{Channel: "iopub", Header: header{MsgID: "1", MsgType: "stream"}, Content: []byte(`{"name":"stdout","text":"hi"}`)}
	_, b, err := v1Codec{}.encode(m)
	if err != nil {
		f.Fatal(err)
	}
	return b, nil
}
