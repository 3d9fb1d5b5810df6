package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/sena-labs/sena/core"
	"github.com/sena-labs/sena/core/session"
	"github.com/sena-labs/sena/mcp"
	"github.com/sena-labs/sena/providers"
)

var update = flag.Bool("update", false, "rewrite docs/configuration.md's generated tables")

// TestConfigSurfaces checks that `sena up`'s flags, MCP start_session's
// input schema and docs/configuration.md carry exactly the settings of
// core.SandboxConfig, described by its field comments: none may gain a
// setting the others lack.
func TestConfigSurfaces(t *testing.T) {
	fields := core.ConfigFields()
	byFlag, byKey := map[string]core.ConfigField{}, map[string]core.ConfigField{}
	for _, f := range fields {
		if f.Flag == "" {
			t.Errorf("setting %s has no flag of `sena up`", f.Key)
		}
		if f.Doc == "" {
			t.Errorf("setting %s has no field comment", f.Key)
		}
		byFlag[f.Flag], byKey[f.Key] = f, f
	}

	t.Run("CLI", func(t *testing.T) {
		seen := map[string]bool{}
		for _, fl := range upCommand.Flags {
			name := fl.Names()[0]
			if name == "file" {
				continue
			}
			seen[name] = true
			f, ok := byFlag[name]
			if !ok {
				t.Errorf("sena up --%s is no setting of core.SandboxConfig", name)
				continue
			}
			if usage := reflect.ValueOf(fl).Elem().FieldByName("Usage").String(); !strings.HasPrefix(usage, flagUsageText(f.Doc)) {
				t.Errorf("--%s usage %q is not the setting's documentation %q", name, usage, f.Doc)
			}
		}
		for _, f := range fields {
			if !seen[f.Flag] {
				t.Errorf("setting %s has no flag --%s on sena up", f.Key, f.Flag)
			}
		}
	})

	t.Run("YAML", func(t *testing.T) {
		// YAML and JSON keys are the same word, so the key paths above are
		// also the YAML keys; and a file setting each one loads.
		var doc strings.Builder
		for _, f := range fields {
			for _, tag := range []string{"yaml", "json"} {
				sf := reflect.TypeFor[core.SandboxConfig]().FieldByIndex(f.Index)
				if name, _, _ := strings.Cut(sf.Tag.Get(tag), ","); name != f.Key[strings.LastIndex(f.Key, ".")+1:] {
					t.Errorf("%s: %s key %q differs", f.Key, tag, name)
				}
			}
			if !strings.HasPrefix(f.Key, "workspace.") {
				fmt.Fprintf(&doc, "%s: %s\n", f.Key, yamlSample(f.Type))
			}
		}
		doc.WriteString("workspace:\n  init_code: x = 1\n  skills: [a]\n  libraries: [a.py]\n")
		cfg, err := core.ParseConfig("sample", []byte(doc.String()))
		if err != nil {
			t.Fatalf("a file setting every key: %v\n%s", err, doc.String())
		}
		v := reflect.ValueOf(cfg).Elem()
		for _, f := range fields {
			if v.FieldByIndex(f.Index).IsZero() {
				t.Errorf("key %s did not load", f.Key)
			}
		}
	})

	t.Run("MCP", func(t *testing.T) {
		props := startSessionProperties(t)
		for key, desc := range props {
			if key == "config_file" {
				continue
			}
			f, ok := byKey[key]
			if !ok {
				t.Errorf("start_session argument %s is no setting of core.SandboxConfig", key)
				continue
			}
			if desc != f.Doc {
				t.Errorf("start_session argument %s is described %q, not by the setting's documentation %q", key, desc, f.Doc)
			}
		}
		for _, f := range fields {
			if _, ok := props[f.Key]; !ok {
				t.Errorf("setting %s is not an argument of start_session", f.Key)
			}
		}
	})

	t.Run("Docs", func(t *testing.T) {
		const path = "../../docs/configuration.md"
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		got := string(data)
		want := replaceBetween(got, "<!-- settings -->", "<!-- /settings -->", settingsTable(fields))
		want = replaceBetween(want, "<!-- entries -->", "<!-- /entries -->", entriesTable())
		if *update {
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		if got != want {
			t.Errorf("docs/configuration.md's tables differ from core/config.go: run `go test ./cmd/sena -run TestConfigSurfaces -update`")
		}
	})
}

// startSessionProperties lists start_session's arguments as an MCP client
// sees them, nested keys joined with dots, with their descriptions.
func startSessionProperties(t *testing.T) map[string]string {
	store, err := session.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv := mcp.New(session.NewManager(session.Params{Store: store, Providers: providers.NewRegistry(nil, nil)}), mcp.Options{})
	st, ct := sdk.NewInMemoryTransports()
	if _, err := srv.MCP().Connect(context.Background(), st, nil); err != nil {
		t.Fatal(err)
	}
	cs, err := sdk.NewClient(&sdk.Implementation{Name: "test"}, nil).Connect(context.Background(), ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	tools, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	type schema struct {
		Description string             `json:"description"`
		Properties  map[string]*schema `json:"properties"`
	}
	for _, tool := range tools.Tools {
		if tool.Name != "start_session" {
			continue
		}
		raw, _ := json.Marshal(tool.InputSchema)
		var s schema
		if err := json.Unmarshal(raw, &s); err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for k, p := range s.Properties {
			if k == "workspace" {
				for k2, p2 := range p.Properties {
					out["workspace."+k2] = p2.Description
				}
				continue
			}
			out[k] = p.Description
		}
		return out
	}
	t.Fatal("no start_session tool")
	return nil
}

func yamlSample(t reflect.Type) string {
	switch {
	case t == reflect.TypeFor[core.Duration]():
		return "90s"
	case t == reflect.TypeFor[[]core.ModelConfig]():
		return "[org/model]"
	case t == reflect.TypeFor[core.Mode]():
		return "cli"
	case t.Kind() == reflect.Map:
		return "{K: v}"
	case t.Kind() == reflect.Slice:
		return "[x]"
	case t.Kind() == reflect.Bool:
		return "true"
	case t.Kind() == reflect.Float64, t.Kind() == reflect.Int64:
		return "2"
	}
	return "T4" // a valid value for the one string that is checked (gpu)
}

// settingsTable is docs/configuration.md's table of settings.
func settingsTable(fields []core.ConfigField) string {
	var b strings.Builder
	b.WriteString("| Key | Flag of `sena up` | Meaning |\n|---|---|---|\n")
	for _, f := range fields {
		flag := "`--" + f.Flag + "`"
		if f.Env != "" {
			flag += " (env `" + f.Env + "`)"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", f.Key, flag, mdEscape(f.Doc))
	}
	return b.String()
}

// entriesTable documents the keys of one model, preload and library entry.
func entriesTable() string {
	var b strings.Builder
	b.WriteString("| Key | Meaning |\n|---|---|\n")
	for _, e := range []struct {
		prefix string
		t      reflect.Type
	}{
		{"models[].", reflect.TypeFor[core.ModelConfig]()},
		{"models[].preload.", reflect.TypeFor[core.Preload]()},
		{"workspace.libraries[].", reflect.TypeFor[core.Library]()},
	} {
		var keys []string
		for i := 0; i < e.t.NumField(); i++ {
			name, _, _ := strings.Cut(e.t.Field(i).Tag.Get("json"), ",")
			keys = append(keys, name)
		}
		for _, k := range keys {
			fmt.Fprintf(&b, "| `%s%s` | %s |\n", e.prefix, k, mdEscape(core.FieldDoc(e.t, k)))
		}
	}
	return b.String()
}

func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "<", "&lt;", ">", "&gt;").Replace(s)
}

// replaceBetween replaces what lies between two marker lines.
func replaceBetween(s, begin, end, body string) string {
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		return s + "\n" + begin + "\n" + body + end + "\n"
	}
	return s[:i+len(begin)] + "\n" + body + s[j:]
}
