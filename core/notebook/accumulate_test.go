package notebook

import (
	"encoding/json"
	"strings"
	"testing"
)

func outputTypes(c *Cell) string {
	var types []string
	for _, o := range c.Outputs {
		types = append(types, o.Type)
	}
	return strings.Join(types, ",")
}

func TestApplyStreamMerge(t *testing.T) {
	nb := New()
	c := nb.AddCode("")
	apply(t, nb, c, "stream", `{"name":"stdout","text":"a\n"}`)
	apply(t, nb, c, "stream", `{"name":"stdout","text":"b"}`)
	apply(t, nb, c, "stream", `{"name":"stderr","text":"e\n"}`)
	apply(t, nb, c, "stream", `{"name":"stdout","text":"c\n"}`)
	apply(t, nb, c, "stream", `{"name":"stdout","text":"d\r\n"}`)
	if got := outputTypes(c); got != "stream,stream,stream" {
		t.Fatalf("outputs %s, want three streams (stdout merged, stderr between)", got)
	}
	want := []struct{ name, text string }{{"stdout", "a\nb"}, {"stderr", "e\n"}, {"stdout", "c\nd\r\n"}}
	for i, w := range want {
		if o := c.Outputs[i]; o.Name != w.name || o.Text != w.text {
			t.Errorf("output %d = %s %q, want %s %q", i, o.Name, o.Text, w.name, w.text)
		}
	}
	checkWritten(t, nb)
}

func TestApplyStreamAfterDisplayDoesNotMerge(t *testing.T) {
	nb := New()
	c := nb.AddCode("")
	apply(t, nb, c, "stream", `{"name":"stdout","text":"a"}`)
	apply(t, nb, c, "display_data", `{"data":{"text/plain":"x"},"metadata":{},"transient":{}}`)
	apply(t, nb, c, "stream", `{"name":"stdout","text":"b"}`)
	if got := outputTypes(c); got != "stream,display_data,stream" {
		t.Fatalf("outputs %s", got)
	}
}

func TestApplyRichOutputs(t *testing.T) {
	nb := New()
	c := nb.AddCode("")
	apply(t, nb, c, "display_data", `{"data":{"image/png":"iVBORw0KGgo=\n","text/plain":"<Figure>"},
		"metadata":{"image/png":{"width":640,"height":480}},"transient":{"display_id":"d1"}}`)
	apply(t, nb, c, "execute_result", `{"data":{"text/plain":"{'a': 1}"},"metadata":{},"execution_count":7,"transient":{}}`)
	if got := outputTypes(c); got != "display_data,execute_result" {
		t.Fatalf("outputs %s", got)
	}
	if ec := c.Outputs[1].ExecutionCount; ec == nil || *ec != 7 {
		t.Errorf("execute_result execution_count = %v, want 7", ec)
	}
	if c.Outputs[0].ExecutionCount != nil {
		t.Error("display_data got an execution count")
	}
	data := checkWritten(t, nb)
	if strings.Contains(string(data), "transient") || strings.Contains(string(data), "d1") {
		t.Fatalf("transient display id written:\n%s", data)
	}
}

func TestApplyUpdateDisplayDataAcrossCells(t *testing.T) {
	nb := New()
	c1 := nb.AddCode("h = display('old', display_id=True)")
	c2 := nb.AddCode("h.update('new')")
	apply(t, nb, c1, "display_data", `{"data":{"text/plain":"'old'"},"metadata":{},"transient":{"display_id":"D"}}`)
	apply(t, nb, c1, "stream", `{"name":"stdout","text":"between\n"}`)
	apply(t, nb, c1, "display_data", `{"data":{"text/plain":"'old again'"},"metadata":{},"transient":{"display_id":"D"}}`)
	apply(t, nb, c1, "display_data", `{"data":{"text/plain":"'other'"},"metadata":{},"transient":{"display_id":"E"}}`)
	apply(t, nb, c2, "update_display_data", `{"data":{"text/plain":"'new'"},"metadata":{"m":1},"transient":{"display_id":"D"}}`)

	if len(c2.Outputs) != 0 {
		t.Fatalf("update_display_data appended to the running cell: %s", outputTypes(c2))
	}
	for _, i := range []int{0, 2} {
		o := c1.Outputs[i]
		if got := o.PlainText(); got != "'new'" {
			t.Errorf("output %d = %q, want the update", i, got)
		}
		if string(o.Metadata["m"]) != "1" {
			t.Errorf("output %d metadata = %v, want the update's", i, o.Metadata)
		}
	}
	if got := c1.Outputs[3].PlainText(); got != "'other'" {
		t.Errorf("display E changed to %q", got)
	}
	// Each updated output has its own maps.
	c1.Outputs[0].Data["text/plain"] = json.RawMessage(`"changed"`)
	if got := c1.Outputs[2].PlainText(); got != "'new'" {
		t.Errorf("outputs share a data map: %q", got)
	}
	checkWritten(t, nb)
}

