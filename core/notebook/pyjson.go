package notebook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// This file writes JSON the way Python's json.dumps does with nbformat's
// settings (indent=1, sort_keys=True, ensure_ascii=False, separators
// (",", ": ")), so Sena's notebooks are byte-identical to nbformat.write's.
// Values are the types decodeJSON produces: map[string]any, []any, string,
// json.Number, bool and nil.

// decodeJSON decodes raw JSON keeping numbers as their literal text.
func decodeJSON(raw json.RawMessage) (any, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if d.More() {
		return nil, fmt.Errorf("trailing data after JSON value")
	}
	return v, nil
}

// writePy appends v to b, indented for nesting level.
func writePy(b *bytes.Buffer, v any, level int) error {
	switch v := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case string:
		writePyString(b, v)
	case int:
		b.WriteString(strconv.Itoa(v))
	case json.Number:
		b.WriteString(pyNumber(v))
	case []string:
		items := make([]any, len(v))
		for i, s := range v {
			items[i] = s
		}
		return writePy(b, items, level)
	case []any:
		if len(v) == 0 {
			b.WriteString("[]")
			return nil
		}
		b.WriteByte('[')
		for i, item := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			newline(b, level+1)
			if err := writePy(b, item, level+1); err != nil {
				return err
			}
		}
		newline(b, level)
		b.WriteByte(']')
	case map[string]any:
		if len(v) == 0 {
			b.WriteString("{}")
			return nil
		}
		b.WriteByte('{')
		for i, k := range sortedKeys(v) {
			if i > 0 {
				b.WriteByte(',')
			}
			newline(b, level+1)
			writePyString(b, k)
			b.WriteString(": ")
			if err := writePy(b, v[k], level+1); err != nil {
				return err
			}
		}
		newline(b, level)
		b.WriteByte('}')
	default:
		return fmt.Errorf("notebook: cannot write %T as JSON", v) // a bug in this package
	}
	return nil
}

func newline(b *bytes.Buffer, level int) {
	b.WriteByte('\n')
	for range level {
		b.WriteByte(' ')
	}
}

// writePyString writes s as Python's encoder does with ensure_ascii=False:
// only ", \ and control characters below U+0020 are escaped; U+2028, U+2029,
// <, > and & are written as they are (Go's encoder would escape them).
func writePyString(b *bytes.Buffer, s string) {
	const hexDigits = "0123456789abcdef"
	b.WriteByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b.WriteRune(utf8.RuneError) // invalid UTF-8 cannot reach a file Python can read
			} else {
				b.WriteString(s[i : i+size])
			}
			i += size
			continue
		}
		switch c {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			if c < 0x20 {
				b.WriteString(`\u00`)
				b.WriteByte(hexDigits[c>>4])
				b.WriteByte(hexDigits[c&0xf])
			} else {
				b.WriteByte(c)
			}
		}
		i++
	}
	b.WriteByte('"')
}

// pyNumber formats a JSON number as Python would after json.loads: integers
// keep every digit (Python's int is unbounded, so 2**63+1 stays exact), and
// floats use Python's repr (1e5 becomes 100000.0, 1e16 becomes 1e+16).
func pyNumber(n json.Number) string {
	s := string(n)
	if !strings.ContainsAny(s, ".eE") {
		if strings.Trim(s, "-0") == "" {
			return "0" // "-0" is the integer 0 in Python
		}
		return s
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return s // out of float64 range: keep the text rather than write Infinity
	}
	e := strconv.FormatFloat(f, 'e', -1, 64) // shortest digits, like repr
	exp, _ := strconv.Atoi(e[strings.IndexByte(e, 'e')+1:])
	if exp < -4 || exp >= 16 {
		return e
	}
	out := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(out, ".") {
		out += ".0"
	}
	return out
}

// splitLines splits s like Python's str.splitlines(keepends=True): each line
// keeps its ending; \r\n is one ending; "" gives no lines.
func splitLines(s string) []string {
	lines := []string{}
	start := 0
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		end := -1
		switch r {
		case '\r':
			end = i + 1
			if end < len(s) && s[end] == '\n' {
				end++
			}
		case '\n', '\v', '\f', '\x1c', '\x1d', '\x1e', '\u0085', '\u2028', '\u2029':
			end = i + size
		}
		if end < 0 {
			i += size
			continue
		}
		lines = append(lines, s[start:end])
		start, i = end, end
	}
	if start < len(s) {
		lines = append(lines, s[start:])
	}
	return lines
}
