package hub

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/sena-labs/sena/internal/atomicfile"
)

// The cache layout is huggingface_hub's, so either tool reuses the other's downloads:
//
//	CACHE/models--ORG--NAME/blobs/ETAG                 file content (ETAG: sha256 for LFS files, git blob id otherwise)
//	CACHE/models--ORG--NAME/snapshots/COMMIT/PATH      relative symlink to ../../blobs/ETAG
//	CACHE/models--ORG--NAME/refs/REVISION              the commit a branch or tag pointed at
//	CACHE/models--ORG--NAME/trees/COMMIT.json          the repo's file list at COMMIT (huggingface_hub >= 1.x)
//	CACHE/models--ORG--NAME/.sena/trees/COMMIT.json    the same list, kept by Sena (see writeTree)
//	CACHE/.locks/models--ORG--NAME/ETAG.lock           taken while a blob is written

var commitHash = regexp.MustCompile(`^[0-9a-f]{40}$`)

// cachedirTag marks the cache for backup tools, with huggingface_hub's wording.
const cachedirTag = "Signature: 8a477f597d28d172789f06886806bc55\n" +
	"# This file is a cache directory tag created by huggingface_hub.\n" +
	"# For information about cache directory tags, see:\n" +
	"#\thttps://bford.info/cachedir/\n"

// RepoFolder is the cache folder of model repo ORG/NAME: models--ORG--NAME.
func RepoFolder(repo string) string {
	return "models--" + strings.ReplaceAll(repo, "/", "--")
}

// treeFile is one entry of trees/COMMIT.json, in huggingface_hub's format.
type treeFile struct {
	Size      int64  `json:"size"`
	BlobID    string `json:"blob_id"`
	LFSSHA256 string `json:"lfs_sha256,omitempty"`
	LFSSize   int64  `json:"lfs_size,omitempty"`
}

// etag is the name of the file's blob, as the Hub's (X-Linked-)ETag gives it.
func (f treeFile) etag() string {
	if f.LFSSHA256 != "" {
		return f.LFSSHA256
	}
	return f.BlobID
}

type treeCache struct {
	FormatVersion int                 `json:"format_version"`
	Files         map[string]treeFile `json:"files"`
}

// senaTrees is where Sena keeps its copy of each commit's file list.
const senaTrees = ".sena/trees"

// readTree reads the commit's file list: Sena's copy, else the one
// huggingface_hub wrote.
func readTree(storage, commit string) (map[string]treeFile, bool) {
	for _, dir := range []string{senaTrees, "trees"} {
		if files, ok := readTreeFile(filepath.Join(storage, filepath.FromSlash(dir), commit+".json")); ok {
			return files, true
		}
	}
	return nil, false
}

func readTreeFile(path string) (map[string]treeFile, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, false
	}
	var t treeCache
	if json.Unmarshal(b, &t) != nil || t.FormatVersion != 1 || t.Files == nil {
		return nil, false
	}
	return t.Files, true
}

// writeTree records the commit's file list. huggingface_hub reads
// trees/COMMIT.json as the files a complete snapshot holds: offline, a
// snapshot that lacks any of them is an IncompleteSnapshotError. So Sena
// keeps the whole list under .sena/, where huggingface_hub does not look,
// and writes trees/ only when it fetches every file (all true), as
// huggingface_hub itself would; a snapshot of the safetensors alone then
// reads as complete, as one from before tree listings existed does.
func writeTree(storage, commit string, files map[string]treeFile, all bool) error {
	b, err := json.MarshalIndent(treeCache{FormatVersion: 1, Files: files}, "", " ")
	if err != nil {
		return err
	}
	if _, ok := readTreeFile(filepath.Join(storage, filepath.FromSlash(senaTrees), commit+".json")); !ok {
		if err := writeAtomic(filepath.Join(storage, filepath.FromSlash(senaTrees), commit+".json"), b); err != nil {
			return err
		}
	}
	if !all {
		return nil
	}
	if _, ok := readTreeFile(filepath.Join(storage, "trees", commit+".json")); ok {
		return nil
	}
	return writeAtomic(filepath.Join(storage, "trees", commit+".json"), b)
}

// readRef gives the commit that refs/REVISION recorded, if any.
func readRef(storage, revision string) (string, bool) {
	b, err := os.ReadFile(filepath.Join(storage, "refs", filepath.FromSlash(revision)))
	if err != nil || !commitHash.Match(b) {
		return "", false
	}
	return string(b), true
}

// writeRef records revision -> commit, unless it already says so (the cache
// may be read-only for a model that is already there).
func writeRef(storage, revision, commit string) error {
	if revision == commit {
		return nil
	}
	if got, ok := readRef(storage, revision); ok && got == commit {
		return nil
	}
	return writeAtomic(filepath.Join(storage, "refs", filepath.FromSlash(revision)), []byte(commit))
}

// writeAtomic replaces path with data so that readers never see half of it.
func writeAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.Write(path, data, 0o644)
}

// linkSnapshot points snapshots/COMMIT/NAME at blobs/ETAG with a relative
// symlink, replacing whatever was there atomically.
func linkSnapshot(storage, commit, name, etag string) error {
	dst := filepath.Join(storage, "snapshots", commit, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	rel, err := filepath.Rel(filepath.Dir(dst), filepath.Join(storage, "blobs", etag))
	if err != nil {
		return err
	}
	if cur, err := os.Readlink(dst); err == nil && cur == rel {
		return nil
	}
	tmp := dst + ".tmplink"
	os.Remove(tmp)
	if err := os.Symlink(rel, tmp); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}

// snapshotComplete says whether every file sel picks from the commit's tree
// is in the snapshot with its listed size.
func snapshotComplete(storage, commit string, sel selection) ([]string, bool) {
	tree, ok := readTree(storage, commit)
	if !ok {
		return nil, false
	}
	names := sel.pick(sortedKeys(tree))
	for _, n := range names {
		st, err := os.Stat(filepath.Join(storage, "snapshots", commit, filepath.FromSlash(n)))
		if err != nil || st.Size() != tree[n].Size {
			return nil, false
		}
	}
	return names, true
}

// CachedSnapshot finds a model in cacheDir without the network: the snapshot
// folder of revision (a commit hash, or a branch or tag recorded in refs/),
// when it holds every file a default Download would fetch. Snapshots written
// by tools that keep no file list (huggingface_hub before 1.0) count as
// complete when their folder exists, as huggingface_hub's own offline mode
// treats them. An empty revision means "main".
func CachedSnapshot(cacheDir, repo, revision string) (string, bool) {
	if revision == "" {
		revision = "main"
	}
	storage := filepath.Join(cacheDir, RepoFolder(repo))
	commit := revision
	if !commitHash.MatchString(revision) {
		var ok bool
		if commit, ok = readRef(storage, revision); !ok {
			return "", false
		}
	}
	snap := filepath.Join(storage, "snapshots", commit)
	if _, ok := readTree(storage, commit); ok {
		if _, complete := snapshotComplete(storage, commit, selection{preferSafe: true}); !complete {
			return "", false
		}
		return snap, true
	}
	if st, err := os.Stat(snap); err != nil || !st.IsDir() {
		return "", false
	}
	return snap, true
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
