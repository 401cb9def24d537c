package storage

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"unicode/utf8"
)

// Object names reach fake-gcs-server's file-system backend, which joins
// them to the storage folder unchecked: a name with a ".." segment would
// read or write outside it. Every name in a request (URL path, "name"
// query parameter, "name" fields of JSON bodies and of the metadata part of
// multipart uploads) is checked before fake-gcs-server sees the request.

// ErrInvalidObjectName is wrapped by ValidObjectName's errors.
var ErrInvalidObjectName = errors.New("invalid object name")

// maxObjectName is Cloud Storage's limit on an object name, in bytes.
const maxObjectName = 1024

// ValidObjectName returns nil if Cloud Storage and localcloud's on-disk
// layout both accept name. Cloud Storage refuses empty names, names over
// 1024 bytes, invalid UTF-8, carriage return and line feed, and the names
// "." and ".."; localcloud also refuses "." and ".." as any "/"-separated
// segment, empty segments (a leading "/" or "//") and NUL, which its
// file-system backend would turn into paths outside the bucket.
func ValidObjectName(name string) error {
	bad := func(why string) error {
		return fmt.Errorf("%w %q: %s", ErrInvalidObjectName, name, why)
	}
	switch {
	case name == "":
		return bad("object names must be 1 to 1024 bytes long")
	case len(name) > maxObjectName:
		return bad("object names must be 1 to 1024 bytes long")
	case !utf8.ValidString(name):
		return bad("object names must be valid UTF-8")
	case strings.ContainsAny(name, "\r\n"):
		return bad("object names cannot contain carriage return or line feed")
	}
	if err := validSegments(name); err != nil {
		return bad(err.Error())
	}
	return nil
}

// validSegments refuses "." and ".." segments, empty ones except a
// trailing one, and NUL.
func validSegments(name string) error {
	if strings.Contains(name, "\x00") {
		return errors.New("NUL is not accepted")
	}
	segs := strings.Split(name, "/")
	for i, seg := range segs {
		switch {
		case seg == "." || seg == "..":
			return errors.New(`"." and ".." are not accepted as a name or a path segment of one`)
		case seg == "" && i < len(segs)-1:
			return errors.New(`a name cannot start with "/" or contain "//"`)
		}
	}
	return nil
}

// checkPath checks the decoded URL path: every storage route puts bucket
// and object names in whole segments (JSON routes with "/" escaped as %2F,
// which decoding turns back into segments), so a name with a "." or ".."
// segment shows as one here. A trailing "/" is a listing route (".../o/").
func checkPath(decoded string) error {
	rest := strings.TrimSuffix(strings.TrimPrefix(decoded, "/"), "/")
	if rest == "" {
		return nil
	}
	if err := validSegments(rest); err != nil {
		return fmt.Errorf("%w in path %q: %v", ErrInvalidObjectName, decoded, err)
	}
	return nil
}

// unsupported is the part of fake-gcs-server localcloud does not serve:
// its internal endpoints (reseed, delete everything), batch requests and
// HTML form uploads, whose bodies carry names localcloud would have to
// check too; the Google clients the project uses call none of them.
func unsupported(r *http.Request) string {
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/_internal/"):
		return "fake-gcs-server's internal endpoints are not served by localcloud"
	case strings.HasPrefix(p, "/batch/"):
		return "batch requests are not served by localcloud"
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "multipart/form-data" {
		return "HTML form (POST policy) uploads are not served by localcloud"
	}
	return ""
}

// checkNames refuses a request naming an invalid object before h sees it,
// with Cloud Storage's error: JSON for the JSON API, XML for the XML API.
func checkNames(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if why := unsupported(r); why != "" {
			writeStorageError(w, r, http.StatusNotImplemented, "notImplemented", why)
			return
		}
		err := checkPath(r.URL.Path)
		if err == nil && r.URL.Query().Has("name") {
			err = ValidObjectName(r.URL.Query().Get("name"))
		}
		if err == nil {
			err = checkBody(r)
		}
		if err != nil {
			writeStorageError(w, r, http.StatusBadRequest, "invalid", "The specified object name is not valid: "+err.Error())
			return
		}
		h.ServeHTTP(w, r)
	})
}

