package hub

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/internal/humanize"
)

// DownloadOptions choose what Download fetches.
type DownloadOptions struct {
	// AllowPatterns, if set, keep only files matching one of them;
	// IgnorePatterns drop files matching any. Patterns are fnmatch-style as in
	// huggingface_hub: * and ? match any character including "/", a pattern
	// ending in "/" means everything under that folder. Without AllowPatterns,
	// a repo that has *.safetensors weights gets those only, not its .bin, .pt,
	// .h5 or .msgpack copies; AllowPatterns ["*"] gets every file.
	AllowPatterns, IgnorePatterns []string
	// Refresh asks the Hub which commit the revision points at now, even when
	// the cache already holds a complete snapshot for it.
	Refresh bool
	// Progress, if set, hears the download as one step: the bytes of every
	// selected file together, then a Finished report ("cached" when the
	// cache had everything). Calls come one at a time.
	Progress func(core.Progress)
}

// Snapshot is a model revision complete in the cache.
type Snapshot struct {
	// Repo is ORG/NAME; Commit the 40-hex commit the revision resolved to.
	Repo, Commit string
	// Path is the snapshot folder, CACHE/models--ORG--NAME/snapshots/COMMIT:
	// what transformers' from_pretrained takes.
	Path string
	// Files are the repo paths this download selected, all present under Path.
	Files []string
	// BytesDownloaded came over the network in this call (0 when all was cached).
	BytesDownloaded int64
}

