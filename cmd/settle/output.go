package main

import (
	"encoding/json"
	"fmt"

	settle "github.com/settlehq/settle"
)

// printJSON prints v as one JSON document on one line.
func (m *Main) printJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	_, err = m.Stdout.Write(b)
	return err
}

// printErr prints a refusal: {"error": {...}} on stdout with --json, else
// "settle: CODE: message" on stderr.
func (m *Main) printErr(err error, asJSON bool) {
	code := settle.ErrorCode(err)
	if asJSON {
		_ = m.printJSON(map[string]any{"error": map[string]string{"code": string(code), "message": settle.ErrorMessage(err)}})
		return
	}
	fmt.Fprintf(m.Stderr, "settle: %s: %s\n", code, settle.ErrorMessage(err))
}

// refuse prints err as a refusal and returns the exit-1 error.
func (m *Main) refuse(cfg *Config, err error) error {
	m.printErr(err, cfg != nil && cfg.JSON)
	return errFail()
}