// maxMetadata bounds the JSON read to find names: object and bucket
// metadata, compose requests, resumable upload initiations.
const maxMetadata = 1 << 20

// checkBody checks the names in the JSON metadata a request carries.
func checkBody(r *http.Request) error { return walkNames(peekMetadata(r)) }

// peekMetadata decodes the JSON metadata a request carries (JSON API
// bodies, resumable upload initiations, the first part of multipart
// uploads; nil for none or not JSON), and puts back what it read so the
// next handler gets the body whole. Bodies that are object content are not
// read.
func peekMetadata(r *http.Request) any {
	if r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	p, q := r.URL.Path, r.URL.Query()
	upload := strings.HasPrefix(p, "/upload/storage/v1/")
	var read bytes.Buffer
	body := io.TeeReader(r.Body, &read)
	defer func() { r.Body = readCloser{io.MultiReader(&read, r.Body), r.Body} }()
	var src io.Reader
	switch {
	case strings.HasPrefix(p, "/storage/v1/"),
		upload && (q.Get("uploadType") == "resumable" || r.Header.Get("X-Goog-Upload-Protocol") == "resumable"):
		src = body
	case upload && q.Get("uploadType") == "multipart":
		_, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		part, err := multipart.NewReader(body, params["boundary"]).NextPart()
		if err != nil {
			return nil // fake-gcs-server answers the malformed upload
		}
		src = part
	default:
		return nil
	}
	var doc any
	if json.NewDecoder(io.LimitReader(src, maxMetadata)).Decode(&doc) != nil {
		return nil // not JSON: fake-gcs-server answers it
	}
	return doc
}

// metadataMap is the request's JSON metadata object (nil without one).
func metadataMap(r *http.Request) map[string]any {
	m, _ := peekMetadata(r).(map[string]any)
	return m
}

type readCloser struct {
	io.Reader
	io.Closer
}

// walkNames checks every "name" and "bucket" string of a JSON document, at
// any depth (compose's sourceObjects[].name and destination.name included).
func walkNames(v any) error {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if s, ok := e.(string); ok && (k == "name" || k == "bucket") {
				if err := ValidObjectName(s); err != nil {
					return err
				}
			}
			if err := walkNames(e); err != nil {
				return err
			}
		}
	case []any:
		for _, e := range v {
			if err := walkNames(e); err != nil {
				return err
			}
		}
	}
	return nil
}

// isJSONAPI reports whether the request is for the JSON API (else XML).
func isJSONAPI(r *http.Request) bool {
	for _, p := range []string{"/storage/v1/", "/upload/", "/download/storage/v1/", "/batch/", "/_internal/"} {
		if strings.HasPrefix(r.URL.Path, p) {
			return true
		}
	}
	return false
}

// writeStorageError answers as Cloud Storage does: the JSON API's error
// object, or the XML API's <Error> document.
// writeXMLError answers as the XML API does.
func writeXMLError(w http.ResponseWriter, code int, xmlCode, msg string) {
	w.Header().Set("Content-Type", "application/xml; charset=UTF-8")
	w.WriteHeader(code)
	// The status is already sent: a failed write means the client left.
	_, _ = io.WriteString(w, xml.Header)
	_ = xml.NewEncoder(w).Encode(struct {
		XMLName xml.Name `xml:"Error"`
		Code    string   `xml:"Code"`
		Message string   `xml:"Message"`
	}{Code: xmlCode, Message: msg})
}

func writeStorageError(w http.ResponseWriter, r *http.Request, code int, reason, msg string) {
	if !isJSONAPI(r) {
		xmlCode := "InvalidArgument"
		if reason == "invalid" {
			xmlCode = "InvalidObjectName"
		}
		writeXMLError(w, code, xmlCode, msg)
		return
	}
	type item struct {
		Message string `json:"message"`
		Domain  string `json:"domain"`
		Reason  string `json:"reason"`
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	// As above: a failed write means the client left.
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
		"code": code, "message": msg,
		"errors": []item{{Message: msg, Domain: "global", Reason: reason}},
	}})
}
