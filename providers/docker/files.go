package docker

import (
	"archive/tar"
	"bytes"
	"maps"
	"path"
	"slices"
	"time"
)

// filesTar packs Spec.Files for CopyToContainer at "/": entries are under
// workspace/, with their parent directories, so the copy works on images
// that have no /workspace yet. Files are world-readable, directories
// world-writable with the sticky bit, as in the image.
func filesTar(files map[string][]byte) (*bytes.Buffer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	now := time.Now()
	dirs := map[string]bool{}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		p, err := filePath(name)
		if err != nil {
			return nil, err
		}
		var parents []string
		for d := path.Dir(p); d != "." && !dirs[d]; d = path.Dir(d) {
			dirs[d] = true
			parents = append(parents, d)
		}
		slices.Reverse(parents) // a directory before its children
		for _, d := range parents {
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o1777, ModTime: now}); err != nil {
				return nil, err
			}
		}
		data := files[name]
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: p, Mode: 0o644, Size: int64(len(data)), ModTime: now}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
	}
	return &buf, tw.Close()
}
