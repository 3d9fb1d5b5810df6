package hubtest

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"sort"
)

// Tensor is one float32 tensor for WriteSafetensors.
type Tensor struct {
	Shape []int
	Data  []float32
}

// WriteSafetensors encodes tensors in the safetensors format: an 8-byte
// little-endian header length, a JSON header naming each tensor's dtype, shape
// and byte range, then the raw little-endian data. Tensors are laid out in
// name order so the same input always gives the same bytes (and sha256).
func WriteSafetensors(tensors map[string]Tensor) []byte {
	names := make([]string, 0, len(tensors))
	for n := range tensors {
		names = append(names, n)
	}
	sort.Strings(names)

	type entry struct {
		Dtype   string   `json:"dtype"`
		Shape   []int    `json:"shape"`
		Offsets [2]int64 `json:"data_offsets"`
	}
	header := map[string]any{"__metadata__": map[string]string{"format": "pt"}}
	var off int64
	for _, n := range names {
		t := tensors[n]
		size := int64(len(t.Data)) * 4
		header[n] = entry{Dtype: "F32", Shape: t.Shape, Offsets: [2]int64{off, off + size}}
		off += size
	}
	h, err := json.Marshal(header)
	if err != nil {
		panic(err) // only plain values: cannot fail
	}
	// The format recommends padding the header with spaces to 8-byte alignment.
	for len(h)%8 != 0 {
		h = append(h, ' ')
	}

	out := make([]byte, 8, 8+int64(len(h))+off)
	binary.LittleEndian.PutUint64(out, uint64(len(h)))
	out = append(out, h...)
	for _, n := range names {
		for _, v := range tensors[n].Data {
			out = binary.LittleEndian.AppendUint32(out, math.Float32bits(v))
		}
	}
	return out
}
