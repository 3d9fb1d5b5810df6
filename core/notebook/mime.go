package notebook

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// isJSONMime reports whether a MIME type's value is a JSON value rather than
// text: application/json and application/*+json, as in nbformat's rwbase.py.
func isJSONMime(mime string) bool {
	return mime == "application/json" ||
		strings.HasPrefix(mime, "application/") && strings.HasSuffix(mime, "+json")
}

// splitMime reports whether Marshal writes a MIME value as a list of lines:
// text/*, application/javascript and image/svg+xml. Others, such as
// base64 image/png, stay one string.
func splitMime(mime string) bool {
	return strings.HasPrefix(mime, "text/") || mime == "application/javascript" || mime == "image/svg+xml"
}

// normalizeBundle checks a MIME bundle and joins values written as lists of
// lines, so the model holds every text value as one JSON string. JSON MIME
// values are kept as they are, byte for byte, so large integers stay exact.
func normalizeBundle(data map[string]json.RawMessage) (map[string]json.RawMessage, error) {
	out := make(map[string]json.RawMessage, len(data))
	for _, mime := range sortedKeys(data) {
		v := data[mime]
		if isJSONMime(mime) {
			if len(v) == 0 || !json.Valid(v) {
				return nil, fmt.Errorf("data[%q] is not valid JSON", mime)
			}
			out[mime] = v
			continue
		}
		if _, ok := bundleString(v); ok {
			out[mime] = v
			continue
		}
		s, err := multiline(v)
		if err != nil {
			return nil, fmt.Errorf("data[%q]: %w", mime, err)
		}
		out[mime] = mustJSON(s)
	}
	return out, nil
}

// multiline decodes nbformat's multiline string: a string or a list of strings.
func multiline(v json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(v, &s); err == nil {
		return s, nil
	}
	var lines []string
	if err := json.Unmarshal(v, &lines); err != nil || lines == nil {
		return "", fmt.Errorf("must be a string or a list of strings, not %s", clip(v))
	}
	return strings.Join(lines, ""), nil
}

// bundleString returns a text MIME value as a Go string.
func bundleString(v json.RawMessage) (string, bool) {
	var s string
	err := json.Unmarshal(v, &s)
	return s, err == nil
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