var repoID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$`)

// Download puts revision ("" means main) of model repo (ORG/NAME) in the
// cache and returns its snapshot.
//
// It is offline-first: when the revision is a commit hash, or a branch or tag
// that refs/ already maps to a commit, and that commit's snapshot holds every
// selected file, it returns without any request. huggingface_hub would instead
// ask the Hub (a HEAD per file) whether a branch moved; we skip that because a
// sandbox must start, repeatably, with no network and no Hub rate limit, and
// the model a researcher studies should not change under them between
// sessions. Set DownloadOptions.Refresh (sena's --refresh) to follow a branch
// to its newest commit; blobs already present are still not downloaded again.
//
// Otherwise it resolves the revision with one API request, records
// refs/REVISION and trees/COMMIT.json, and fetches the missing files in
// parallel (Options.Concurrency), each under a per-blob lock shared with
// huggingface_hub, resuming partial files, verifying sizes and hashes, and
// linking snapshots/COMMIT/PATH to blobs/ETAG.
func (c *Client) Download(ctx context.Context, repo, revision string, opts *DownloadOptions) (*Snapshot, error) {
	if opts == nil {
		opts = &DownloadOptions{}
	}
	if !repoID.MatchString(repo) || strings.Contains(repo, "..") {
		return nil, core.Errorf(core.ErrInvalidConfig, "model %q: write it as ORG/NAME, as in google/gemma-2-9b-it", repo)
	}
	if revision == "" {
		revision = "main"
	}
	sel, err := newSelection(opts)
	if err != nil {
		return nil, err
	}
	rep := &reporter{fn: c.progress, step: opts.Progress}
	storage := filepath.Join(c.cacheDir, RepoFolder(repo))

	if !opts.Refresh {
		if snap, ok := cachedSnapshot(storage, repo, revision, sel, rep); ok {
			rep.finish(snap)
			return snap, nil
		}
	}

	commit, tree, err := c.resolveRevision(ctx, repo, revision)
	if err != nil {
		return nil, err
	}
	names := sel.pick(sortedKeys(tree))
	if len(names) == 0 {
		return nil, core.Errorf(core.ErrInvalidConfig,
			"no file of model %s at %s matches allow patterns %q and ignore patterns %q: the repo has %s",
			repo, revision, opts.AllowPatterns, opts.IgnorePatterns, strings.Join(sortedKeys(tree), ", "))
	}
	if err := prepareStorage(c.cacheDir, storage, revision, commit, tree, len(names) == len(tree)); err != nil {
		return nil, err
	}
	if err := checkSpace(storage, names, tree); err != nil {
		return nil, err
	}

	jobs := make([]job, len(names))
	first := make([]Progress, len(names))
	for i, n := range names {
		jobs[i] = job{repo: repo, commit: commit, name: n, file: tree[n], storage: storage}
		present := int64(0)
		if blobPresent(filepath.Join(storage, "blobs", tree[n].etag()), tree[n].Size) {
			present = tree[n].Size
		}
		first[i] = Progress{Repo: repo, File: n, Bytes: present, Total: tree[n].Size}
	}
	rep.start(first)
	got, err := c.fetchAll(ctx, jobs, rep)
	if err != nil {
		return nil, err
	}
	snap := &Snapshot{Repo: repo, Commit: commit, Path: filepath.Join(storage, "snapshots", commit), Files: names, BytesDownloaded: got}
	rep.finish(snap)
	return snap, nil
}

// cachedSnapshot is Download's no-network path.
func cachedSnapshot(storage, repo, revision string, sel selection, rep *reporter) (*Snapshot, bool) {
	commit := revision
	if !commitHash.MatchString(revision) {
		var ok bool
		if commit, ok = readRef(storage, revision); !ok {
			return nil, false
		}
	}
	names, ok := snapshotComplete(storage, commit, sel)
	if !ok || len(names) == 0 {
		return nil, false
	}
	tree, _ := readTree(storage, commit)
	for _, n := range names {
		rep.reportCached(Progress{Repo: repo, File: n, Bytes: tree[n].Size, Total: tree[n].Size, Done: true})
	}
	return &Snapshot{Repo: repo, Commit: commit, Path: filepath.Join(storage, "snapshots", commit), Files: names}, true
}

// prepareStorage writes the cache's tag, the revision's ref and the commit's
// file list (see writeTree; all: every file of it will be fetched), as
// huggingface_hub does before fetching files.
func prepareStorage(cacheDir, storage, revision, commit string, tree map[string]treeFile, all bool) error {
	if err := os.MkdirAll(filepath.Join(storage, "blobs"), 0o755); err != nil {
		return diskError(err, cacheDir)
	}
	tag := filepath.Join(cacheDir, "CACHEDIR.TAG")
	if _, err := os.Stat(tag); errors.Is(err, os.ErrNotExist) {
		os.WriteFile(tag, []byte(cachedirTag), 0o644) // a courtesy to backup tools: best effort
	}
	if err := writeRef(storage, revision, commit); err != nil {
		return diskError(err, storage)
	}
	if err := writeTree(storage, commit, tree, all); err != nil {
		return diskError(err, storage)
	}
	return nil
}

// checkSpace fails before the first byte when the missing blobs cannot fit,
// rather than hours later with a full disk.
func checkSpace(storage string, names []string, tree map[string]treeFile) error {
	var need int64
	seen := map[string]bool{}
	for _, n := range names {
		f := tree[n]
		blob := filepath.Join(storage, "blobs", f.etag())
		if seen[f.etag()] || blobPresent(blob, f.Size) {
			continue
		}
		seen[f.etag()] = true
		need += f.Size
		if st, err := os.Stat(blob + ".incomplete"); err == nil && st.Size() <= f.Size {
			need -= st.Size()
		}
	}
	free, ok := freeSpace(storage)
	if ok && need > free {
		return core.Errorf(core.ErrUnavailable,
			"not enough disk space for the model in %s: it needs %s more and %s is free; free some space or point HF_HUB_CACHE at a larger disk",
			storage, humanize.Bytes(need), humanize.Bytes(free))
	}
	return nil
}

// fetchAll runs the jobs on Concurrency workers; the first failure cancels
// the others and is the one returned.
func (c *Client) fetchAll(ctx context.Context, jobs []job, rep *reporter) (int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		total    atomic.Int64
		once     sync.Once
		firstErr error
		wg       sync.WaitGroup
	)
	next := make(chan job)
	for range min(c.concurrency, len(jobs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range next {
				n, err := c.fetch(ctx, j, rep)
				total.Add(n)
				if err != nil {
					once.Do(func() { firstErr = err; cancel() })
				}
			}
		}()
	}
feed:
	for _, j := range jobs {
		select {
		case next <- j:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	return total.Load(), firstErr
}

// Fetch downloads name@revision (see Download, and DownloadOptions.Progress
// for progress) and returns where it lives: the snapshot folder, its commit
// and the cache root. It is what a session.Manager's Models field needs.
func (c *Client) Fetch(ctx context.Context, name, revision string, progress func(core.Progress)) (snapshot, commit, cacheDir string, err error) {
	s, err := c.Download(ctx, name, revision, &DownloadOptions{Progress: progress})
	if err != nil {
		return "", "", "", err
	}
	return s.Path, s.Commit, c.cacheDir, nil
}
