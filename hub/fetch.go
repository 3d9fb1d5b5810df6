package hub

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sena-labs/sena/core"
)

// maxStalls is how many attempts in a row may bring no new byte before a
// transfer gives up (huggingface_hub allows 5 as well).
const maxStalls = 5

// retryWait is the pause before resuming a broken transfer.
var retryWait = 500 * time.Millisecond

// job is one file to put in a snapshot.
type job struct {
	repo, commit, name string
	file               treeFile
	storage            string
}

// fetch makes the snapshot entry for j: it reuses blobs/ETAG when present,
// otherwise downloads it under the blob's lock, then links the snapshot to
// it. It returns the bytes that came over the network.
func (c *Client) fetch(ctx context.Context, j job, rep *reporter) (int64, error) {
	etag := j.file.etag()
	blob := filepath.Join(j.storage, "blobs", etag)
	done := Progress{Repo: j.repo, File: j.name, Bytes: j.file.Size, Total: j.file.Size, Done: true}
	link := func() error {
		if err := linkSnapshot(j.storage, j.commit, j.name, etag); err != nil {
			return diskError(err, j.storage)
		}
		rep.report(done)
		return nil
	}
	if blobPresent(blob, j.file.Size) {
		return 0, link()
	}
	// The lock lives where huggingface_hub puts its own, so either tool waits for the other.
	lockPath := filepath.Join(filepath.Dir(j.storage), ".locks", filepath.Base(j.storage), etag+".lock")
	unlock, err := lockFile(ctx, lockPath)
	if err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		return 0, diskError(err, lockPath)
	}
	defer unlock()
	if blobPresent(blob, j.file.Size) { // another process fetched it while we waited
		return 0, link()
	}
	n, err := c.transfer(ctx, j, blob+".incomplete", rep)
	if err != nil {
		return n, err
	}
	if err := os.Rename(blob+".incomplete", blob); err != nil {
		return n, diskError(err, j.storage)
	}
	return n, link()
}

func blobPresent(path string, size int64) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular() && st.Size() == size
}

// transfer fills partial up to the file's size, resuming from what an
// earlier attempt left there with a Range request, and verifies the result:
// the sha256 of LFS files, the git blob id of the others.
func (c *Client) transfer(ctx context.Context, j job, partial string, rep *reporter) (int64, error) {
	size := j.file.Size
	f, err := os.OpenFile(partial, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return 0, diskError(err, filepath.Dir(partial))
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, diskError(err, filepath.Dir(partial))
	}
	off := st.Size()
	if off > size {
		off = 0
	}
	h := newVerifier(j.file)
	// Resuming: the hash must cover the bytes already there.
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, off)); err != nil {
		return 0, diskError(err, filepath.Dir(partial))
	}
	if off != st.Size() {
		if err := f.Truncate(off); err != nil {
			return 0, diskError(err, filepath.Dir(partial))
		}
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return 0, diskError(err, filepath.Dir(partial))
	}

	what := fmt.Sprintf("file %s of model %s", j.name, j.repo)
	u := c.resolveURL(j.repo, j.commit, j.name)
	buf := make([]byte, 1<<20)
	var received int64
	stalls := 0
	for off < size {
		if stalls >= maxStalls {
			return received, core.Errorf(core.ErrUnavailable,
				"downloading %s stalled at %d of %d bytes after %d attempts: check the network and run again (it resumes)", what, off, size, maxStalls)
		}
		if stalls > 0 {
			select {
			case <-ctx.Done():
				return received, ctx.Err()
			case <-time.After(retryWait):
			}
		}
		stalls++
		req, err := c.newRequest(ctx, http.MethodGet, u)
		if err != nil {
			return received, err
		}
		if off > 0 {
			req.Header.Set("Range", "bytes="+strconv.FormatInt(off, 10)+"-")
		}
		resp, err := c.http.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return received, ctx.Err()
			}
			if stalls >= maxStalls {
				return received, c.transportError(err, what)
			}
			continue
		}
		switch {
		case resp.StatusCode == http.StatusOK && off > 0:
			// The server ignored the Range: start over rather than append a second copy.
			off, h = 0, newVerifier(j.file)
			if err := truncateAt(f, 0); err != nil {
				resp.Body.Close()
				return received, diskError(err, filepath.Dir(partial))
			}
		case resp.StatusCode == http.StatusOK:
		case resp.StatusCode == http.StatusPartialContent && rangeStart(resp) == off:
		case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
			// What we hold is not a prefix the server knows: start over.
			resp.Body.Close()
			off, h = 0, newVerifier(j.file)
			if err := truncateAt(f, 0); err != nil {
				return received, diskError(err, filepath.Dir(partial))
			}
			continue
		case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode >= 500:
			resp.Body.Close()
			continue
		default:
			err := c.responseError(resp, j.repo, j.commit, what)
			resp.Body.Close()
			return received, err
		}
		n, werr := copyBody(f, h, io.LimitReader(resp.Body, size-off), buf, func(n int64) {
			off += n
			received += n
			rep.report(Progress{Repo: j.repo, File: j.name, Bytes: off, Total: size})
		})
		resp.Body.Close()
		if werr != nil {
			return received, diskError(werr, filepath.Dir(partial))
		}
		if n > 0 {
			stalls = 0
		}
		if ctx.Err() != nil {
			return received, ctx.Err()
		}
	}
	if got, want := h.sum(), h.want; got != want {
		f.Close()
		os.Remove(partial)
		return received, checksumError(j.name, j.repo, h.kind, want, got)
	}
	if err := f.Sync(); err != nil {
		return received, diskError(err, filepath.Dir(partial))
	}
	return received, nil
}

// copyBody streams body to f and h through buf, calling step after each
// write. Read errors end the attempt quietly (the caller resumes); write
// errors are returned.
func copyBody(f *os.File, h io.Writer, body io.Reader, buf []byte, step func(int64)) (int64, error) {
	var total int64
	for {
		n, rerr := body.Read(buf)
		if n > 0 {
			if _, err := f.Write(buf[:n]); err != nil {
				return total, err
			}
			h.Write(buf[:n])
			total += int64(n)
			step(int64(n))
		}
		if rerr != nil {
			return total, nil
		}
	}
}

func truncateAt(f *os.File, off int64) error {
	if err := f.Truncate(off); err != nil {
		return err
	}
	_, err := f.Seek(off, io.SeekStart)
	return err
}

// rangeStart reads N from "Content-Range: bytes N-M/TOTAL"; -1 if absent.
func rangeStart(resp *http.Response) int64 {
	cr := strings.TrimPrefix(resp.Header.Get("Content-Range"), "bytes ")
	start, _, ok := strings.Cut(cr, "-")
	if !ok {
		return -1
	}
	n, err := strconv.ParseInt(start, 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// verifier hashes a file as the Hub identifies it.
type verifier struct {
	hash.Hash
	kind, want string
}

func newVerifier(f treeFile) *verifier {
	if f.LFSSHA256 != "" {
		return &verifier{Hash: sha256.New(), kind: "sha256", want: f.LFSSHA256}
	}
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", f.Size) // git's blob id covers this header
	return &verifier{Hash: h, kind: "git blob id", want: f.BlobID}
}

func (v *verifier) sum() string { return hex.EncodeToString(v.Sum(nil)) }
