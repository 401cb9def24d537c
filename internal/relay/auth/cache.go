package auth

import (
	"fmt"
	"os"
	"time"
)

// The JWKS cache file keeps the keys last fetched from the identity provider
// so that an instance started during its outage still verifies tokens. It
// is written 0600 (it decides whose tokens are accepted) and trusted for
// CacheMaxAge after its writing, the file's modification time: past that
// the provider must answer.

func writeCache(path string, jwks []byte) error {
	return writeFileAtomic(path, jwks, 0o600)
}

// readCache returns the cached keys and when they were fetched, or why
// they are not used.
func readCache(path string, maxAge time.Duration, now time.Time) (keySet, time.Time, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, time.Time{}, err
	}
	if age := now.Sub(st.ModTime()); age > maxAge {
		return nil, time.Time{}, fmt.Errorf("%s was written %s ago, more than JWKS_CACHE_MAX_AGE %s: the identity provider must answer", path, age.Round(time.Second), maxAge)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, time.Time{}, err
	}
	ks, err := ParseJWKS(b)
	if err != nil {
		return nil, time.Time{}, err
	}
	if len(ks) == 0 {
		return nil, time.Time{}, fmt.Errorf("%s holds no usable keys", path)
	}
	return ks, st.ModTime(), nil
}
