// Package providerv1 is the generated code for sena.provider.v1, the gRPC
// protocol between Sena and its provider plugins (provider.proto).
package providerv1

// Regenerate with `go generate ./plugin/proto/...` (needs protoc,
// protoc-gen-go and protoc-gen-go-grpc on PATH); TestGeneratedCodeIsFresh
// fails when the committed code no longer matches provider.proto.
//go:generate protoc --proto_path=. --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative provider.proto
