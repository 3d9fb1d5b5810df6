package notebook

import (
	"bytes"
	"testing"
)

// FuzzReadWrite: any bytes read as a notebook or fail, and a notebook that
// reads writes out to bytes that read back to the same bytes.
func FuzzReadWrite(f *testing.F) {
	nb := New()
	nb.AddCode("print(1)")
	nb.AddMarkdown("# notes")
	seed, _ := nb.Marshal()
	f.Add(seed)
	f.Add([]byte(`{"nbformat":4,"nbformat_minor":5,"metadata":{},"cells":[{"cell_type":"code","id":"a","source":["x"],"metadata":{},"outputs":[{"output_type":"stream","name":"stdout","text":"y"}],"execution_count":1}]}`))
	f.Add([]byte(`{"nbformat":3}`))
	f.Add([]byte("not json"))
	f.Fuzz(func(t *testing.T, data []byte) {
		nb, err := Read(bytes.NewReader(data))
		if err != nil {
			return
		}
		out, err := nb.Marshal()
		if err != nil {
			t.Fatalf("a notebook that reads does not write: %v", err)
		}
		again, err := Read(bytes.NewReader(out))
		if err != nil {
			t.Fatalf("what Sena wrote does not read back: %v\n%s", err, out)
		}
		out2, err := again.Marshal()
		if err != nil || !bytes.Equal(out, out2) {
			t.Fatalf("write is not stable over read: %v", err)
		}
	})
}
