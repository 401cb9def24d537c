package compute

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// apiError is an error answered in Google's JSON error format.
type apiError struct {
	code   int
	reason string
	msg    string
}

func (e *apiError) Error() string { return fmt.Sprintf("HTTP %d %s: %s", e.code, e.reason, e.msg) }

func errInvalid(field, format string, a ...any) *apiError {
	return &apiError{http.StatusBadRequest, "invalid", fmt.Sprintf("Invalid value for field '%s': %s", field, fmt.Sprintf(format, a...))}
}

func errRequired(field string) *apiError {
	return &apiError{http.StatusBadRequest, "required", fmt.Sprintf("Required field '%s' not specified", field)}
}

func errNotFound(rel string) *apiError {
	return &apiError{http.StatusNotFound, "notFound", fmt.Sprintf("The resource '%s' was not found", rel)}
}

func writeError(w http.ResponseWriter, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = &apiError{http.StatusInternalServerError, "backendError", err.Error()}
	}
	body := map[string]any{"error": map[string]any{
		"code":    ae.code,
		"message": ae.msg,
		"errors":  []map[string]string{{"domain": "global", "reason": ae.reason, "message": ae.msg}},
	}}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(ae.code)
	_ = json.NewEncoder(w).Encode(body)
}

func writeProto(w http.ResponseWriter, m proto.Message) {
	b, err := protojson.Marshal(m)
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	_, _ = w.Write(b)
}

// apiMessage is the message of err as Google words it, without the code.
func apiMessage(err error) string {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.msg
	}
	return err.Error()
}

// errMessage is the message of err without a gRPC status prefix.
func errMessage(err error) string {
	if st, ok := status.FromError(err); ok {
		return st.Message()
	}
	return err.Error()
}
