package docker

import (
	"archive/tar"
	"bytes"
	"maps"
	"path"
	"slices"
	"strings"
	"time"
)

// fileEntry is one file copied into the container before it starts.
type fileEntry struct {
	data []byte
	mode int64
}

// filesTar packs files (keyed by path relative to /) for CopyToContainer at
// "/", with their parent directories, so the copy works on images that have
// neither /workspace nor /run/sena yet. Work dir directories are
// world-writable with the sticky bit, as in the image, so the image's
// non-root user can write next to them; Sena's own are 0755.
func filesTar(files map[string]fileEntry) (*bytes.Buffer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	now := time.Now()
	dirs := map[string]bool{}
	for _, p := range slices.Sorted(maps.Keys(files)) {
		f := files[p]
		var parents []string
		for d := path.Dir(p); d != "." && !dirs[d]; d = path.Dir(d) {
			dirs[d] = true
			parents = append(parents, d)
		}
		slices.Reverse(parents) // a directory before its children
		for _, d := range parents {
			mode := int64(0o755)
			if d == workDir[1:] || strings.HasPrefix(d, workDir[1:]+"/") {
				mode = 0o1777
			}
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: mode, ModTime: now}); err != nil {
				return nil, err
			}
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: p, Mode: f.mode, Size: int64(len(f.data)), ModTime: now}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	return &buf, tw.Close()
}
