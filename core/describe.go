package core

import (
	_ "embed"
	"go/ast"
	"go/parser"
	"go/token"
	"reflect"
	"strings"
	"sync"
	"unicode"
)

// configSource is config.go itself: its field comments are the settings'
// documentation, read here so that no copy of them exists to drift.
//
//go:embed config.go
var configSource string

// ConfigField is one setting of SandboxConfig as every surface shows it:
// a YAML/JSON key, a `sena up` flag, a line of documentation.
type ConfigField struct {
	// Key is the YAML and JSON key path: "gpu", "workspace.init_code".
	Key string
	// Flag is the `sena up` flag, "" when the setting has none.
	Flag string
	// Env is an environment variable the flag also reads, if any.
	Env string
	// Doc is the field's comment, written for users.
	Doc string
	// Type is the field's Go type; Index its path for reflect.Value.FieldByIndex.
	Type  reflect.Type
	Index []int
}

var (
	describeOnce sync.Once
	fieldDocs    map[string]map[string]string // type name -> Go field name -> doc
	configFields []ConfigField
)

// ConfigFields lists every setting of SandboxConfig, in declaration order.
// Fields of a struct tagged flag:"-" (workspace) are listed one by one.
func ConfigFields() []ConfigField {
	describeOnce.Do(describe)
	return configFields
}

// FieldDoc is the documentation of a field of a type declared in config.go
// (SandboxConfig, Workspace, ModelConfig, Preload, Library), by JSON key.
func FieldDoc(t reflect.Type, key string) string {
	describeOnce.Do(describe)
	for i := 0; i < t.NumField(); i++ {
		if f := t.Field(i); jsonKey(f) == key {
			return userDoc(f.Name, fieldDocs[t.Name()][f.Name])
		}
	}
	return ""
}

// LookupConfigField returns the setting with the given key path.
func LookupConfigField(key string) (ConfigField, bool) {
	for _, f := range ConfigFields() {
		if f.Key == key {
			return f, true
		}
	}
	return ConfigField{}, false
}

func describe() {
	fieldDocs = map[string]map[string]string{}
	file, err := parser.ParseFile(token.NewFileSet(), "config.go", configSource, parser.ParseComments)
	if err != nil {
		panic("core: config.go does not parse: " + err.Error()) // embedded at build time
	}
	ast.Inspect(file, func(n ast.Node) bool {
		ts, ok := n.(*ast.TypeSpec)
		if !ok {
			return true
		}
		st, ok := ts.Type.(*ast.StructType)
		if !ok {
			return true
		}
		docs := map[string]string{}
		for _, f := range st.Fields.List {
			for _, name := range f.Names {
				docs[name.Name] = strings.Join(strings.Fields(f.Doc.Text()), " ")
			}
		}
		fieldDocs[ts.Name.Name] = docs
		return false
	})
	configFields = collect(reflect.TypeFor[SandboxConfig](), "", nil)
}

func collect(t reflect.Type, prefix string, index []int) []ConfigField {
	var out []ConfigField
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		key := prefix + jsonKey(f)
		idx := append(append([]int{}, index...), i)
		if f.Tag.Get("flag") == "-" && f.Type.Kind() == reflect.Struct {
			out = append(out, collect(f.Type, key+".", idx)...)
			continue
		}
		out = append(out, ConfigField{
			Key: key, Flag: strings.TrimPrefix(f.Tag.Get("flag"), "-"), Env: f.Tag.Get("env"),
			Doc: userDoc(f.Name, fieldDocs[t.Name()][f.Name]), Type: f.Type, Index: idx,
		})
	}
	return out
}

func jsonKey(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	return name
}

// userDoc turns a Go field comment into a sentence for users:
// "Timeout is the sandbox's lifetime" -> "The sandbox's lifetime",
// "Preload loads every model" -> "Loads every model".
func userDoc(field, doc string) string {
	rest, ok := strings.CutPrefix(doc, field+" ")
	if !ok {
		return doc
	}
	for _, verb := range []string{"is ", "are "} {
		if r, ok := strings.CutPrefix(rest, verb); ok {
			rest = r
			break
		}
	}
	if rest == "" {
		return doc
	}
	r := []rune(rest)
	r[0] = unicode.ToUpper(r[0])
	return string(r)
}
