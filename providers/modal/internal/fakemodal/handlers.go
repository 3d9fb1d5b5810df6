package fakemodal

import (
	"context"
	"os"
	"slices"
	"time"

	pb "github.com/modal-labs/libmodal/modal-go/proto/modal_proto"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

// tunnelHold is how long a TIMEOUT answer to SandboxGetTunnels is held.
const tunnelHold = 20 * time.Millisecond

// listPage is small so that tests cover modal-go's paging of SandboxList.
const listPage = 2

// AuthTokenGet hands out the auth token modal-go sends with every call.
func (s *Server) AuthTokenGet(context.Context, *pb.AuthTokenGetRequest) (*pb.AuthTokenGetResponse, error) {
	return pb.AuthTokenGetResponse_builder{Token: authToken}.Build(), nil
}

// AppGetOrCreate finds an app by name, creating it if asked.
func (s *Server) AppGetOrCreate(_ context.Context, req *pb.AppGetOrCreateRequest) (*pb.AppGetOrCreateResponse, error) {
	if err := checkObjectName(req.GetAppName(), "App"); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	env := envOf(req.GetEnvironmentName())
	a := s.apps[env+"/"+req.GetAppName()]
	if a == nil {
		if req.GetObjectCreationType() != pb.ObjectCreationType_OBJECT_CREATION_TYPE_CREATE_IF_MISSING {
			return nil, status.Errorf(codes.NotFound, "App '%s' not found", req.GetAppName())
		}
		a = &app{id: s.id("ap"), name: req.GetAppName(), env: env}
		s.apps[env+"/"+a.name] = a
	}
	return pb.AppGetOrCreateResponse_builder{AppId: a.id}.Build(), nil
}

// VolumeGetOrCreate finds a volume by name, creating it if asked.
func (s *Server) VolumeGetOrCreate(_ context.Context, req *pb.VolumeGetOrCreateRequest) (*pb.VolumeGetOrCreateResponse, error) {
	if err := checkObjectName(req.GetDeploymentName(), "Volume"); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	env := envOf(req.GetEnvironmentName())
	v := s.volumes[env+"/"+req.GetDeploymentName()]
	if v == nil {
		if req.GetObjectCreationType() != pb.ObjectCreationType_OBJECT_CREATION_TYPE_CREATE_IF_MISSING {
			return nil, status.Errorf(codes.NotFound, "Volume '%s' not found", req.GetDeploymentName())
		}
		v = &volume{id: s.id("vo"), name: req.GetDeploymentName(), env: env, dir: s.t.TempDir()}
		s.volumes[env+"/"+v.name] = v
		s.volumeByID[v.id] = v
	}
	return pb.VolumeGetOrCreateResponse_builder{VolumeId: v.id}.Build(), nil
}

// VolumeDelete deletes a volume and its files.
func (s *Server) VolumeDelete(_ context.Context, req *pb.VolumeDeleteRequest) (*emptypb.Empty, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.volumeByID[req.GetVolumeId()]
	if v == nil {
		return nil, status.Errorf(codes.NotFound, "Volume '%s' not found", req.GetVolumeId())
	}
	delete(s.volumeByID, v.id)
	delete(s.volumes, v.env+"/"+v.name)
	_ = os.RemoveAll(v.dir)
	return &emptypb.Empty{}, nil
}

// SecretGetOrCreate finds a named secret or stores an ephemeral one.
func (s *Server) SecretGetOrCreate(_ context.Context, req *pb.SecretGetOrCreateRequest) (*pb.SecretGetOrCreateResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if req.GetObjectCreationType() == pb.ObjectCreationType_OBJECT_CREATION_TYPE_EPHEMERAL {
		if err := checkEnvKeys(req.GetEnvDict()); err != nil {
			return nil, err
		}
		id := s.id("st")
		s.secrets[id] = &secret{env: req.GetEnvDict()}
		return pb.SecretGetOrCreateResponse_builder{SecretId: id}.Build(), nil
	}
	if err := checkObjectName(req.GetDeploymentName(), "Secret"); err != nil {
		return nil, err
	}
	id, ok := s.named[envOf(req.GetEnvironmentName())+"/"+req.GetDeploymentName()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "Secret '%s' not found", req.GetDeploymentName())
	}
	return pb.SecretGetOrCreateResponse_builder{SecretId: id}.Build(), nil
}

