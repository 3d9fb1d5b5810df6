package hubtest

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"sort"
	"strings"
)

// lfsPatterns are the extensions a Hub repo's default .gitattributes sends to
// Git LFS; the Hub serves those through a CDN redirect, the rest directly.
var lfsPatterns = []string{"*.safetensors", "*.bin", "*.pt", "*.pth", "*.ckpt", "*.h5", "*.msgpack",
	"*.gguf", "*.onnx", "*.ot", "*.model", "*.npz", "*.tar", "*.zip"}

type repoFile struct {
	path   string
	data   []byte
	oid    string // git blob id of what git stores: the data, or the LFS pointer
	lfs    bool
	sha256 string // LFS only
	ptrLen int    // LFS only: size of the pointer file
}

// etag is what the Hub reports as the file's identity, and so the blob's
// name in the cache: the sha256 for LFS files, the git blob id otherwise.
func (f *repoFile) etag() string {
	if f.lfs {
		return f.sha256
	}
	return f.oid
}

type commit struct {
	sha   string
	files map[string]*repoFile
}

type repo struct {
	id      string
	refs    map[string]string // branch or tag -> commit sha
	commits map[string]*commit
	gated   map[string]bool // tokens that accepted the license; nil: not gated
}

func (r *repo) resolve(rev string) *commit {
	if sha, ok := r.refs[rev]; ok {
		return r.commits[sha]
	}
	return r.commits[rev]
}

func newRepoFile(name string, data []byte) *repoFile {
	f := &repoFile{path: name, data: data}
	for _, p := range lfsPatterns {
		if ok, _ := path.Match(p, path.Base(name)); ok {
			f.lfs = true
		}
	}
	if !f.lfs {
		f.oid = gitBlobID(data)
		return f
	}
	sum := sha256.Sum256(data)
	f.sha256 = hex.EncodeToString(sum[:])
	ptr := fmt.Sprintf("version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %d\n", f.sha256, len(data))
	f.oid = gitBlobID([]byte(ptr))
	f.ptrLen = len(ptr)
	return f
}

// gitBlobID is the id git gives a file's content.
func gitBlobID(data []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(data))
	h.Write(data)
	return hex.EncodeToString(h.Sum(nil))
}

// commitID derives a stable 40-hex commit id from the repo, revision and content.
func commitID(id, rev string, files map[string]*repoFile) string {
	h := sha1.New()
	fmt.Fprintf(h, "%s@%s\n", id, rev)
	for _, name := range sortedNames(files) {
		fmt.Fprintf(h, "%s %s\n", name, files[name].oid)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func sortedNames(files map[string]*repoFile) []string {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// dirsOf lists every folder that holds a file, as the tree API reports them.
func dirsOf(files map[string]*repoFile) []string {
	seen := map[string]bool{}
	for n := range files {
		for d := path.Dir(n); d != "."; d = path.Dir(d) {
			seen[d] = true
		}
	}
	var dirs []string
	for d := range seen {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	return dirs
}

func inDir(p, dir string, recursive bool) bool {
	if dir != "" && !strings.HasPrefix(p, dir+"/") {
		return false
	}
	rest := strings.TrimPrefix(p, dir+"/")
	if dir == "" {
		rest = p
	}
	return recursive || !strings.Contains(rest, "/")
}
