package modal

import (
	"context"
	"strings"
	"sync"

	pb "github.com/modal-labs/libmodal/modal-go/proto/modal_proto"
	"google.golang.org/grpc"

	"github.com/sena-labs/sena/core"
)

// modal-go waits for image builds on ImageJoinStreaming and drops the log
// lines it streams; a failed build then says only "failed". Sena reads the
// stream on its way through a gRPC interceptor: lines go to Create's
// progress as they come, and the last ones into the error.

const buildMethod = "/modal.client.ModalClient/ImageJoinStreaming"

// buildLog collects one Create's image build output.
type buildLog struct {
	progress func(string)

	mu      sync.Mutex
	partial string
	lines   []string
}

type buildLogKey struct{}

func withBuildLog(ctx context.Context, b *buildLog) context.Context {
	return context.WithValue(ctx, buildLogKey{}, b)
}

// add takes a chunk of build output, which may end mid-line.
func (b *buildLog) add(data string) {
	b.mu.Lock()
	text := b.partial + data
	parts := strings.Split(text, "\n")
	b.partial = parts[len(parts)-1]
	var done []string
	for _, l := range parts[:len(parts)-1] {
		if l = strings.TrimRight(l, "\r"); strings.TrimSpace(l) != "" {
			done = append(done, l)
		}
	}
	b.lines = append(b.lines, done...)
	if len(b.lines) > 4*tailLines {
		b.lines = b.lines[len(b.lines)-tailLines:]
	}
	b.mu.Unlock()
	for _, l := range done {
		if len(l) > 200 {
			l = l[:200] + "…"
		}
		b.progress("modal build: " + l)
	}
}

// error is a failed build's error with the end of its log.
func (b *buildLog) error(err error) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	lines := b.lines
	if b.partial != "" {
		lines = append(lines, b.partial)
	}
	msg := "modal: the image build failed: " + err.Error()
	if t := tail(strings.Join(lines, "\n")); t != "" {
		msg += "\nits log ends with:\n" + t
	}
	return core.Errorf(core.ErrInvalidConfig, "%s", msg)
}

// buildLogInterceptor copies ImageJoinStreaming's log lines to the
// buildLog in the call's context.
func buildLogInterceptor(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	s, err := streamer(ctx, desc, cc, method, opts...)
	b, _ := ctx.Value(buildLogKey{}).(*buildLog)
	if err != nil || method != buildMethod || b == nil {
		return s, err
	}
	return &buildStream{ClientStream: s, log: b}, nil
}

type buildStream struct {
	grpc.ClientStream
	log *buildLog
}

func (s *buildStream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	if r, ok := m.(*pb.ImageJoinStreamingResponse); ok && err == nil {
		for _, l := range r.GetTaskLogs() {
			s.log.add(l.GetData())
		}
	}
	return err
}
