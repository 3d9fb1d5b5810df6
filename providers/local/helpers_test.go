package local

import (
	"encoding/json"
	"strconv"
)

// pythonOption is the provider options that choose an interpreter.
func pythonOption(python string) json.RawMessage {
	return json.RawMessage(`{"python":` + strconv.Quote(python) + `}`)
}
