package mcp

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/sena-labs/sena/core/session"
	"github.com/sena-labs/sena/providers"
)

// newManager opens a manager over a fresh state dir with the built-in providers.
func newManager(t *testing.T) *session.Manager {
	t.Helper()
	store, err := session.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return session.NewManager(session.Params{Store: store, Providers: providers.NewRegistry(nil, nil)})
}

// client is an MCP client connected to a server through in-memory transports.
type client struct {
	t  *testing.T
	cs *sdk.ClientSession
}

func connect(t *testing.T, srv *Server, opts *sdk.ClientOptions) *client {
	t.Helper()
	st, ct := sdk.NewInMemoryTransports()
	ss, err := srv.MCP().Connect(context.Background(), st, nil)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := sdk.NewClient(&sdk.Implementation{Name: "test"}, opts).Connect(context.Background(), ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close(); ss.Wait() })
	return &client{t: t, cs: cs}
}

// with returns the client reporting to t (a subtest).
func (c *client) with(t *testing.T) *client { return &client{t: t, cs: c.cs} }

// exec runs code in a session; extra is an optional name and value of another argument.
func (c *client) exec(id, code string, extra ...any) *sdk.CallToolResult {
	c.t.Helper()
	args := map[string]any{"session_id": id, "code": code}
	if len(extra) == 2 {
		args[extra[0].(string)] = extra[1]
	}
	return c.call("execute_code", args)
}

// call calls a tool; a protocol error fails the test.
func (c *client) call(tool string, args map[string]any) *sdk.CallToolResult {
	c.t.Helper()
	return c.callWith(&sdk.CallToolParams{Name: tool, Arguments: args})
}

func (c *client) callWith(p *sdk.CallToolParams) *sdk.CallToolResult {
	c.t.Helper()
	res, err := c.cs.CallTool(context.Background(), p)
	if err != nil {
		c.t.Fatalf("%s: protocol error: %v", p.Name, err)
	}
	return res
}

// ok calls a tool that must succeed and returns its text.
func (c *client) ok(tool string, args map[string]any) string {
	c.t.Helper()
	res := c.call(tool, args)
	if res.IsError {
		c.t.Fatalf("%s(%v) failed: %s", tool, args, text(res))
	}
	return text(res)
}

// fails calls a tool that must fail as a tool error whose text contains want.
func (c *client) fails(tool string, args map[string]any, want string) {
	c.t.Helper()
	res := c.call(tool, args)
	if !res.IsError {
		c.t.Fatalf("%s(%v) succeeded, want an error containing %q: %s", tool, args, want, text(res))
	}
	if !strings.Contains(text(res), want) {
		c.t.Fatalf("%s(%v) error %q does not contain %q", tool, args, text(res), want)
	}
}

// structured decodes a tool's structured result.
func (c *client) structured(tool string, args map[string]any, v any) {
	c.t.Helper()
	res := c.call(tool, args)
	if res.IsError {
		c.t.Fatalf("%s failed: %s", tool, text(res))
	}
	b, _ := json.Marshal(res.StructuredContent)
	if err := json.Unmarshal(b, v); err != nil {
		c.t.Fatalf("%s: structured content %s: %v", tool, b, err)
	}
}

// text joins a result's text contents.
func text(res *sdk.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		if tc, ok := c.(*sdk.TextContent); ok {
			parts = append(parts, tc.Text)
		}
	}
	return strings.Join(parts, "\n")
}

func images(res *sdk.CallToolResult) []*sdk.ImageContent {
	var out []*sdk.ImageContent
	for _, c := range res.Content {
		if ic, ok := c.(*sdk.ImageContent); ok {
			out = append(out, ic)
		}
	}
	return out
}

func contains(t *testing.T, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Fatalf("result does not contain %q:\n%s", w, got)
		}
	}
}

// pngCode displays n PNG images of w x h pixels, built without matplotlib.
func pngCode(n, w, h int) string {
	return strings.NewReplacer("{N}", strconv.Itoa(n), "{W}", strconv.Itoa(w), "{H}", strconv.Itoa(h)).Replace(`import zlib, struct
from IPython.display import Image, display
def _chunk(t, d):
    return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)
_raw = (b'\x00' + b'\x80\x20\x20' * {W}) * {H}
_png = b'\x89PNG\r\n\x1a\n' + _chunk(b'IHDR', struct.pack('>IIBBBBB', {W}, {H}, 8, 2, 0, 0, 0)) + _chunk(b'IDAT', zlib.compress(_raw)) + _chunk(b'IEND', b'')
for _ in range({N}):
    display(Image(data=_png, format='png'))
`)
}

// wheel builds a pure-Python wheel of one module, name/__init__.py holding
// code, which pip installs without an index.
func wheel(t *testing.T, name, version, code string) []byte {
	t.Helper()
	var buf bytes.Buffer
	z := zip.NewWriter(&buf)
	info := name + "-" + version + ".dist-info/"
	files := [][2]string{
		{name + "/__init__.py", code},
		{info + "METADATA", "Metadata-Version: 2.1\nName: " + name + "\nVersion: " + version + "\n"},
		{info + "WHEEL", "Wheel-Version: 1.0\nGenerator: sena-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"},
	}
	var record strings.Builder
	for _, f := range files {
		w, err := z.Create(f[0])
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(f[1]))
		record.WriteString(f[0] + ",,\n")
	}
	record.WriteString(info + "RECORD,,\n")
	w, _ := z.Create(info + "RECORD")
	w.Write([]byte(record.String()))
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// cellID finds the id a status line names: "cell 3 (id 1a2b3c4d)".
func cellID(t *testing.T, result string) (index int, id string) {
	t.Helper()
	m := cellRE.FindStringSubmatch(result)
	if m == nil {
		t.Fatalf("no cell named in %q", result)
	}
	index, _ = strconv.Atoi(m[1])
	return index, m[2]
}

var cellRE = regexp.MustCompile(`cell (\d+) \(id ([0-9a-f]{8})\)`)
