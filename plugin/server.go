package plugin

import (
	"context"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sena-labs/sena/core"
	pb "github.com/sena-labs/sena/plugin/proto/providerv1"
)

// server serves a core.Provider over gRPC in the plugin process.
type server struct {
	pb.UnimplementedProviderServer
	impl core.Provider
}

// noResult answers a provider that returned neither a result nor an error.
func noResult(method string) error {
	return toStatus(core.Errorf(core.ErrPluginFailed, "provider returned neither a result nor an error from %s", method))
}

func (s *server) GetInfo(ctx context.Context, _ *pb.GetInfoRequest) (*pb.GetInfoResponse, error) {
	info, err := s.impl.Info(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	if info == nil {
		return nil, noResult("Info")
	}
	return infoToProto(info), nil
}

func (s *server) Create(req *pb.CreateRequest, stream pb.Provider_CreateServer) error {
	creq := createRequestFromProto(req)
	// A provider may report progress from several goroutines, and a late
	// report after Create returned must not touch the finished stream.
	var mu sync.Mutex
	done := false
	if req.GetWantProgress() {
		creq.Progress = func(p core.Progress) {
			mu.Lock()
			defer mu.Unlock()
			if !done {
				// Progress is best effort: a failed send means the host left,
				// and the provider sees that through its context.
				_ = stream.Send(&pb.CreateEvent{Event: &pb.CreateEvent_Progress{Progress: progressToProto(p)}})
			}
		}
	}
	resp, err := s.impl.Create(stream.Context(), creq)
	mu.Lock()
	defer mu.Unlock()
	done = true
	if err != nil {
		return toStatus(err)
	}
	if resp == nil {
		return noResult("Create")
	}
	result := &pb.CreateResponse{Handle: handleToProto(resp.Handle), Endpoint: endpointToProto(resp.Endpoint), Image: resp.Image}
	if err := stream.Send(&pb.CreateEvent{Event: &pb.CreateEvent_Result{Result: result}}); err != nil {
		return status.Errorf(codes.Unavailable, "send Create result: %v", err)
	}
	return nil
}

func (s *server) Inspect(ctx context.Context, req *pb.InspectRequest) (*pb.InspectResponse, error) {
	resp, err := s.impl.Inspect(ctx, &core.InspectRequest{Handle: handleFromProto(req.GetHandle())})
	if err != nil {
		return nil, toStatus(err)
	}
	if resp == nil {
		return nil, noResult("Inspect")
	}
	return &pb.InspectResponse{Status: string(resp.Status), Reason: resp.Reason, Endpoint: endpointToProto(resp.Endpoint), Gpus: resp.GPUs}, nil
}

func (s *server) Destroy(ctx context.Context, req *pb.DestroyRequest) (*pb.DestroyResponse, error) {
	if err := s.impl.Destroy(ctx, &core.DestroyRequest{Handle: handleFromProto(req.GetHandle())}); err != nil {
		return nil, toStatus(err)
	}
	return &pb.DestroyResponse{}, nil
}

func (s *server) List(ctx context.Context, req *pb.ListRequest) (*pb.ListResponse, error) {
	resp, err := s.impl.List(ctx, &core.ListRequest{Labels: req.GetLabels()})
	if err != nil {
		return nil, toStatus(err)
	}
	if resp == nil {
		return nil, noResult("List")
	}
	out := &pb.ListResponse{}
	for _, sb := range resp.Sandboxes {
		out.Sandboxes = append(out.Sandboxes, sandboxToProto(sb))
	}
	return out, nil
}