// ImageGetOrCreate registers a layer. Without SetImageBuild it is built at
// once; with it, the answer has no result and the build streams its logs
// through ImageJoinStreaming, as Modal's builder does.
func (s *Server) ImageGetOrCreate(_ context.Context, req *pb.ImageGetOrCreateRequest) (*pb.ImageGetOrCreateResponse, error) {
	img := req.GetImage()
	if err := checkDockerfile(img.GetDockerfileCommands()); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.appIDExists(req.GetAppId()) {
		return nil, status.Errorf(codes.NotFound, "App '%s' not found", req.GetAppId())
	}
	for _, b := range img.GetBaseImages() {
		if s.images[b.GetImageId()] == nil {
			return nil, status.Errorf(codes.NotFound, "Image '%s' not found", b.GetImageId())
		}
	}
	for _, id := range img.GetSecretIds() {
		if s.secrets[id] == nil {
			return nil, status.Errorf(codes.NotFound, "Secret '%s' not found", id)
		}
	}
	id := s.id("im")
	s.images[id] = img
	resp := pb.ImageGetOrCreateResponse_builder{ImageId: id}
	if s.build.logs == nil && s.build.exception == "" {
		resp.Result = statusResult(pb.GenericResult_GENERIC_STATUS_SUCCESS)
	}
	return resp.Build(), nil
}

// ImageJoinStreaming streams a build's log lines, then its result.
func (s *Server) ImageJoinStreaming(req *pb.ImageJoinStreamingRequest, stream pb.ModalClient_ImageJoinStreamingServer) error {
	s.mu.Lock()
	_, ok := s.images[req.GetImageId()]
	build := s.build
	s.mu.Unlock()
	if !ok {
		return status.Errorf(codes.NotFound, "Image '%s' not found", req.GetImageId())
	}
	for i, line := range build.logs {
		msg := pb.ImageJoinStreamingResponse_builder{
			EntryId:  time.Now().Format("150405") + "-" + string(rune('a'+i%26)),
			TaskLogs: []*pb.TaskLogs{pb.TaskLogs_builder{Data: line + "\n", FileDescriptor: pb.FileDescriptor_FILE_DESCRIPTOR_STDOUT}.Build()},
		}.Build()
		if err := stream.Send(msg); err != nil {
			return err
		}
	}
	result := statusResult(pb.GenericResult_GENERIC_STATUS_SUCCESS)
	if build.exception != "" {
		result = pb.GenericResult_builder{Status: pb.GenericResult_GENERIC_STATUS_FAILURE, Exception: build.exception}.Build()
	}
	return stream.Send(pb.ImageJoinStreamingResponse_builder{Result: result, Eof: true}.Build())
}

// appIDExists reports whether an app has this id; the caller holds s.mu.
func (s *Server) appIDExists(id string) bool {
	for _, a := range s.apps {
		if a.id == id {
			return true
		}
	}
	return false
}

// SandboxCreate starts a sandbox after the checks Modal makes. Names are
// unique among an app's running sandboxes, as on Modal.
func (s *Server) SandboxCreate(_ context.Context, req *pb.SandboxCreateRequest) (*pb.SandboxCreateResponse, error) {
	def := req.GetDefinition()
	if err := checkDefinition(def); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.appIDExists(req.GetAppId()) {
		return nil, status.Errorf(codes.NotFound, "App '%s' not found", req.GetAppId())
	}
	if s.images[def.GetImageId()] == nil {
		return nil, status.Errorf(codes.NotFound, "Image '%s' not found", def.GetImageId())
	}
	for _, id := range def.GetSecretIds() {
		if s.secrets[id] == nil {
			return nil, status.Errorf(codes.NotFound, "Secret '%s' not found", id)
		}
	}
	for _, m := range def.GetVolumeMounts() {
		if s.volumeByID[m.GetVolumeId()] == nil {
			return nil, status.Errorf(codes.NotFound, "Volume '%s' not found", m.GetVolumeId())
		}
	}
	if name := def.GetName(); name != "" {
		for _, b := range s.boxes {
			if b.appID == req.GetAppId() && b.def.GetName() == name && !b.done() {
				return nil, status.Errorf(codes.AlreadyExists, "Sandbox with name '%s' already exists", name)
			}
		}
	}
	b := s.newSandbox(req.GetAppId(), def)
	b.tunnelWaits = s.tunnelTimeouts
	if t := def.GetTimeoutSecs(); t > 0 {
		b.timer = time.AfterFunc(time.Duration(t)*time.Second, func() { s.expire(b, pb.GenericResult_GENERIC_STATUS_TIMEOUT) })
	}
	if s.startDelay > 0 {
		time.AfterFunc(s.startDelay, func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.start(b)
		})
	} else if err := s.start(b); err != nil {
		return nil, err
	}
	return pb.SandboxCreateResponse_builder{SandboxId: b.id}.Build(), nil
}

