package memorystore

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
)

// FuzzVerifyRDB checks that the file and streaming verifiers agree on any
// input (verifyBoth fails the test otherwise), refuse it with an *rdbError
// or *rdbTooNew, and that a snapshot they accept is refused once cut short
// or followed by zero bytes. Seeds: testdata/fuzz/FuzzVerifyRDB.
func FuzzVerifyRDB(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		r := rand.New(rand.NewPCG(uint64(len(b)), 1))
		_, err := verifyBoth(t, b, r)
		var bad *rdbError
		var tooNew *rdbTooNew
		if err != nil {
			if !errors.As(err, &bad) && !errors.As(err, &tooNew) {
				t.Fatalf("refused with %T, want *rdbError or *rdbTooNew: %v", err, err)
			}
			return
		}
		for k := 1; k <= rdbChecksumLen+1; k++ {
			if _, err := verifyBoth(t, append(bytes.Clone(b), make([]byte, k)...), r); err == nil {
				t.Fatalf("accepted, and still accepted with %d zero bytes after it", k)
			}
			if k < len(b) {
				if _, err := verifyBoth(t, b[:len(b)-k], r); err == nil {
					t.Fatalf("accepted, and still accepted without its last %d bytes", k)
				}
			}
		}
	})
}
