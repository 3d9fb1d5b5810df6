package core

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// fieldFix says, for a Field a provider does not honour, which settings
// asked for it and what to do instead.
var fieldFix = map[Field]struct{ settings, fix string }{
	FieldPythonPackages: {"python_packages (--package)", "install them in the provider's image or environment, or choose a provider that installs packages"},
	FieldSystemPackages: {"system_packages (--system-package)", "install them on the host or in the image, or use a container provider (docker, modal)"},
	FieldCPUs:           {"cpus (--cpus)", "drop it, or use a provider that limits CPUs (docker, modal)"},
	FieldMemory:         {"memory_mib (--memory)", "drop it, or use a provider that limits memory (docker, modal)"},
	FieldTimeout:        {"timeout (--timeout)", "drop it and stop the sandbox with `sena down`, or use a provider that enforces timeouts"},
	FieldIdleTimeout:    {"idle_timeout (--idle-timeout)", "drop it and stop the sandbox with `sena down`, or use a provider that enforces idle timeouts"},
	FieldImage:          {"image (--image)", "drop it, or use a container provider (docker, modal)"},
	FieldMounts:         {"host mounts (the model cache of models, mounts)", "use a provider that mounts host paths or fetches models itself"},
	FieldFiles:          {"workspace libraries and skills (--library, --skill)", "drop them, or use a provider that copies files into the sandbox"},
	FieldModels:         {"models fetched by the provider (--model)", "use a provider that fetches models or mounts the host's cache"},
}

// CheckSpec refuses a spec that sets a field the provider does not declare,
// or a GPU it cannot attach. provider is the name the user chose it by.
func (c Capabilities) CheckSpec(provider string, spec *SandboxSpec) error {
	if err := c.CheckGPU(provider, spec.GPU); err != nil {
		return err
	}
	v := reflect.ValueOf(spec).Elem()
	for i := 0; i < v.NumField(); i++ {
		f := Field(v.Type().Field(i).Tag.Get("field"))
		if f == "" || v.Field(i).IsZero() || c.Honours(f) {
			continue
		}
		h := fieldFix[f]
		return Errorf(ErrUnsupported, "provider %s does not honour %s: %s (`sena providers` lists what each provider honours)", provider, h.settings, h.fix)
	}
	return nil
}

// ValidateOptions checks a config's provider options against the provider's
// schema and returns them as the JSON a provider decodes. String values of
// properties typed otherwise (as --provider-option KEY=VALUE gives them) are
// read as that type first.
func (c Capabilities) ValidateOptions(provider string, opts map[string]any) (json.RawMessage, error) {
	if len(opts) == 0 {
		return nil, nil
	}
	var schema struct {
		Properties map[string]struct {
			Type any `json:"type"`
		} `json:"properties"`
	}
	if len(c.OptionsSchema) > 0 {
		if err := json.Unmarshal(c.OptionsSchema, &schema); err != nil {
			return nil, fmt.Errorf("provider %s declares an options schema that is not JSON: %v", provider, err)
		}
	}
	known := make([]string, 0, len(schema.Properties))
	for k := range schema.Properties {
		known = append(known, k)
	}
	sort.Strings(known)
	coerced := map[string]any{}
	for k, v := range opts {
		p, ok := schema.Properties[k]
		if !ok {
			if len(known) == 0 {
				return nil, Errorf(ErrInvalidConfig, "provider option %s: provider %s takes no options", k, provider)
			}
			return nil, Errorf(ErrInvalidConfig, "provider option %s: provider %s has no such option; its options are %s (`sena providers --json` shows their schema)", k, provider, strings.Join(known, ", "))
		}
		s, isString := v.(string)
		if t, _ := p.Type.(string); isString && t != "" && t != "string" {
			var err error
			if v, err = readAs(t, s); err != nil {
				return nil, Errorf(ErrInvalidConfig, "provider option %s=%q: want %s for provider %s", k, s, t, provider)
			}
		}
		coerced[k] = v
	}
	data, err := json.Marshal(coerced)
	if err != nil {
		return nil, Errorf(ErrInvalidConfig, "provider options: %v", err)
	}
	if len(c.OptionsSchema) > 0 {
		if err := validateJSON(c.OptionsSchema, data); err != nil {
			return nil, Errorf(ErrInvalidConfig, "provider options for %s: %v", provider, err)
		}
	}
	return data, nil
}

// readAs reads a command-line string as a JSON Schema type.
func readAs(typ, s string) (any, error) {
	switch typ {
	case "integer":
		return strconv.ParseInt(s, 10, 64)
	case "number":
		return strconv.ParseFloat(s, 64)
	case "boolean":
		return strconv.ParseBool(s)
	case "array":
		if strings.HasPrefix(s, "[") {
			var v []any
			return v, json.Unmarshal([]byte(s), &v)
		}
		v := []any{} // KEY= is an empty list, not null
		for _, part := range strings.Split(s, ",") {
			if part = strings.TrimSpace(part); part != "" {
				v = append(v, part)
			}
		}
		return v, nil
	default:
		var v any
		return v, json.Unmarshal([]byte(s), &v)
	}
}

func validateJSON(schema, doc []byte) error {
	s, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema))
	if err != nil {
		return err
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("options.json", s); err != nil {
		return err
	}
	compiled, err := c.Compile("options.json")
	if err != nil {
		return fmt.Errorf("the provider's options schema does not compile: %v", err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return err
	}
	if err := compiled.Validate(v); err != nil {
		var ve *jsonschema.ValidationError
		if errors.As(err, &ve) {
			return errors.New(strings.Join(leafErrors(ve), "; "))
		}
		return err
	}
	return nil
}

// leafErrors flattens a validation error into its most specific causes.
func leafErrors(ve *jsonschema.ValidationError) []string {
	if len(ve.Causes) == 0 {
		loc := "/" + strings.Join(ve.InstanceLocation, "/")
		return []string{fmt.Sprintf("%s: %v", loc, ve.ErrorKind)}
	}
	var out []string
	for _, c := range ve.Causes {
		out = append(out, leafErrors(c)...)
	}
	return out
}

// DecodeOptions reads a spec's options into a provider's own struct,
// refusing keys it does not know (a schema and a struct that disagree).
func DecodeOptions(opts json.RawMessage, into any) error {
	if len(opts) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(opts))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		return Errorf(ErrInvalidConfig, "provider options: %v", err)
	}
	return nil
}

// PrepareWorkDir makes a sandbox's work dir as CreateRequest.WorkDir
// promises it: present, empty, private to the user.
func PrepareWorkDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("work dir %s: %w", dir, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("work dir %s: %w", dir, err)
	}
	if len(entries) > 0 {
		return fmt.Errorf("work dir %s is not empty", dir)
	}
	return os.Chmod(dir, 0o700)
}

// FieldNames lists fs as strings, in AllFields order.
func FieldNames(fs []Field) []string {
	var out []string
	for _, f := range AllFields {
		if slices.Contains(fs, f) {
			out = append(out, string(f))
		}
	}
	return out
}
