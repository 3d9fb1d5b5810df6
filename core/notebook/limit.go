package notebook

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// DefaultOutputLimit is how many bytes of output a cell keeps in the
// notebook unless configured otherwise (output_limit_kib).
const DefaultOutputLimit = 2 << 20

// SpillDir is where, under the sandbox's work dir, Sena's notebook service
// writes in full what a cell's output limit keeps out of the notebook:
// SpillDir/CELL_ID/stdout.txt, stderr.txt, output-N.png, ...
const SpillDir = "sena-outputs"

// Recorder adds one execution's outputs to a cell as Apply does, within a
// limit of bytes the cell keeps, so that no output, however large, makes the
// notebook (and every later save of it) large. Within the limit it is Apply.
// Past it:
//
//   - a stream keeps its start and its last quarter-limit of text, with a
//     line between saying how much was left out and where all of it is;
//   - a rich output that does not fit, and any new output once the cell is
//     full, is counted in one summary output instead;
//   - errors are always kept (their traceback cut to its end if huge).
//
// Sena's notebook service in the sandbox applies the same rule and writes
// what is not kept to files under SpillDir; a Recorder only holds what is
// kept, so its memory is bounded too. Call Flush before reading the cell.
type Recorder struct {
	nb     *Notebook
	cell   *Cell
	limit  int
	tail   int
	noSpil bool

	kept          int
	streams       map[*Output]*streamState
	overflow      *Output
	overflowCount int
	overflowBytes int
	// overflowStream is the stream whose text the summary counts last, so
	// that stream going on is not counted as one more output.
	overflowStream string
	clearPending   bool
}

type streamState struct {
	head     strings.Builder
	cut      bool
	tail     []string
	tailSize int
	omitted  int
}

// NewRecorder records into c, a cell of nb, keeping at most limit bytes of
// output (DefaultOutputLimit when 0; everything when negative). spilled
// says whether the sandbox keeps the rest in files under SpillDir (Sena's
// notebook service does), which the markers then name.
func NewRecorder(nb *Notebook, c *Cell, limit int, spilled bool) *Recorder {
	if limit == 0 {
		limit = DefaultOutputLimit
	}
	if limit < 0 {
		limit = 1 << 62
	}
	r := &Recorder{nb: nb, cell: c, limit: limit, tail: limit / 4, noSpil: !spilled, streams: map[*Output]*streamState{}}
	for _, o := range c.Outputs {
		r.kept += outputSize(o)
	}
	return r
}

// Apply adds one iopub message of the execution to the cell; see Recorder.
func (r *Recorder) Apply(msgType string, content json.RawMessage) error {
	c := r.cell
	switch msgType {
	case "stream", "display_data", "execute_result", "error":
		if r.clearPending {
			r.clear()
		}
	}
	switch msgType {
	case "stream":
		var m struct{ Name, Text *string }
		if err := decodeContent(msgType, content, &m); err != nil {
			return err
		}
		if m.Name == nil || *m.Name == "" || m.Text == nil {
			return fmt.Errorf("notebook: stream content needs a name and a text: %s", clip(content))
		}
		name, text := *m.Name, *m.Text
		if n := len(c.Outputs); n > 0 && c.Outputs[n-1].Type == StreamOutput && c.Outputs[n-1].Name == name && c.Outputs[n-1] != r.overflow {
			r.addStream(c.Outputs[n-1], text)
			return nil
		}
		if r.full() {
			last := len(c.Outputs) > 0 && c.Outputs[len(c.Outputs)-1] == r.overflow
			r.overflowed(len(text), last && r.overflowStream == name)
			r.overflowStream = name
			return nil
		}
		o := &Output{Type: StreamOutput, Name: name}
		c.Outputs = append(c.Outputs, o)
		r.streams[o] = &streamState{}
		r.addStream(o, text)
		return nil
	case "display_data", "execute_result":
		var m richContent
		if err := decodeContent(msgType, content, &m); err != nil {
			return err
		}
		o, err := m.output(msgType)
		if err != nil {
			return err
		}
		size := outputSize(o)
		if r.kept+size > r.limit {
			r.overflowed(size, false)
			r.overflowStream = ""
			return nil
		}
		r.kept += size
		c.Outputs = append(c.Outputs, o)
		return nil
	case "error":
		before := len(c.Outputs)
		if err := r.nb.Apply(c, msgType, content); err != nil {
			return err
		}
		if len(c.Outputs) > before {
			o := c.Outputs[len(c.Outputs)-1]
			if tb := strings.Join(o.Traceback, "\n"); len(tb) > max(r.tail, 4096) && r.limit < 1<<62 {
				o.Traceback = strings.Split(tailBytes(tb, max(r.tail, 4096)), "\n")
			}
		}
		return nil
	case "clear_output":
		var m struct{ Wait bool }
		if err := decodeContent(msgType, content, &m); err != nil {
			return err
		}
		if m.Wait {
			r.clearPending = true
		} else {
			r.clear()
		}
		return nil
	case "update_display_data":
		// The update replaces data in place; a bigger one past the limit
		// keeps the output's last value.
		var m richContent
		if err := decodeContent(msgType, content, &m); err != nil {
			return err
		}
		if o, err := m.output(DisplayDataOutput); err == nil && r.kept+outputSize(o) > r.limit+r.displaySize(m.Transient.DisplayID) {
			return nil
		}
		err := r.nb.Apply(c, msgType, content)
		r.recount()
		return err
	}
	return r.nb.Apply(c, msgType, content)
}

