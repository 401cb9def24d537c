package storage

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
)

// Mutation describes one completed mutating Cloud Storage request, for the
// operation log.
type Mutation struct {
	// Method is the JSON API method, e.g. storage.objects.insert.
	Method string
	// Resource is gs://bucket/object for objects, projects/_/buckets/bucket
	// for buckets.
	Resource string
	// Status is the HTTP status code; Message the error message if any.
	Status  int
	Message string
}

// auditWriter records the status and the start of the body.
type auditWriter struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (w *auditWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *auditWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if room := 64<<10 - w.body.Len(); room > 0 {
		w.body.Write(b[:min(len(b), room)])
	}
	return w.ResponseWriter.Write(b)
}

func (w *auditWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func isMutating(method string) bool {
	switch method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return true
	}
	return false
}

// audit wraps h so that every completed mutating request is reported.
func audit(h http.Handler, report func(Mutation)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if report == nil || !isMutating(r.Method) {
			h.ServeHTTP(w, r)
			return
		}
		aw := &auditWriter{ResponseWriter: w}
		h.ServeHTTP(aw, r)
		if aw.status == 0 {
			aw.status = http.StatusOK
		}
		if m, ok := classify(r, aw.status, aw.body.Bytes()); ok {
			report(m)
		}
	})
}

// classify names the API method of a mutating request.
func classify(r *http.Request, code int, body []byte) (Mutation, bool) {
	path := r.URL.EscapedPath()
	var resp struct {
		Bucket string `json:"bucket"`
		Name   string `json:"name"`
		Error  struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	// A body that is not JSON (an XML API answer, a media download) leaves
	// resp empty: the message then falls back to the body itself.
	_ = json.Unmarshal(body, &resp)
	m := Mutation{Status: code}
	if code >= 300 {
		m.Message = resp.Error.Message
		if m.Message == "" {
			m.Message = strings.TrimSpace(string(body))
		}
	}
	seg := strings.Split(strings.Trim(path, "/"), "/")
	unesc := func(s string) string {
		if u, err := url.PathUnescape(s); err == nil {
			return u
		}
		return s
	}
	objectOf := func(bucket string, rest []string) string {
		parts := make([]string, len(rest))
		for i, p := range rest {
			parts[i] = unesc(p)
		}
		return "gs://" + unesc(bucket) + "/" + strings.Join(parts, "/")
	}
	bucketRes := func(b string) string { return "projects/_/buckets/" + unesc(b) }
	switch {
	// Uploads: simple, multipart, resumable (initiation and chunks).
	case len(seg) >= 1 && seg[0] == "upload":
		q := r.URL.Query()
		resumable := q.Get("uploadType") == "resumable" || (len(seg) >= 2 && seg[1] == "resumable")
		if resumable && q.Get("upload_id") == "" && (len(seg) < 2 || seg[1] != "resumable") {
			return m, false // initiation; the object is written by the last chunk
		}
		if code == http.StatusPermanentRedirect {
			return m, false // chunk accepted, upload not complete
		}
		if resumable && code < 300 {
			// Intermediate chunks carry "bytes A-B/*"; the last one names
			// the total size.
			if cr := r.Header.Get("Content-Range"); strings.HasSuffix(cr, "/*") {
				return m, false
			}
		}
		m.Method = "storage.objects.insert"
		switch {
		case resp.Bucket != "" && resp.Name != "":
			m.Resource = "gs://" + resp.Bucket + "/" + resp.Name
		case len(seg) >= 5 && seg[1] == "storage" && seg[3] == "b":
			m.Resource = "gs://" + unesc(seg[4]) + "/" + r.URL.Query().Get("name")
		default:
			m.Resource = path
		}
		return m, true
	case len(seg) >= 3 && seg[0] == "storage" && seg[1] == "v1" && seg[2] == "b":
		rest := seg[3:]
		switch {
		case len(rest) == 0 || (len(rest) == 1 && rest[0] == ""):
			m.Method = "storage.buckets.insert"
			m.Resource = bucketRes(resp.Name)
		case len(rest) == 1:
			m.Resource = bucketRes(rest[0])
			m.Method = map[string]string{http.MethodDelete: "storage.buckets.delete", http.MethodPatch: "storage.buckets.patch",
				http.MethodPut: "storage.buckets.update", http.MethodPost: "storage.buckets.patch"}[r.Method]
		case len(rest) >= 3 && rest[1] == "o":
			obj := rest[2:]
			for i, p := range obj {
				if p == "rewriteTo" || p == "copyTo" {
					m.Method = "storage.objects." + strings.TrimSuffix(p, "To")
					if p == "copyTo" {
						m.Method = "storage.objects.copy"
					}
					if len(obj) > i+4 {
						m.Resource = objectOf(obj[i+2], obj[i+4:])
					}
					return m, true
				}
			}
			if obj[len(obj)-1] == "compose" {
				m.Method = "storage.objects.compose"
				m.Resource = objectOf(rest[0], obj[:len(obj)-1])
				return m, true
			}
			m.Resource = objectOf(rest[0], obj)
			m.Method = map[string]string{http.MethodDelete: "storage.objects.delete", http.MethodPatch: "storage.objects.patch",
				http.MethodPut: "storage.objects.update", http.MethodPost: "storage.objects.update"}[r.Method]
		}
		if m.Method == "" {
			m.Method = "storage." + r.Method
			m.Resource = path
		}
		return m, true
	case len(seg) >= 1 && seg[0] == "batch":
		m.Method, m.Resource = "storage.batch", path
		return m, true
	}
	m.Method, m.Resource = "storage."+r.Method, path
	return m, true
}
