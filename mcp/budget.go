package mcp

import (
	"fmt"
	"unicode/utf8"
)

// clip keeps text within budget characters (bytes, so the bound is hard),
// keeping the head and the tail: the head says what ran, the tail how it
// ended. The marker in between says how much was cut and where the whole
// text is, since the notebook always keeps it.
func clip(text string, budget int, where string) string {
	if budget <= 0 || len(text) <= budget {
		return text
	}
	head := budget * 7 / 10
	tail := budget - head
	for head > 0 && !utf8.RuneStart(text[head]) {
		head--
	}
	from := len(text) - tail
	for from < len(text) && !utf8.RuneStart(text[from]) {
		from++
	}
	return fmt.Sprintf("%s\n…[%d characters cut; the full output is in %s]…\n%s",
		text[:head], from-head, where, text[from:])
}