// start runs a created sandbox's container; the caller holds s.mu.
func (s *Server) start(b *sandbox) error {
	if b.done() || b.started {
		return nil
	}
	b.started = true
	defer b.notify()
	env := map[string]string{}
	for _, id := range b.def.GetSecretIds() {
		for k, v := range s.secrets[id].env {
			env[k] = v
		}
	}
	ports := len(b.def.GetOpenPorts().GetPorts()) > 0
	switch {
	case ports && s.noTunnels:
		b.stderr.write("fakemodal: the container exited before its ports opened\n")
		s.finish(b, exitResult(1))
	case s.runtime != nil && s.runtime.runs(b):
		h, err := s.runtime.start(s, b, env)
		if err != nil {
			return status.Errorf(codes.Internal, "fakemodal: start sandbox: %v", err)
		}
		b.host = h
	case ports:
		h, err := s.stubHost(b, env)
		if err != nil {
			return status.Errorf(codes.Internal, "fakemodal: start sandbox: %v", err)
		}
		b.host = h
	default:
		go s.runBatch(b, env)
	}
	if b.host != nil && b.def.HasIdleTimeoutSecs() {
		go s.enforceModalIdle(b, time.Duration(b.def.GetIdleTimeoutSecs())*time.Second)
	}
	return nil
}

// expire ends a sandbox that outlived a limit.
func (s *Server) expire(b *sandbox, st pb.GenericResult_GenericStatus) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.finish(b, statusResult(st))
}

