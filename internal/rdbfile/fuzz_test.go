package rdbfile

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzSummarize checks that Summarize refuses what it cannot read with a
// *FormatError (no panic, no other error from an in-memory file), and that
// a file it accepts is refused once cut short or followed by a byte.
// Seeds: testdata/fuzz/FuzzSummarize.
func FuzzSummarize(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Summarize(bytes.NewReader(b))
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("refused with %T, want *FormatError: %v", err, err)
			}
			return
		}
		if s.FormatVersion < 1 || s.FormatVersion > MaxFormatVersion || s.KeyCount < 0 {
			t.Fatalf("accepted with summary %+v", s)
		}
		if _, err := Summarize(bytes.NewReader(append(bytes.Clone(b), 0))); err == nil {
			t.Fatal("accepted, and still accepted with a byte after it")
		}
		if _, err := Summarize(bytes.NewReader(b[:len(b)-1])); err == nil {
			t.Fatal("accepted, and still accepted without its last byte")
		}
	})
}
