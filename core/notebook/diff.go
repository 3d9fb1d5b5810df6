package notebook

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
)

// Clone returns a deep copy of nb: changing one never changes the other.
func (nb *Notebook) Clone() *Notebook {
	out := &Notebook{Metadata: maps.Clone(nb.Metadata), Cells: make([]*Cell, len(nb.Cells))}
	if out.Metadata == nil {
		out.Metadata = map[string]json.RawMessage{}
	}
	for i, c := range nb.Cells {
		out.Cells[i] = c.Clone()
	}
	return out
}

// Clone returns a deep copy of c. JSON values are shared: they are never
// changed in place.
func (c *Cell) Clone() *Cell {
	d := *c
	d.Metadata = maps.Clone(c.Metadata)
	if c.ExecutionCount != nil {
		n := *c.ExecutionCount
		d.ExecutionCount = &n
	}
	if c.Outputs != nil {
		d.Outputs = make([]*Output, len(c.Outputs))
		for i, o := range c.Outputs {
			d.Outputs[i] = o.clone()
		}
	}
	return &d
}

func (o *Output) clone() *Output {
	d := *o
	d.Data, d.Metadata = maps.Clone(o.Data), maps.Clone(o.Metadata)
	d.Traceback = slices.Clone(o.Traceback)
	if o.ExecutionCount != nil {
		n := *o.ExecutionCount
		d.ExecutionCount = &n
	}
	return &d
}

// Op is one change to a notebook, by cell id, as Sena's notebook service in
// the sandbox applies it to the live document (see Diff). Positions are
// relative to other cells, so a change lands where it was meant even when
// someone else added cells meanwhile.
type Op struct {
	// Op is insert, update, delete, move, metadata or create.
	Op string `json:"op"`
	// ID names the cell of update, delete and move.
	ID string `json:"id,omitempty"`
	// Cell is the whole cell (nbformat JSON) of insert, and of update, which
	// inserts it again where the cell has been deleted meanwhile.
	Cell json.RawMessage `json:"cell,omitempty"`
	// At places insert and move: "end", "start", {"after": ID} or {"before": ID}.
	At json.RawMessage `json:"at,omitempty"`
	// Fields are update's changed cell fields: source, outputs,
	// execution_count, metadata, cell_type, attachments.
	Fields map[string]json.RawMessage `json:"fields,omitempty"`
	// Set and Delete are metadata's changed and removed notebook metadata keys.
	Set    map[string]json.RawMessage `json:"set,omitempty"`
	Delete []string                   `json:"delete,omitempty"`
	// Notebook is create's whole notebook.
	Notebook json.RawMessage `json:"notebook,omitempty"`
}

// Diff returns the ops that turn before into after, by cell id: cells
// deleted, inserted (after the cell they follow in after, or at the end
// when they are last), moved (the fewest, keeping the longest run of cells
// in order), changed (only the fields that differ), and notebook metadata.
func Diff(before, after *Notebook) ([]Op, error) {
	var ops []Op
	old := make(map[string]*Cell, len(before.Cells))
	oldPos := make(map[string]int, len(before.Cells))
	for i, c := range before.Cells {
		old[c.ID], oldPos[c.ID] = c, i
	}
	now := make(map[string]bool, len(after.Cells))
	for _, c := range after.Cells {
		now[c.ID] = true
	}
	for _, c := range before.Cells {
		if !now[c.ID] {
			ops = append(ops, Op{Op: "delete", ID: c.ID})
		}
	}
	// The cells kept, in their new order; those off the longest increasing
	// run of old positions are the ones that moved.
	var kept []string
	for _, c := range after.Cells {
		if _, ok := old[c.ID]; ok {
			kept = append(kept, c.ID)
		}
	}
	stay := longestRun(kept, oldPos)
	for i, c := range after.Cells {
		at := placeOf(after, i)
		prev, existed := old[c.ID]
		if !existed {
			cell, err := cellJSON(c)
			if err != nil {
				return nil, err
			}
			ops = append(ops, Op{Op: "insert", Cell: cell, At: at})
			continue
		}
		if !stay[c.ID] {
			ops = append(ops, Op{Op: "move", ID: c.ID, At: at})
		}
		fields, err := changedFields(prev, c)
		if err != nil {
			return nil, err
		}
		if len(fields) > 0 {
			cell, err := cellJSON(c)
			if err != nil {
				return nil, err
			}
			ops = append(ops, Op{Op: "update", ID: c.ID, Fields: fields, Cell: cell, At: at})
		}
	}
	set := map[string]json.RawMessage{}
	for k, v := range after.Metadata {
		if w, ok := before.Metadata[k]; !ok || !bytes.Equal(v, w) {
			set[k] = v
		}
	}
	var del []string
	for k := range before.Metadata {
		if _, ok := after.Metadata[k]; !ok {
			del = append(del, k)
		}
	}
	slices.Sort(del)
	if len(set) > 0 || len(del) > 0 {
		ops = append(ops, Op{Op: "metadata", Set: set, Delete: del})
	}
	return ops, nil
}

