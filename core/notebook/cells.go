package notebook

import (
	"errors"
	"fmt"
	"strconv"
)

// ErrNoCell is returned (wrapped, with words saying which cells exist) when
// a Ref matches no cell.
var ErrNoCell = errors.New("no such cell")

// Ref names a cell the one way every caller does: by its id, or by its
// index among all cells (markdown and raw cells count too; negative counts
// from the end). An id is stable while cells are inserted, moved and
// deleted around it; an index is what a reader counts.
type Ref struct {
	ID      string
	Index   int
	ByIndex bool
}

// RefID names the cell with id.
func RefID(id string) Ref { return Ref{ID: id} }

// RefIndex names the cell at index i among all cells (negative from the end).
func RefIndex(i int) Ref { return Ref{Index: i, ByIndex: true} }

func (r Ref) String() string {
	if r.ByIndex {
		return strconv.Itoa(r.Index)
	}
	return strconv.Quote(r.ID)
}

// Lookup returns the cell r names and its index among all cells. An id no
// cell has that reads as an integer ("3", "-1") is taken as an index, since
// callers that pass indexes as strings mean that; ids this package makes
// are never all digits, so the two cannot be confused.
func (nb *Notebook) Lookup(r Ref) (*Cell, int, error) {
	if !r.ByIndex {
		if c, i := nb.CellByID(r.ID); c != nil {
			return c, i, nil
		}
		n, err := strconv.Atoi(r.ID)
		if err != nil {
			return nil, -1, fmt.Errorf("%w: no cell has id %q (the notebook has %d cells; get_notebook_outputs lists their ids)", ErrNoCell, r.ID, len(nb.Cells))
		}
		r = RefIndex(n)
	}
	i := r.Index
	if i < 0 {
		i += len(nb.Cells)
	}
	if i < 0 || i >= len(nb.Cells) {
		if len(nb.Cells) == 0 {
			return nil, -1, fmt.Errorf("%w: cell index %d is out of range: the notebook has no cells", ErrNoCell, r.Index)
		}
		return nil, -1, fmt.Errorf("%w: cell index %d is out of range: the notebook has %d cells (indexes 0 to %d, or -%d to -1 from the end, counting every cell)",
			ErrNoCell, r.Index, len(nb.Cells), len(nb.Cells)-1, len(nb.Cells))
	}
	return nb.Cells[i], i, nil
}

// NewCode returns a code cell with a fresh id, not yet in the notebook
// (Insert puts it there).
func (nb *Notebook) NewCode(source string) *Cell {
	return &Cell{ID: nb.newID(), Type: CodeCell, Source: source, Metadata: newMeta(), Outputs: []*Output{}}
}

// NewMarkdown returns a markdown cell with a fresh id, not yet in the notebook.
func (nb *Notebook) NewMarkdown(source string) *Cell {
	return &Cell{ID: nb.newID(), Type: MarkdownCell, Source: source, Metadata: newMeta()}
}

// Insert puts c at index at (0 to len(Cells); len appends), shifting the
// cells from there on by one.
func (nb *Notebook) Insert(at int, c *Cell) {
	at = max(0, min(at, len(nb.Cells)))
	nb.Cells = append(nb.Cells, nil)
	copy(nb.Cells[at+1:], nb.Cells[at:])
	nb.Cells[at] = c
}

// Delete removes the cell at index i and returns it.
func (nb *Notebook) Delete(i int) *Cell {
	c := nb.Cells[i]
	nb.Cells = append(nb.Cells[:i], nb.Cells[i+1:]...)
	return c
}

// Move takes the cell at index from and puts it so that it ends at index
// to (both among all cells, 0 to len(Cells)-1).
func (nb *Notebook) Move(from, to int) {
	c := nb.Delete(from)
	nb.Insert(to, c)
}

// IndexOf returns c's index among all cells, or -1.
func (nb *Notebook) IndexOf(c *Cell) int {
	for i, x := range nb.Cells {
		if x == c {
			return i
		}
	}
	return -1
}