func (r *Recorder) displaySize(id string) int {
	n := 0
	if id == "" {
		return 0
	}
	for _, o := range r.cell.Outputs {
		if o.displayID == id {
			n += outputSize(o)
		}
	}
	return n
}

func (r *Recorder) recount() {
	r.kept = 0
	for _, o := range r.cell.Outputs {
		if s, ok := r.streams[o]; ok {
			r.kept += s.head.Len()
			if s.cut {
				r.kept += r.tail
			}
			continue
		}
		if o != r.overflow {
			r.kept += outputSize(o)
		}
	}
}

func (r *Recorder) full() bool { return r.limit < 1<<62 && r.kept >= r.limit-r.tail }

func (r *Recorder) clear() {
	r.cell.ClearOutputs()
	r.kept, r.overflow, r.overflowCount, r.overflowBytes, r.clearPending = 0, nil, 0, 0, false
	r.streams = map[*Output]*streamState{}
}

func (r *Recorder) addStream(o *Output, text string) {
	s := r.streams[o]
	if s == nil { // a stream output the cell had before the recorder
		s = &streamState{}
		s.head.WriteString(o.Text)
		r.streams[o] = s
	}
	if !s.cut {
		if r.kept+len(text) <= r.limit {
			s.head.WriteString(text)
			r.kept += len(text)
			return
		}
		// Past the limit: the head keeps what leaves room for the tail,
		// cut from what it had if need be; the rest is the middle.
		others := r.kept - s.head.Len()
		room := max(0, r.limit-r.tail-others)
		if s.head.Len() > room {
			h := s.head.String()
			keep := cutBytes(h, room)
			s.head.Reset()
			s.head.WriteString(keep)
			text = h[len(keep):] + text
		} else {
			fill := cutBytes(text, room-s.head.Len())
			s.head.WriteString(fill)
			text = text[len(fill):]
		}
		r.kept = others + s.head.Len() + r.tail
		s.cut = true
	}
	s.omitted += len(text)
	s.tail = append(s.tail, text)
	s.tailSize += len(text)
	for len(s.tail) > 1 && s.tailSize-len(s.tail[0]) >= r.tail {
		s.tailSize -= len(s.tail[0])
		s.tail[0] = ""
		s.tail = s.tail[1:]
	}
}

// overflowed counts an output the cell has no room for in its summary
// output, which follows the last kept one.
func (r *Recorder) overflowed(size int, sameStream bool) {
	if !sameStream {
		r.overflowCount++
	}
	r.overflowBytes += size
	if r.overflow == nil {
		r.overflow = &Output{Type: DisplayDataOutput, Metadata: map[string]json.RawMessage{}}
		r.cell.Outputs = append(r.cell.Outputs, r.overflow)
	}
	text := fmt.Sprintf("[Sena: %d more output(s), %s, not kept in the notebook (each cell keeps about %s of output: output_limit_kib)%s]",
		r.overflowCount, human(r.overflowBytes), human(r.limit), r.where(""))
	r.overflow.Data = map[string]json.RawMessage{"text/plain": mustJSON(text)}
}

func (r *Recorder) where(file string) string {
	if r.noSpil {
		return "; the sandbox's Jupyter has no Sena notebook service, so the rest is not saved"
	}
	if file == "" {
		return fmt.Sprintf("; they are in %s/%s/", SpillDir, r.cell.ID)
	}
	return fmt.Sprintf("; all of it is in %s/%s/%s", SpillDir, r.cell.ID, file)
}

// Flush writes the kept text of the cell's streams into their outputs.
func (r *Recorder) Flush() {
	for o, s := range r.streams {
		o.Text = s.head.String()
		if !s.cut {
			continue
		}
		tail := tailBytes(strings.Join(s.tail, ""), r.tail)
		left := s.omitted - len(tail)
		o.Text += fmt.Sprintf("\n[... Sena: %s of this %s not kept in the notebook (each cell keeps about %s of output: output_limit_kib)%s ...]\n",
			human(left), o.Name, human(r.limit), r.where(o.Name+".txt")) + tail
	}
}

// outputSize is what an output counts against the limit: its text, or its
// data as JSON.
func outputSize(o *Output) int {
	switch o.Type {
	case StreamOutput:
		return len(o.Text)
	case ErrorOutput:
		return 0
	}
	n := 2
	for k, v := range o.Data {
		n += len(k) + len(v) + 4
	}
	return n
}

func cutBytes(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func tailBytes(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if len(s) <= n {
		return s
	}
	i := len(s) - n
	for i < len(s) && !utf8.RuneStart(s[i]) {
		i++
	}
	return s[i:]
}

func human(n int) string {
	f := float64(n)
	for _, unit := range []string{"bytes", "KB", "MB", "GB"} {
		if f < 1000 || unit == "GB" {
			if unit == "bytes" {
				return fmt.Sprintf("%d bytes", n)
			}
			return fmt.Sprintf("%.1f %s", f, unit)
		}
		f /= 1000
	}
	return ""
}