// placeOf says where the cell at index i of nb goes: at the end when it is
// the last cell, else after the cell before it, else at the start.
func placeOf(nb *Notebook, i int) json.RawMessage {
	switch {
	case i == len(nb.Cells)-1:
		return json.RawMessage(`"end"`)
	case i > 0:
		return mustJSON(map[string]string{"after": nb.Cells[i-1].ID})
	}
	return json.RawMessage(`"start"`)
}

// longestRun marks the ids that form the longest run whose old positions
// increase: those cells kept their relative order.
func longestRun(ids []string, pos map[string]int) map[string]bool {
	n := len(ids)
	tails := []int{} // tails[k]: index into ids of the smallest tail of a run of length k+1
	prev := make([]int, n)
	for i, id := range ids {
		p := pos[id]
		k, _ := slices.BinarySearchFunc(tails, p, func(j, p int) int { return pos[ids[j]] - p })
		if k > 0 {
			prev[i] = tails[k-1]
		} else {
			prev[i] = -1
		}
		if k == len(tails) {
			tails = append(tails, i)
		} else {
			tails[k] = i
		}
	}
	stay := make(map[string]bool, len(tails))
	if len(tails) > 0 {
		for i := tails[len(tails)-1]; i >= 0; i = prev[i] {
			stay[ids[i]] = true
		}
	}
	return stay
}

// cellJSON is c as nbformat JSON.
func cellJSON(c *Cell) (json.RawMessage, error) {
	t, err := c.tree()
	if err != nil {
		return nil, err
	}
	return json.Marshal(t)
}

// changedFields returns the nbformat fields of b that differ from a's.
func changedFields(a, b *Cell) (map[string]json.RawMessage, error) {
	f := map[string]json.RawMessage{}
	if a.Type != b.Type {
		f["cell_type"] = mustJSON(b.Type)
	}
	if a.Source != b.Source {
		f["source"] = mustJSON(b.Source)
	}
	if !rawMapsEqual(a.Metadata, b.Metadata) {
		m := b.Metadata
		if m == nil {
			m = map[string]json.RawMessage{}
		}
		f["metadata"] = mustJSON(m)
	}
	if b.Type == CodeCell {
		if !intsEqual(a.ExecutionCount, b.ExecutionCount) {
			f["execution_count"] = mustJSON(b.ExecutionCount)
		}
		if !outputsEqual(a.Outputs, b.Outputs) {
			outs := make([]any, 0, len(b.Outputs))
			for _, o := range b.Outputs {
				t, err := o.tree()
				if err != nil {
					return nil, err
				}
				outs = append(outs, t)
			}
			data, err := json.Marshal(outs)
			if err != nil {
				return nil, err
			}
			f["outputs"] = data
		}
	} else if !bytes.Equal(a.Attachments, b.Attachments) && len(b.Attachments) > 0 {
		f["attachments"] = b.Attachments
	}
	return f, nil
}

func rawMapsEqual(a, b map[string]json.RawMessage) bool {
	return maps.EqualFunc(a, b, func(x, y json.RawMessage) bool { return bytes.Equal(x, y) })
}

func intsEqual(a, b *int) bool {
	return a == nil && b == nil || a != nil && b != nil && *a == *b
}

func outputsEqual(a, b []*Output) bool {
	return slices.EqualFunc(a, b, func(x, y *Output) bool {
		return x.Type == y.Type && x.Name == y.Name && x.Text == y.Text && x.EName == y.EName && x.EValue == y.EValue &&
			intsEqual(x.ExecutionCount, y.ExecutionCount) && slices.Equal(x.Traceback, y.Traceback) &&
			rawMapsEqual(x.Data, y.Data) && rawMapsEqual(x.Metadata, y.Metadata)
	})
}

// CellJSON is c as nbformat JSON, as Op.Cell carries it.
func CellJSON(c *Cell) (json.RawMessage, error) { return cellJSON(c) }

// ParseCell reads one nbformat cell (multiline fields as strings or lists).
func ParseCell(data []byte) (*Cell, error) {
	var fc fileCell
	if err := json.Unmarshal(data, &fc); err != nil {
		return nil, err
	}
	return fc.cell()
}

// OutputJSON is o as nbformat JSON.
func OutputJSON(o *Output) (json.RawMessage, error) {
	t, err := o.tree()
	if err != nil {
		return nil, err
	}
	return json.Marshal(t)
}