func TestApplyUpdateOfClearedDisplayIsDropped(t *testing.T) {
	nb := New()
	c := nb.AddCode("")
	apply(t, nb, c, "display_data", `{"data":{"text/plain":"1"},"metadata":{},"transient":{"display_id":"D"}}`)
	apply(t, nb, c, "clear_output", `{"wait":false}`)
	apply(t, nb, c, "update_display_data", `{"data":{"text/plain":"2"},"metadata":{},"transient":{"display_id":"D"}}`)
	if len(c.Outputs) != 0 {
		t.Fatalf("update of a cleared display added output: %s", outputTypes(c))
	}
}

func TestApplyClearOutputNow(t *testing.T) {
	nb := New()
	c := nb.AddCode("")
	apply(t, nb, c, "stream", `{"name":"stdout","text":"a"}`)
	apply(t, nb, c, "clear_output", `{"wait":false}`)
	if len(c.Outputs) != 0 {
		t.Fatalf("clear_output(wait=false) left %s", outputTypes(c))
	}
	apply(t, nb, c, "stream", `{"name":"stdout","text":"b"}`)
	if len(c.Outputs) != 1 || c.Outputs[0].Text != "b" {
		t.Fatalf("after clear: %+v", c.Outputs)
	}
	checkWritten(t, nb) // a cleared cell still writes outputs: []
}

func TestApplyClearOutputWait(t *testing.T) {
	nb := New()
	c := nb.AddCode("")
	apply(t, nb, c, "stream", `{"name":"stdout","text":"10%"}`)
	apply(t, nb, c, "display_data", `{"data":{"text/plain":"bar"},"metadata":{},"transient":{"display_id":"P"}}`)
	apply(t, nb, c, "clear_output", `{"wait":true}`)
	if len(c.Outputs) != 2 {
		t.Fatalf("clear_output(wait=true) cleared at once")
	}
	// An update is not a new output: it neither clears nor is lost.
	apply(t, nb, c, "update_display_data", `{"data":{"text/plain":"bar2"},"metadata":{},"transient":{"display_id":"P"}}`)
	if len(c.Outputs) != 2 || c.Outputs[1].PlainText() != "bar2" {
		t.Fatalf("update during pending clear: %s", outputTypes(c))
	}
	apply(t, nb, c, "stream", `{"name":"stdout","text":"100%"}`)
	if len(c.Outputs) != 1 || c.Outputs[0].Text != "100%" {
		t.Fatalf("pending clear not applied before next output: %+v", c.Outputs)
	}
	// Only the next output clears.
	apply(t, nb, c, "error", `{"ename":"E","evalue":"v","traceback":[]}`)
	if got := outputTypes(c); got != "stream,error" {
		t.Fatalf("second output cleared again: %s", got)
	}
	checkWritten(t, nb)
}

func TestApplyClearOutputWaitThenEachOutputType(t *testing.T) {
	for _, m := range []struct{ typ, content string }{
		{"stream", `{"name":"stderr","text":"x"}`},
		{"display_data", `{"data":{"text/plain":"x"},"metadata":{}}`},
		{"execute_result", `{"data":{"text/plain":"x"},"metadata":{},"execution_count":1}`},
		{"error", `{"ename":"E","evalue":"x","traceback":["t"]}`},
	} {
		t.Run(m.typ, func(t *testing.T) {
			nb := New()
			c := nb.AddCode("")
			apply(t, nb, c, "stream", `{"name":"stdout","text":"old"}`)
			apply(t, nb, c, "clear_output", `{"wait":true}`)
			apply(t, nb, c, m.typ, m.content)
			if got := outputTypes(c); got != m.typ {
				t.Fatalf("outputs %s, want only the %s", got, m.typ)
			}
		})
	}
}

func TestClearOutputsDropsPendingClear(t *testing.T) {
	nb := New()
	c := nb.AddCode("")
	apply(t, nb, c, "clear_output", `{"wait":true}`)
	c.ClearOutputs()
	apply(t, nb, c, "stream", `{"name":"stdout","text":"a"}`)
	apply(t, nb, c, "stream", `{"name":"stderr","text":"b"}`)
	if got := outputTypes(c); got != "stream,stream" {
		t.Fatalf("outputs %s", got)
	}
}

