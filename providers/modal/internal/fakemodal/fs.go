package fakemodal

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"

	pb "github.com/modal-labs/libmodal/modal-go/proto/modal_proto"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// fsExec is the outcome of one filesystem operation, fetched by
// ContainerFilesystemExecGetOutput as Modal's API returns it.
type fsExec struct {
	output []byte
	err    *pb.SystemErrorMessage
}

// ContainerFilesystemExec runs one filesystem operation (open, write, read,
// flush, close) in a running sandbox's container. Like a container's
// filesystem, parent directories must exist; the container's root and
// mounted volumes are directories on the host.
func (s *Server) ContainerFilesystemExec(_ context.Context, req *pb.ContainerFilesystemExecRequest) (*pb.ContainerFilesystemExecResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b *sandbox
	for _, c := range s.boxes {
		if c.started && c.taskID() == req.GetTaskId() {
			b = c
		}
	}
	if b == nil {
		return nil, status.Errorf(codes.NotFound, "Task '%s' not found", req.GetTaskId())
	}
	if b.done() {
		return nil, status.Errorf(codes.FailedPrecondition, "Task '%s' has finished", req.GetTaskId())
	}
	ex := &fsExec{}
	resp := pb.ContainerFilesystemExecResponse_builder{ExecId: s.id("fe")}
	switch {
	case req.HasFileOpenRequest():
		o := req.GetFileOpenRequest()
		f, err := hostFile(b, o.GetPath(), o.GetMode())
		if err != nil {
			ex.err = systemError(err)
			break
		}
		fd := s.id("fd")
		b.files[fd] = f
		resp.FileDescriptor = &fd
	case req.HasFileWriteRequest():
		w := req.GetFileWriteRequest()
		if f := b.files[w.GetFileDescriptor()]; f == nil {
			ex.err = badFD(w.GetFileDescriptor())
		} else if _, err := f.Write(w.GetData()); err != nil {
			ex.err = systemError(err)
		}
	case req.HasFileReadRequest():
		r := req.GetFileReadRequest()
		f := b.files[r.GetFileDescriptor()]
		if f == nil {
			ex.err = badFD(r.GetFileDescriptor())
			break
		}
		var data []byte
		var err error
		if r.HasN() {
			data = make([]byte, r.GetN())
			var n int
			n, err = io.ReadFull(f, data)
			data = data[:n]
			if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
				err = nil
			}
		} else {
			data, err = io.ReadAll(f)
		}
		if err != nil {
			ex.err = systemError(err)
		}
		ex.output = data
	case req.HasFileFlushRequest():
		if f := b.files[req.GetFileFlushRequest().GetFileDescriptor()]; f == nil {
			ex.err = badFD(req.GetFileFlushRequest().GetFileDescriptor())
		} else if err := f.Sync(); err != nil {
			ex.err = systemError(err)
		}
	case req.HasFileCloseRequest():
		fd := req.GetFileCloseRequest().GetFileDescriptor()
		if f := b.files[fd]; f == nil {
			ex.err = badFD(fd)
		} else {
			delete(b.files, fd)
			if err := f.Close(); err != nil {
				ex.err = systemError(err)
			}
		}
	default:
		return nil, status.Errorf(codes.Unimplemented, "fakemodal: filesystem operation %v", req.WhichFileExecRequestOneof())
	}
	s.execs[resp.ExecId] = ex
	return resp.Build(), nil
}

// ContainerFilesystemExecGetOutput streams an operation's output and ends it.
func (s *Server) ContainerFilesystemExecGetOutput(req *pb.ContainerFilesystemExecGetOutputRequest, stream pb.ModalClient_ContainerFilesystemExecGetOutputServer) error {
	s.mu.Lock()
	ex := s.execs[req.GetExecId()]
	s.mu.Unlock()
	if ex == nil {
		return status.Errorf(codes.NotFound, "Exec '%s' not found", req.GetExecId())
	}
	batch := pb.FilesystemRuntimeOutputBatch_builder{Error: ex.err, Eof: true}
	if len(ex.output) > 0 {
		batch.Output = [][]byte{ex.output}
	}
	return stream.Send(batch.Build())
}

func systemError(err error) *pb.SystemErrorMessage {
	code := pb.SystemErrorCode_SYSTEM_ERROR_CODE_IO
	switch {
	case errors.Is(err, fs.ErrNotExist):
		code = pb.SystemErrorCode_SYSTEM_ERROR_CODE_NOENT
	case errors.Is(err, fs.ErrPermission):
		code = pb.SystemErrorCode_SYSTEM_ERROR_CODE_ACCES
	case errors.Is(err, fs.ErrExist):
		code = pb.SystemErrorCode_SYSTEM_ERROR_CODE_EXIST
	case errors.Is(err, os.ErrInvalid):
		code = pb.SystemErrorCode_SYSTEM_ERROR_CODE_INVAL
	}
	msg := err.Error()
	var pe *fs.PathError
	if errors.As(err, &pe) {
		msg = pe.Err.Error() // the host path means nothing in the container
	}
	return pb.SystemErrorMessage_builder{ErrorCode: code, ErrorMessage: msg}.Build()
}

func badFD(fd string) *pb.SystemErrorMessage {
	return pb.SystemErrorMessage_builder{ErrorCode: pb.SystemErrorCode_SYSTEM_ERROR_CODE_INVAL, ErrorMessage: "bad file descriptor " + fd}.Build()
}

// Batch is a sandbox without ports (Sena's model download) that the fake
// does not run as a process: OnBatch decides what it does.
type Batch struct {
	ID, Name string
	Args     []string
	Env      map[string]string
	s        *Server
	b        *sandbox
}

// OnBatch sets what sandboxes without ports do when RunLocally does not run
// them: fn runs once the container starts and returns the exit code and
// what the sandbox wrote to stderr. Without it they exit with code 0 at once.
func (s *Server) OnBatch(fn func(*Batch) (exit int, stderr string)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batch = fn
}

// HostPath is where a container path of the sandbox is on the host.
func (x *Batch) HostPath(p string) string {
	x.s.mu.Lock()
	defer x.s.mu.Unlock()
	return x.b.hostPath(p)
}

// WaitFile waits up to d for a container path to exist (written through the
// filesystem API, say) and returns its content.
func (x *Batch) WaitFile(p string, d time.Duration) ([]byte, error) {
	deadline := time.Now().Add(d)
	for {
		data, err := os.ReadFile(x.HostPath(p))
		if err == nil || time.Now().After(deadline) || x.Ended() {
			return data, err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Ended reports whether the sandbox was terminated or timed out.
func (x *Batch) Ended() bool {
	x.s.mu.Lock()
	defer x.s.mu.Unlock()
	return x.b.done()
}

// runBatch plays a batch sandbox through OnBatch.
func (s *Server) runBatch(b *sandbox, env map[string]string) {
	s.mu.Lock()
	fn := s.batch
	s.mu.Unlock()
	code, stderr := 0, ""
	if fn != nil {
		code, stderr = fn(&Batch{ID: b.id, Name: b.def.GetName(), Args: b.def.GetEntrypointArgs(), Env: env, s: s, b: b})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !b.done() {
		b.stderr.write(stderr)
		s.finish(b, exitResult(code))
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func atoiOr(s string, def int) int {
	if n, err := strconv.Atoi(strings.TrimSpace(s)); err == nil {
		return n
	}
	return def
}
