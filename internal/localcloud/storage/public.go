package storage

import (
	"net/http"
	"slices"
	"strings"

	"cloud.google.com/go/storage"
)

// Public objects. Google Cloud serves an object to anyone at
// https://storage.googleapis.com/BUCKET/OBJECT when the bucket's IAM policy
// grants allUsers a role that reads objects, or, on a bucket with
// fine-grained access, when the object's ACL grants allUsers READER
// (predefinedAcl=publicRead), and refuses anonymous callers otherwise; for a public object without Cache-Control metadata it sends
// "public, max-age=3600". localcloud's clients carry no credentials, so
// localcloud tells a browser (the anonymous caller of a public page) by its
// Fetch Metadata headers, which browsers send and the Google clients never
// do, and holds a browser's reads of http://ADDR/BUCKET/OBJECT to Google's
// rules.

// publicCacheControl is what Cloud Storage sends for a public object
// without Cache-Control metadata.
const publicCacheControl = "public, max-age=3600"

// fromBrowser reports whether r comes from a browser (Fetch Metadata).
func fromBrowser(r *http.Request) bool {
	return r.Header.Get("Sec-Fetch-Mode") != "" || r.Header.Get("Sec-Fetch-Dest") != ""
}

// xmlObjectPath splits an XML API object path /BUCKET/OBJECT; ok is false
// for the JSON API, uploads and downloads.
func xmlObjectPath(p string) (bucket, object string, ok bool) {
	for _, api := range []string{"/storage/", "/upload/", "/download/", "/batch/", "/_internal/"} {
		if strings.HasPrefix(p, api) {
			return "", "", false
		}
	}
	bucket, object, ok = strings.Cut(strings.TrimPrefix(p, "/"), "/")
	return bucket, object, ok && bucket != "" && object != ""
}

// anonymousReads holds browsers to public objects.
func (s *Service) anonymousReads(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !fromBrowser(r) {
			h.ServeHTTP(w, r)
			return
		}
		bucket, object, ok := xmlObjectPath(r.URL.Path)
		if !ok || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
			accessDenied(w, "Anonymous callers can only read public objects at /BUCKET/OBJECT.")
			return
		}
		public, cacheControl := s.publicObject(bucket, object)
		if !public {
			// Google words it so whether or not the object exists.
			accessDenied(w, "Anonymous caller does not have storage.objects.get access to the Google Cloud Storage object. "+
				"Permission 'storage.objects.get' denied on resource (or it may not exist).")
			return
		}
		if cacheControl == "" {
			w.Header().Set("Cache-Control", publicCacheControl)
		}
		h.ServeHTTP(w, r)
	})
}

// publicObject reports whether anonymous callers may read the object
// (access.go: the bucket's IAM policy, or the object's ACL granting
// allUsers READER on a fine-grained bucket), and its Cache-Control
// metadata.
func (s *Service) publicObject(bucket, object string) (bool, string) {
	if !s.BucketExists(bucket) {
		return false, ""
	}
	obj, err := s.srv.GetObjectStreaming(bucket, object)
	if err != nil {
		return false, ""
	}
	if obj.Content != nil {
		obj.Content.Close()
	}
	public := s.publicRead(bucket, func() bool {
		return slices.ContainsFunc(obj.ACL, func(rule storage.ACLRule) bool {
			return rule.Entity == storage.AllUsers && rule.Role == storage.RoleReader
		})
	})
	return public, obj.CacheControl
}

func accessDenied(w http.ResponseWriter, msg string) {
	writeXMLError(w, http.StatusForbidden, "AccessDenied", msg)
}