func TestApplyError(t *testing.T) {
	nb := New()
	c := nb.AddCode("1/0")
	apply(t, nb, c, "error", `{"ename":"ZeroDivisionError","evalue":"division by zero",
		"traceback":["\u001b[0;31m---------\u001b[0m","\u001b[0;31mZeroDivisionError\u001b[0m: division by zero"]}`)
	o := c.Outputs[0]
	if o.Type != ErrorOutput || o.EName != "ZeroDivisionError" || o.EValue != "division by zero" || len(o.Traceback) != 2 {
		t.Fatalf("error output %+v", o)
	}
	apply(t, nb, c, "error", `{"ename":"KeyboardInterrupt","evalue":""}`)
	if c.Outputs[1].Traceback == nil {
		t.Fatal("missing traceback not made an empty list")
	}
	checkWritten(t, nb)
}

func TestApplyExecuteInput(t *testing.T) {
	nb := New()
	c := nb.AddCode("x")
	apply(t, nb, c, "execute_input", `{"code":"x","execution_count":3}`)
	if c.ExecutionCount == nil || *c.ExecutionCount != 3 {
		t.Fatalf("execution count %v, want 3", c.ExecutionCount)
	}
	c.SetExecutionCount(4) // execute_reply's count wins
	if *c.ExecutionCount != 4 {
		t.Fatalf("SetExecutionCount: %d", *c.ExecutionCount)
	}
	data := checkWritten(t, nb)
	if !strings.Contains(string(data), `"execution_count": 4`) {
		t.Fatalf("execution count not written:\n%s", data)
	}
}

func TestApplyIgnoresUnknownTypes(t *testing.T) {
	nb := New()
	c := nb.AddCode("")
	for _, typ := range []string{"status", "comm_open", "comm_msg", "iopub_welcome", "made_up", "execute_reply"} {
		apply(t, nb, c, typ, `{"execution_state":"busy","whatever":[1,2]}`)
		apply(t, nb, c, typ, `not even json`)
	}
	if len(c.Outputs) != 0 || c.ExecutionCount != nil {
		t.Fatalf("unknown types changed the cell: %+v", c)
	}
}

func TestApplyRejectsBadContent(t *testing.T) {
	cases := []struct{ typ, content, want string }{
		{"stream", `{"text":"a"}`, "name"},
		{"stream", `{"name":"stdout"}`, "text"},
		{"stream", `[1]`, "bad stream content"},
		{"display_data", `{"data":{"text/plain":5},"metadata":{}}`, `data["text/plain"]`},
		{"display_data", `{"data":{"text/plain":"x"},"metadata":[]}`, "bad display_data content"},
		{"execute_result", `{"data":{},"metadata":{},"execution_count":-1}`, "negative"},
		{"update_display_data", `{"data":{"text/plain":"x"},"metadata":{}}`, "display_id"},
		{"clear_output", `{"wait":"yes"}`, "bad clear_output content"},
		{"execute_input", `{"execution_count":-2}`, "negative"},
		{"error", `{"ename":1}`, "bad error content"},
	}
	for _, tc := range cases {
		nb := New()
		c := nb.AddCode("")
		apply(t, nb, c, "stream", `{"name":"stdout","text":"keep"}`)
		err := nb.Apply(c, tc.typ, json.RawMessage(tc.content))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Apply(%s, %s) = %v, want an error mentioning %q", tc.typ, tc.content, err, tc.want)
		}
		if len(c.Outputs) != 1 || c.Outputs[0].Text != "keep" {
			t.Errorf("Apply(%s, %s) changed the cell after an error", tc.typ, tc.content)
		}
	}
}

func TestApplyToMarkdownCell(t *testing.T) {
	nb := New()
	c := nb.AddMarkdown("# hi")
	if err := nb.Apply(c, "stream", json.RawMessage(`{"name":"stdout","text":"a"}`)); err == nil {
		t.Fatal("stream into a markdown cell accepted")
	}
	if err := nb.Apply(nil, "stream", json.RawMessage(`{"name":"stdout","text":"a"}`)); err == nil {
		t.Fatal("nil cell accepted")
	}
}

func TestApplyJSONMimeKeepsLargeIntegers(t *testing.T) {
	nb := New()
	c := nb.AddCode("")
	apply(t, nb, c, "execute_result", `{"data":{"application/json":{"big":9223372036854775809,"neg":-18446744073709551617,"f":1.5,"list":[1,"<a&b>"]},
		"application/vnd.custom+json":[12345678901234567890],"text/plain":"x"},"metadata":{"application/json":{"expanded":false,"root":"root"}},"execution_count":1}`)
	data := checkWritten(t, nb)
	for _, want := range []string{"9223372036854775809", "-18446744073709551617", "12345678901234567890", `"<a&b>"`} {
		if !strings.Contains(string(data), want) {
			t.Errorf("written notebook lacks %s:\n%s", want, data)
		}
	}
	back, err := Read(strings.NewReader(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	var v struct{ Big json.Number }
	if err := json.Unmarshal(back.Cells[0].Outputs[0].Data["application/json"], &v); err != nil || v.Big != "9223372036854775809" {
		t.Fatalf("after reading back: %v %v", v.Big, err)
	}
}
