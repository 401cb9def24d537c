package recoveryrecord

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"
)

// Write stores r as PREFIX/NAME.json and PREFIX/NAME.md in bucket and
// returns the gs:// URI of the JSON object.
func Write(ctx context.Context, c *storage.Client, bucket, prefix string, r *Record) (string, error) {
	base := strings.TrimSuffix(prefix, "/")
	if base != "" {
		base += "/"
	}
	base += r.Name()
	js, err := r.JSON()
	if err != nil {
		return "", err
	}
	for _, o := range []struct {
		ext, contentType string
		body             []byte
	}{{".md", "text/markdown; charset=utf-8", []byte(r.Markdown())}, {".json", "application/json", js}} {
		w := c.Bucket(bucket).Object(base + o.ext).NewWriter(ctx)
		w.ContentType = o.contentType
		if _, err := w.Write(o.body); err != nil {
			w.Close()
			return "", err
		}
		if err := w.Close(); err != nil {
			return "", err
		}
	}
	return "gs://" + bucket + "/" + base + ".json", nil
}

// Stored is a record read back, with its address.
type Stored struct {
	URI string
	*Record
}

// List reads the records under prefix in bucket, newest first. Objects
// that are not records' JSON are skipped.
func List(ctx context.Context, c *storage.Client, bucket, prefix string) ([]Stored, error) {
	var out []Stored
	it := c.Bucket(bucket).Objects(ctx, &storage.Query{Prefix: prefix})
	for {
		a, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, err
		}
		if !strings.HasSuffix(a.Name, ".json") {
			continue
		}
		rd, err := c.Bucket(bucket).Object(a.Name).NewReader(ctx)
		if err != nil {
			return nil, err
		}
		body, err := io.ReadAll(rd)
		rd.Close()
		if err != nil {
			return nil, err
		}
		var r Record
		if err := json.Unmarshal(body, &r); err != nil || r.Kind == "" {
			continue
		}
		out = append(out, Stored{URI: fmt.Sprintf("gs://%s/%s", bucket, a.Name), Record: &r})
	}
	slices.SortStableFunc(out, func(a, b Stored) int { return b.Started.Compare(a.Started) })
	return out, nil
}

// WriteFiles stores r as DIR/NAME.json and DIR/NAME.md, the layout Write
// uses under a prefix, and returns the JSON file's path.
func WriteFiles(dir string, r *Record) (string, error) {
	js, err := r.JSON()
	if err != nil {
		return "", err
	}
	base := filepath.Join(dir, filepath.FromSlash(r.Name()))
	if err := os.MkdirAll(filepath.Dir(base), 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(base+".md", []byte(r.Markdown()), 0o644); err != nil {
		return "", err
	}
	return base + ".json", os.WriteFile(base+".json", js, 0o644)
}
