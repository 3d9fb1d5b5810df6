package mcp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

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

// outputs renders one cell's outputs; where names the cell for markers.
func (r *renderer) outputs(outs []*notebook.Output, where string) string {
	var b strings.Builder
	for _, o := range outs {
		var s string
		switch o.Type {
		case notebook.StreamOutput:
			s = collapseCR(notebook.StripANSI(o.Text))
		case notebook.ErrorOutput:
			if r.skipError != nil && r.skipError(o.EName) {
				continue
			}
			s = errorText(o)
		default:
			s = r.rich(o, where)
		}
		if s == "" {
			continue
		}
		b.WriteString(s)
		if !strings.HasSuffix(s, "\n") {
			b.WriteByte('\n')
		}
	}
	return b.String()
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
func (r *renderer) rich(o *notebook.Output, where string) string {
	for _, mime := range []string{"image/png", "image/jpeg"} {
		if s, ok := str(o.Data[mime]); ok {
			return r.image(mime, s, where)
		}
	}
	if s, ok := str(o.Data["image/svg+xml"]); ok {
		return fmt.Sprintf("[SVG image, %d characters: not shown; open %s to see it]", len(s), where)
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
		return fmt.Sprintf("[HTML output, %d characters: not shown; open %s to see it]", len(html), where)
	}
	if hasPlain {
		return notebook.StripANSI(plain)
	}
	return o.PlainText() // names the MIME type and size
}

func (r *renderer) image(mime, b64, where string) string {
	switch {
	case !r.images:
		return fmt.Sprintf("[%s image: not attached here; get_notebook_outputs with include_images=true shows it]", mime)
	case len(r.attached) >= r.maxImages:
		r.omitted++
		return fmt.Sprintf("[%s image: not attached, over the limit of %d images per call; it is in %s]", mime, r.maxImages, where)
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
