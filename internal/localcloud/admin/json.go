package admin

import (
	"encoding/json"
	"net/http"
)

// WriteJSON answers an admin endpoint: code, then v as indented JSON.
func WriteJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	// The status is already sent: a failed write means the client left.
	_ = enc.Encode(v)
}
