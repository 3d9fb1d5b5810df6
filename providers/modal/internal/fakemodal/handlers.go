package fakemodal

import (
	"context"
	"slices"
	"time"

	pb "github.com/modal-labs/libmodal/modal-go/proto/modal_proto"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

// listPage is small so that tests cover modal-go's paging of SandboxList.
const listPage = 2

// AuthTokenGet hands out the auth token modal-go sends with every call.
func (s *Server) AuthTokenGet(context.Context, *pb.AuthTokenGetRequest) (*pb.AuthTokenGetResponse, error) {
	return pb.AuthTokenGetResponse_builder{Token: authToken}.Build(), nil
}

// AppGetOrCreate finds an app by name, creating it if asked.
func (s *Server) AppGetOrCreate(_ context.Context, req *pb.AppGetOrCreateRequest) (*pb.AppGetOrCreateResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.apps[req.GetAppName()]
	if !ok {
		if req.GetObjectCreationType() != pb.ObjectCreationType_OBJECT_CREATION_TYPE_CREATE_IF_MISSING {
			return nil, status.Errorf(codes.NotFound, "App '%s' not found", req.GetAppName())
		}
		id = s.id("ap")
		s.apps[req.GetAppName()] = id
	}
	return pb.AppGetOrCreateResponse_builder{AppId: id}.Build(), nil
}

// VolumeGetOrCreate finds a volume by name, creating it if asked.
func (s *Server) VolumeGetOrCreate(_ context.Context, req *pb.VolumeGetOrCreateRequest) (*pb.VolumeGetOrCreateResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.volumes[req.GetDeploymentName()]
	if !ok {
		if req.GetObjectCreationType() != pb.ObjectCreationType_OBJECT_CREATION_TYPE_CREATE_IF_MISSING {
			return nil, status.Errorf(codes.NotFound, "Volume '%s' not found", req.GetDeploymentName())
		}
		id = s.id("vo")
		s.volumes[req.GetDeploymentName()] = id
	}
	return pb.VolumeGetOrCreateResponse_builder{VolumeId: id}.Build(), nil
}

// SecretGetOrCreate finds a named secret or stores an ephemeral one.
func (s *Server) SecretGetOrCreate(_ context.Context, req *pb.SecretGetOrCreateRequest) (*pb.SecretGetOrCreateResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if req.GetObjectCreationType() == pb.ObjectCreationType_OBJECT_CREATION_TYPE_EPHEMERAL {
		id := s.id("st")
		s.secrets[id] = &secret{env: req.GetEnvDict()}
		return pb.SecretGetOrCreateResponse_builder{SecretId: id}.Build(), nil
	}
	id, ok := s.named[req.GetDeploymentName()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "Secret '%s' not found", req.GetDeploymentName())
	}
	return pb.SecretGetOrCreateResponse_builder{SecretId: id}.Build(), nil
}

// ImageGetOrCreate "builds" every layer at once, successfully.
func (s *Server) ImageGetOrCreate(context.Context, *pb.ImageGetOrCreateRequest) (*pb.ImageGetOrCreateResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return pb.ImageGetOrCreateResponse_builder{
		ImageId: s.id("im"),
		Result:  pb.GenericResult_builder{Status: pb.GenericResult_GENERIC_STATUS_SUCCESS}.Build(),
	}.Build(), nil
}

// SandboxCreate starts a sandbox. Names are unique among an app's running
// sandboxes, as on Modal.
func (s *Server) SandboxCreate(_ context.Context, req *pb.SandboxCreateRequest) (*pb.SandboxCreateResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	def := req.GetDefinition()
	if name := def.GetName(); name != "" {
		for _, b := range s.boxes {
			if b.appID == req.GetAppId() && b.def.GetName() == name && !b.done() {
				return nil, status.Errorf(codes.AlreadyExists, "a sandbox named '%s' is already running", name)
			}
		}
	}
	b := &sandbox{id: s.id("sb"), appID: req.GetAppId(), def: def, tags: map[string]string{}, created: float64(s.next)}
	if len(def.GetOpenPorts().GetPorts()) == 0 {
		code := s.batchExitCode
		b.exitCode = &code
	} else if !s.noTunnels {
		h, err := s.startHost(b)
		if err != nil {
			return nil, status.Errorf(codes.Internal, "fakemodal: start sandbox: %v", err)
		}
		b.host = h
	}
	s.boxes[b.id] = b
	s.order = append(s.order, b.id)
	return pb.SandboxCreateResponse_builder{SandboxId: b.id}.Build(), nil
}

// box returns a sandbox or NotFound; the caller holds s.mu.
func (s *Server) box(id string) (*sandbox, error) {
	if b := s.boxes[id]; b != nil {
		return b, nil
	}
	return nil, status.Errorf(codes.NotFound, "Sandbox '%s' not found", id)
}

