package mcp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/sena-labs/sena/core/notebook"
)

// renderer turns notebook outputs into what an agent reads: text (ANSI
// stripped, progress bars collapsed, rich data reduced to its best text
// form) and a bounded number of images. The notebook keeps everything.
type renderer struct {
	maxImages int
	maxEdge   int
	images    bool // attach images at all
	// skipError hides error outputs that only carry a CLI exit status.
	skipError func(ename string) bool

	attached []sdk.Content
	omitted  int
}

// outputs renders a cell's outputs, one segment each; outputs that show
// nothing (a CLI command's exit status) are left out.
func (r *renderer) outputs(c *notebook.Cell) []segment {
	var segs []segment
	for i, o := range c.Outputs {
		s := r.one(o, c.ID, i)
		if s == "" {
			continue
		}
		if !strings.HasSuffix(s, "\n") {
			s += "\n"
		}
		segs = append(segs, segment{output: i, text: s})
	}
	return segs
}

// one renders output i of cell id as results show it.
func (r *renderer) one(o *notebook.Output, id string, i int) string {
	switch o.Type {
	case notebook.StreamOutput:
		return collapseCR(notebook.StripANSI(o.Text))
	case notebook.ErrorOutput:
		if r.skipError != nil && r.skipError(o.EName) {
			return ""
		}
		return errorText(o)
	}
	return r.rich(o, id, i)
}

// errorText is the traceback without colours; IPython's ends with
// "EName: EValue", so that line is only added when there is no traceback.
func errorText(o *notebook.Output) string {
	if len(o.Traceback) == 0 {
		return o.EName + ": " + o.EValue
	}
	return notebook.StripANSI(strings.Join(o.Traceback, "\n"))
}

// rich renders a display_data or execute_result bundle: an image when
// there is one, else the best text form.
func (r *renderer) rich(o *notebook.Output, id string, i int) string {
	for _, mime := range []string{"image/png", "image/jpeg"} {
		if s, ok := str(o.Data[mime]); ok {
			return r.image(mime, s, id, i)
		}
	}
	if s, ok := str(o.Data["image/svg+xml"]); ok {
		return fmt.Sprintf("[SVG image, %d characters: read_output(cell=%q, output=%d, mime=\"image/svg+xml\") reads its source]", utf8.RuneCountInString(s), id, i)
	}
	for _, mime := range []string{"text/markdown", "text/latex"} {
		if s, ok := str(o.Data[mime]); ok {
			return s
		}
	}
	if raw, ok := o.Data["application/json"]; ok {
		var b bytes.Buffer
		if json.Indent(&b, raw, "", "  ") == nil {
			return b.String()
		}
	}
	plain, hasPlain := str(o.Data["text/plain"])
	if html, ok := str(o.Data["text/html"]); ok && (!hasPlain || isRepr(plain)) {
		return fmt.Sprintf("[HTML output, %d characters: read_output(cell=%q, output=%d, mime=\"text/html\") reads it]", utf8.RuneCountInString(html), id, i)
	}
	if hasPlain {
		return notebook.StripANSI(plain)
	}
	return o.PlainText() // names the MIME type and size
}

func (r *renderer) image(mime, b64, id string, i int) string {
	switch {
	case !r.images:
		return fmt.Sprintf("[%s image: not attached here; read_output(cell=%q, output=%d) fetches it]", mime, id, i)
	case len(r.attached) >= r.maxImages:
		r.omitted++
		return fmt.Sprintf("[%s image: not attached, over the limit of %d images per call; read_output(cell=%q, output=%d) fetches it]", mime, r.maxImages, id, i)
	}
	img, err := prepareImage(mime, b64, r.maxEdge)
	if err != nil {
		return fmt.Sprintf("[%s image that could not be decoded: %v]", mime, err)
	}
	r.attached = append(r.attached, &sdk.ImageContent{Data: img.data, MIMEType: img.mime})
	size := fmt.Sprintf("%dx%d", img.width, img.height)
	if img.width != img.origW {
		size = fmt.Sprintf("%dx%d, scaled down from %dx%d", img.width, img.height, img.origW, img.origH)
	}
	if img.keptOriginal {
		size += fmt.Sprintf(", sent as is: scaled to %d px it would have been larger", r.maxEdge)
	}
	return fmt.Sprintf("[image %d attached: %s, %s]", len(r.attached), mime, size)
}

// content is the tool result: the text first, then the images.
func (r *renderer) content(text string) []sdk.Content {
	if r.omitted > 0 {
		text += fmt.Sprintf("[%d more images not attached]\n", r.omitted)
	}
	return append([]sdk.Content{&sdk.TextContent{Text: text}}, r.attached...)
}

// isRepr reports whether text/plain is only Python's default repr, such
// as "<IPython.core.display.HTML object>", which tells an agent nothing.
func isRepr(s string) bool {
	s = strings.TrimSpace(s)
	return strings.HasPrefix(s, "<") && strings.HasSuffix(s, " object>") && !strings.Contains(s, "\n")
}

// collapseCR keeps what a terminal would show of lines rewritten with \r
// (progress bars): the text after each line's last \r.
func collapseCR(s string) string {
	if !strings.Contains(s, "\r") {
		return s
	}
	lines := strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	for i, l := range lines {
		if j := strings.LastIndexByte(strings.TrimRight(l, "\r"), '\r'); j >= 0 {
			lines[i] = l[j+1:]
		}
	}
	return strings.Join(lines, "\n")
}

// str reads a MIME bundle's text value (a JSON string).
func str(raw json.RawMessage) (string, bool) {
	if raw == nil {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}
