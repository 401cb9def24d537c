package faults

import (
	"encoding/json"
	"fmt"
)

// String reads a string parameter ("" when absent).
func (r Request) String(key string) (string, error) {
	v, ok := r.Params[key]
	if !ok {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", fmt.Errorf("%w: %q must be a string", ErrInvalid, key)
	}
	return s, nil
}