// SandboxWait answers the result of a finished sandbox, or none while it
// runs (after a short pause when asked to wait, to keep polls slow).
func (s *Server) SandboxWait(_ context.Context, req *pb.SandboxWaitRequest) (*pb.SandboxWaitResponse, error) {
	s.mu.Lock()
	b, err := s.box(req.GetSandboxId())
	var result *pb.GenericResult
	if err == nil {
		result = resultOf(b)
	}
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if result == nil && req.GetTimeout() > 0 {
		time.Sleep(20 * time.Millisecond)
	}
	return pb.SandboxWaitResponse_builder{Result: result}.Build(), nil
}

func resultOf(b *sandbox) *pb.GenericResult {
	switch {
	case b.terminated:
		return pb.GenericResult_builder{Status: pb.GenericResult_GENERIC_STATUS_TERMINATED}.Build()
	case b.exitCode != nil && *b.exitCode == 0:
		return pb.GenericResult_builder{Status: pb.GenericResult_GENERIC_STATUS_SUCCESS}.Build()
	case b.exitCode != nil:
		return pb.GenericResult_builder{Status: pb.GenericResult_GENERIC_STATUS_FAILURE, Exitcode: int32(*b.exitCode)}.Build()
	}
	return nil
}

// SandboxGetTunnels answers one TLS tunnel per encrypted port.
func (s *Server) SandboxGetTunnels(_ context.Context, req *pb.SandboxGetTunnelsRequest) (*pb.SandboxGetTunnelsResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.box(req.GetSandboxId())
	if err != nil {
		return nil, err
	}
	if s.noTunnels && !b.done() {
		code := 1
		b.exitCode = &code
	}
	if b.done() {
		return pb.SandboxGetTunnelsResponse_builder{
			Result: pb.GenericResult_builder{Status: pb.GenericResult_GENERIC_STATUS_TIMEOUT}.Build(),
		}.Build(), nil
	}
	var tunnels []*pb.TunnelData
	if b.host != nil {
		tunnels = b.host.tunnels
	}
	return pb.SandboxGetTunnelsResponse_builder{
		Result:  pb.GenericResult_builder{Status: pb.GenericResult_GENERIC_STATUS_SUCCESS}.Build(),
		Tunnels: tunnels,
	}.Build(), nil
}

// SandboxTerminate stops a sandbox.
func (s *Server) SandboxTerminate(_ context.Context, req *pb.SandboxTerminateRequest) (*pb.SandboxTerminateResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.box(req.GetSandboxId())
	if err != nil {
		return nil, err
	}
	existing := resultOf(b)
	b.terminated = true
	if b.host != nil {
		b.host.stop()
	}
	return pb.SandboxTerminateResponse_builder{ExistingResult: existing}.Build(), nil
}

// SandboxTagsSet replaces a sandbox's tags.
func (s *Server) SandboxTagsSet(_ context.Context, req *pb.SandboxTagsSetRequest) (*emptypb.Empty, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.box(req.GetSandboxId())
	if err != nil {
		return nil, err
	}
	b.tags = map[string]string{}
	for _, t := range req.GetTags() {
		b.tags[t.GetTagName()] = t.GetTagValue()
	}
	return &emptypb.Empty{}, nil
}

// SandboxTagsGet answers a sandbox's tags.
func (s *Server) SandboxTagsGet(_ context.Context, req *pb.SandboxTagsGetRequest) (*pb.SandboxTagsGetResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.box(req.GetSandboxId())
	if err != nil {
		return nil, err
	}
	return pb.SandboxTagsGetResponse_builder{Tags: tagList(b.tags)}.Build(), nil
}

// SandboxList pages through sandboxes newest first, filtered by app, tags
// and, unless asked, running state.
func (s *Server) SandboxList(_ context.Context, req *pb.SandboxListRequest) (*pb.SandboxListResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var page []*pb.SandboxInfo
	for _, id := range slices.Backward(s.order) {
		b := s.boxes[id]
		switch {
		case req.GetBeforeTimestamp() > 0 && b.created >= req.GetBeforeTimestamp(),
			req.GetAppId() != "" && b.appID != req.GetAppId(),
			b.done() && !req.GetIncludeFinished(),
			!hasTags(b.tags, req.GetTags()):
			continue
		}
		page = append(page, pb.SandboxInfo_builder{Id: b.id, AppId: b.appID, CreatedAt: b.created, Tags: tagList(b.tags)}.Build())
		if len(page) == listPage {
			break
		}
	}
	return pb.SandboxListResponse_builder{Sandboxes: page}.Build(), nil
}

func hasTags(have map[string]string, want []*pb.SandboxTag) bool {
	for _, t := range want {
		if v, ok := have[t.GetTagName()]; !ok || v != t.GetTagValue() {
			return false
		}
	}
	return true
}

func tagList(tags map[string]string) []*pb.SandboxTag {
	var out []*pb.SandboxTag
	for k, v := range tags {
		out = append(out, pb.SandboxTag_builder{TagName: k, TagValue: v}.Build())
	}
	return out
}
