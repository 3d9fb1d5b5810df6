package fakemodal

import (
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	pb "github.com/modal-labs/libmodal/modal-go/proto/modal_proto"
)

// sandbox is one sandbox's state. Its fields are guarded by Server.mu.
type sandbox struct {
	id      string
	appID   string
	def     *pb.Sandbox
	tags    map[string]string
	created float64
	started bool // the container runs: it has a task and (after tunnelWaits) tunnels
	result  *pb.GenericResult
	host    *hostSide // tunnels (and process) of a sandbox with ports
	root    string    // the container's filesystem on the host
	mounts  map[string]string
	stdout  *logBuf
	stderr  *logBuf
	files   map[string]*os.File // open file descriptors of the filesystem API
	// tunnelWaits is how many more times GetTunnels answers TIMEOUT.
	tunnelWaits int
	timer       *time.Timer
	changed     chan struct{} // closed and replaced when the sandbox starts or ends
}

func (b *sandbox) done() bool { return b.result != nil }

func (b *sandbox) taskID() string { return "ta-" + strings.TrimPrefix(b.id, "sb-") }

// notify wakes whoever waits for the sandbox to start or end; the caller
// holds s.mu.
func (b *sandbox) notify() {
	close(b.changed)
	b.changed = make(chan struct{})
}

// hostPath maps a container path to the host: under a volume's mount
// point to the volume's directory, anything else under the sandbox's root.
func (b *sandbox) hostPath(p string) string {
	p = path.Clean("/" + p)
	best := ""
	for m := range b.mounts {
		if (p == m || strings.HasPrefix(p, m+"/")) && len(m) > len(best) {
			best = m
		}
	}
	if best != "" {
		return filepath.Join(b.mounts[best], filepath.FromSlash(strings.TrimPrefix(p, best)))
	}
	return filepath.Join(b.root, filepath.FromSlash(p))
}

// newSandbox registers a sandbox; the caller holds s.mu.
func (s *Server) newSandbox(appID string, def *pb.Sandbox) *sandbox {
	id := s.id("sb")
	b := &sandbox{
		id: id, appID: appID, def: def, tags: map[string]string{}, created: float64(s.next),
		root: filepath.Join(s.t.TempDir(), "root"), mounts: map[string]string{},
		stdout: &logBuf{}, stderr: &logBuf{}, files: map[string]*os.File{},
		changed: make(chan struct{}),
	}
	// What every container has: a writable /tmp and a home.
	for _, d := range []string{"tmp", "root"} {
		_ = os.MkdirAll(filepath.Join(b.root, d), 0o755)
	}
	for _, m := range def.GetVolumeMounts() {
		if v := s.volumeByID[m.GetVolumeId()]; v != nil {
			b.mounts[path.Clean(m.GetMountPath())] = v.dir
		}
	}
	if wd := def.GetWorkdir(); wd != "" {
		_ = os.MkdirAll(b.hostPath(wd), 0o755)
	}
	s.boxes[b.id] = b
	s.order = append(s.order, b.id)
	return b
}

// finish ends a sandbox with result; the caller holds s.mu.
func (s *Server) finish(b *sandbox, result *pb.GenericResult) {
	if b.done() {
		return
	}
	b.result = result
	if b.host != nil {
		b.host.stop()
	}
	if b.timer != nil {
		b.timer.Stop()
	}
	b.stdout.close()
	b.stderr.close()
	b.notify()
}

func exitResult(code int) *pb.GenericResult {
	if code == 0 {
		return pb.GenericResult_builder{Status: pb.GenericResult_GENERIC_STATUS_SUCCESS}.Build()
	}
	return pb.GenericResult_builder{Status: pb.GenericResult_GENERIC_STATUS_FAILURE, Exitcode: int32(code)}.Build()
}

func statusResult(st pb.GenericResult_GenericStatus) *pb.GenericResult {
	return pb.GenericResult_builder{Status: st}.Build()
}

// logBuf is a sandbox's stdout or stderr as Modal keeps it: appended to
// while the sandbox runs, complete once it ends.
type logBuf struct {
	mu     sync.Mutex
	data   []byte
	closed bool
	wake   chan struct{}
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.write(string(p))
	return len(p), nil
}

func (l *logBuf) write(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.data = append(l.data, s...)
	l.signal()
}

func (l *logBuf) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	l.signal()
}

func (l *logBuf) signal() {
	if l.wake != nil {
		close(l.wake)
		l.wake = nil
	}
}

// from returns what follows offset, whether the log is complete, and a
// channel closed on the next change.
func (l *logBuf) from(offset int) ([]byte, bool, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.wake == nil {
		l.wake = make(chan struct{})
	}
	var out []byte
	if offset < len(l.data) {
		out = append(out, l.data[offset:]...)
	}
	return out, l.closed, l.wake
}

// String is everything written so far.
func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.data)
}
