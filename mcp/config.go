package mcp

import (
	"reflect"

	"github.com/google/jsonschema-go/jsonschema"

	"github.com/sena-labs/sena/core"
)

// StartSessionInput is start_session's arguments: the sandbox config as
// `sena up` reads it (the same keys as sena.yaml), plus a config file.
type StartSessionInput struct {
	// ConfigFile is a sena.yaml on the machine running this server; the
	// other arguments add to it (lists) or override it.
	ConfigFile string `json:"config_file,omitempty"`
	core.SandboxConfig
}

// sandboxConfig builds the config `sena up` would: the file, the arguments
// on top (lists append, values override), then the server's defaults where
// neither set anything.
func (in *StartSessionInput) sandboxConfig(opts *Options) (*core.SandboxConfig, error) {
	cfg := &core.SandboxConfig{}
	if in.ConfigFile != "" {
		var err error
		if cfg, err = core.LoadConfig(in.ConfigFile); err != nil {
			return nil, err
		}
	}
	cfg.Overlay(&in.SandboxConfig)
	cfg.FillAmbient(opts.Provider, opts.Python)
	return cfg, nil
}

// startSessionSchema is start_session's input schema, derived from
// core.SandboxConfig with each property described by its field's comment.
func startSessionSchema() (*jsonschema.Schema, error) {
	modelObj, err := jsonschema.ForType(reflect.TypeFor[core.ModelConfig](), &jsonschema.ForOptions{})
	if err != nil {
		return nil, err
	}
	libObj, err := jsonschema.ForType(reflect.TypeFor[core.Library](), &jsonschema.ForOptions{})
	if err != nil {
		return nil, err
	}
	repoObj, err := jsonschema.ForType(reflect.TypeFor[core.RepoConfig](), &jsonschema.ForOptions{})
	if err != nil {
		return nil, err
	}
	mountObj, err := jsonschema.ForType(reflect.TypeFor[core.MountConfig](), &jsonschema.ForOptions{})
	if err != nil {
		return nil, err
	}
	s, err := jsonschema.ForType(reflect.TypeFor[StartSessionInput](), &jsonschema.ForOptions{TypeSchemas: map[reflect.Type]*jsonschema.Schema{
		reflect.TypeFor[core.Duration]():    {Type: "string", Description: "as 90s, 30m or 2h"},
		reflect.TypeFor[core.ModelConfig](): {AnyOf: []*jsonschema.Schema{{Type: "string", Description: "ORG/NAME or ORG/NAME@REVISION"}, modelObj}},
		reflect.TypeFor[core.Library]():     {AnyOf: []*jsonschema.Schema{{Type: "string", Description: "a path on the machine running this server"}, libObj}},
		reflect.TypeFor[core.RepoConfig]():  {AnyOf: []*jsonschema.Schema{{Type: "string", Description: "URL or URL@REF"}, repoObj}},
		reflect.TypeFor[core.MountConfig](): {AnyOf: []*jsonschema.Schema{{Type: "string", Description: "SRC[:DEST][:ro], SRC a path on the machine running this server"}, mountObj}},
		reflect.TypeFor[core.Mode]():        {Type: "string", Enum: []any{"notebook", "cli"}},
	}})
	if err != nil {
		return nil, err
	}
	s.Properties["config_file"].Description = "a sena.yaml on the machine running this server; the other arguments add to it (lists) or override it"
	describeSchema(s, reflect.TypeFor[core.SandboxConfig]())
	describeSchema(s.Properties["workspace"], reflect.TypeFor[core.Workspace]())
	describeSchema(modelObj, reflect.TypeFor[core.ModelConfig]())
	describeSchema(modelObj.Properties["preload"], reflect.TypeFor[core.Preload]())
	describeSchema(libObj, reflect.TypeFor[core.Library]())
	describeSchema(repoObj, reflect.TypeFor[core.RepoConfig]())
	describeSchema(mountObj, reflect.TypeFor[core.MountConfig]())
	return s, nil
}

// describeSchema sets each property's description from the field comment
// of t's field with that JSON key (pointer schemas included).
func describeSchema(s *jsonschema.Schema, t reflect.Type) {
	if s == nil {
		return
	}
	for _, alt := range append([]*jsonschema.Schema{s}, s.AnyOf...) {
		for key, p := range alt.Properties {
			if doc := core.FieldDoc(t, key); doc != "" {
				p.Description = doc
			}
		}
	}
}