// enforceModalIdle applies Modal's own idle timeout: the sandbox is
// terminated once no tunnel connection has been open for d, whatever its
// processes are doing.
func (s *Server) enforceModalIdle(b *sandbox, d time.Duration) {
	tick := time.NewTicker(min(d/4, 250*time.Millisecond))
	defer tick.Stop()
	for range tick.C {
		s.mu.Lock()
		if b.done() {
			s.mu.Unlock()
			return
		}
		open, last := b.host.activity()
		if open == 0 && time.Since(last) >= d {
			s.finish(b, statusResult(pb.GenericResult_GENERIC_STATUS_IDLE_TIMEOUT))
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
	}
}

// box returns a sandbox or NotFound; the caller holds s.mu.
func (s *Server) box(id string) (*sandbox, error) {
	if b := s.boxes[id]; b != nil {
		return b, nil
	}
	return nil, status.Errorf(codes.NotFound, "Sandbox '%s' not found", id)
}

// SandboxWait answers the result of a finished sandbox, or none once the
// requested timeout passes while it runs.
func (s *Server) SandboxWait(ctx context.Context, req *pb.SandboxWaitRequest) (*pb.SandboxWaitResponse, error) {
	deadline := time.Now().Add(time.Duration(req.GetTimeout() * float32(time.Second)))
	for {
		s.mu.Lock()
		b, err := s.box(req.GetSandboxId())
		if err != nil {
			s.mu.Unlock()
			return nil, err
		}
		result, changed := b.result, b.changed
		s.mu.Unlock()
		if result != nil || !time.Now().Before(deadline) {
			return pb.SandboxWaitResponse_builder{Result: result}.Build(), nil
		}
		select {
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		case <-changed:
		case <-time.After(time.Until(deadline)):
		}
	}
}

// SandboxGetTunnels answers one TLS tunnel per encrypted port once the
// container runs, TIMEOUT before (or while SetTunnelTimeouts holds it back).
func (s *Server) SandboxGetTunnels(ctx context.Context, req *pb.SandboxGetTunnelsRequest) (*pb.SandboxGetTunnelsResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.box(req.GetSandboxId())
	if err != nil {
		return nil, err
	}
	timeout := pb.SandboxGetTunnelsResponse_builder{Result: statusResult(pb.GenericResult_GENERIC_STATUS_TIMEOUT)}.Build()
	// Modal holds the request up to its timeout; the fake a moment, so
	// that a client's wait loop does not spin.
	hold := func() {
		s.mu.Unlock()
		defer s.mu.Lock()
		select {
		case <-ctx.Done():
		case <-time.After(min(time.Duration(req.GetTimeout()*float32(time.Second)), tunnelHold)):
		}
	}
	if b.done() || !b.started {
		hold()
		return timeout, nil
	}
	if b.tunnelWaits > 0 {
		b.tunnelWaits--
		hold()
		return timeout, nil
	}
	var tunnels []*pb.TunnelData
	if b.host != nil {
		tunnels = b.host.tunnels
	}
	return pb.SandboxGetTunnelsResponse_builder{Result: statusResult(pb.GenericResult_GENERIC_STATUS_SUCCESS), Tunnels: tunnels}.Build(), nil
}

// SandboxGetTaskId answers the task of a running container: none before it
// starts, its result after it ended.
func (s *Server) SandboxGetTaskId(_ context.Context, req *pb.SandboxGetTaskIdRequest) (*pb.SandboxGetTaskIdResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.box(req.GetSandboxId())
	if err != nil {
		return nil, err
	}
	resp := pb.SandboxGetTaskIdResponse_builder{}
	if b.started {
		id := b.taskID()
		resp.TaskId = &id
	}
	resp.TaskResult = b.result
	return resp.Build(), nil
}

// SandboxGetFromName finds a running sandbox by app and name.
func (s *Server) SandboxGetFromName(_ context.Context, req *pb.SandboxGetFromNameRequest) (*pb.SandboxGetFromNameResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.apps[envOf(req.GetEnvironmentName())+"/"+req.GetAppName()]
	if a == nil {
		return nil, status.Errorf(codes.NotFound, "App '%s' not found", req.GetAppName())
	}
	for _, id := range slices.Backward(s.order) {
		if b := s.boxes[id]; b.appID == a.id && b.def.GetName() == req.GetSandboxName() && !b.done() {
			return pb.SandboxGetFromNameResponse_builder{SandboxId: b.id}.Build(), nil
		}
	}
	return nil, status.Errorf(codes.NotFound, "Sandbox with name '%s' not found", req.GetSandboxName())
}

// SandboxTerminate stops a sandbox.
func (s *Server) SandboxTerminate(_ context.Context, req *pb.SandboxTerminateRequest) (*pb.SandboxTerminateResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.box(req.GetSandboxId())
	if err != nil {
		return nil, err
	}
	existing := b.result
	s.finish(b, statusResult(pb.GenericResult_GENERIC_STATUS_TERMINATED))
	return pb.SandboxTerminateResponse_builder{ExistingResult: existing}.Build(), nil
}

// SandboxTagsSet replaces a sandbox's tags.
func (s *Server) SandboxTagsSet(_ context.Context, req *pb.SandboxTagsSetRequest) (*emptypb.Empty, error) {
	if err := checkTags(req.GetTags()); err != nil {
		return nil, err
	}
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
	if err := checkTags(req.GetTags()); err != nil {
		return nil, err
	}
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

// SandboxGetLogs streams a sandbox's stdout or stderr from lastEntryId on,
// ending with EOF once the sandbox has ended, or after timeout.
func (s *Server) SandboxGetLogs(req *pb.SandboxGetLogsRequest, stream pb.ModalClient_SandboxGetLogsServer) error {
	s.mu.Lock()
	b, err := s.box(req.GetSandboxId())
	s.mu.Unlock()
	if err != nil {
		return err
	}
	log := b.stdout
	if req.GetFileDescriptor() == pb.FileDescriptor_FILE_DESCRIPTOR_STDERR {
		log = b.stderr
	}
	offset := 0
	if last := req.GetLastEntryId(); last != "" && last != "0-0" {
		offset = atoiOr(last, 0)
	}
	deadline := time.After(time.Duration(req.GetTimeout() * float32(time.Second)))
	for {
		data, complete, wake := log.from(offset)
		if len(data) > 0 || complete {
			offset += len(data)
			batch := pb.TaskLogsBatch_builder{EntryId: itoa(offset), Eof: complete}
			if len(data) > 0 {
				batch.Items = []*pb.TaskLogs{pb.TaskLogs_builder{Data: string(data), FileDescriptor: req.GetFileDescriptor()}.Build()}
			}
			if err := stream.Send(batch.Build()); err != nil {
				return err
			}
			if complete {
				return nil
			}
		}
		select {
		case <-stream.Context().Done():
			return nil
		case <-deadline:
			return nil
		case <-wake:
		}
	}
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

// hostFile opens a container path of b on the host for the filesystem API.
func hostFile(b *sandbox, p, mode string) (*os.File, error) {
	flags := map[string]int{
		"r": os.O_RDONLY, "rb": os.O_RDONLY, "w": os.O_WRONLY | os.O_CREATE | os.O_TRUNC, "wb": os.O_WRONLY | os.O_CREATE | os.O_TRUNC,
		"a": os.O_WRONLY | os.O_CREATE | os.O_APPEND, "ab": os.O_WRONLY | os.O_CREATE | os.O_APPEND,
		"r+": os.O_RDWR, "w+": os.O_RDWR | os.O_CREATE | os.O_TRUNC, "x": os.O_WRONLY | os.O_CREATE | os.O_EXCL,
	}
	f, ok := flags[mode]
	if !ok {
		return nil, os.ErrInvalid
	}
	return os.OpenFile(b.hostPath(p), f, 0o644)
}
