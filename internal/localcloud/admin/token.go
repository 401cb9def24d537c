// Package admin holds what localcloud's admin API (/_localcloud/...) and
// its client (package adminclient) share: the token the API requires, and
// the answers of its endpoints that belong to no emulated API. A new token is created each time
// localcloud starts and written owner-only under its data directory, so
// only someone who can read that directory (the developer, the tests, the
// drills, the localcloud CLI) can inject faults or read the admin state; a
// web page in the developer's browser cannot.
package admin

import (
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// TokenFile is the token's file name under the data directory.
const TokenFile = "localcloud.token"

// EnvToken names the environment variable holding the token itself, read
// by the localcloud CLI when it is not given a data directory.
const EnvToken = "LOCALCLOUD_TOKEN"

// TokenPath is the token file of the localcloud using dataDir.
func TokenPath(dataDir string) string { return filepath.Join(dataDir, TokenFile) }

// CreateToken writes a new random token to TokenPath(dataDir), readable by
// its owner only, and returns it.
func CreateToken(dataDir string) (string, error) {
	token := rand.Text()
	f, err := os.CreateTemp(dataDir, TokenFile+".*") // created 0600
	if err != nil {
		return "", fmt.Errorf("admin token: %w", err)
	}
	_, err = f.WriteString(token + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), TokenPath(dataDir))
	}
	if err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("admin token: %w", err)
	}
	return token, nil
}

// ReadToken reads the token of the localcloud using dataDir.
func ReadToken(dataDir string) (string, error) {
	b, err := os.ReadFile(TokenPath(dataDir))
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("admin token: %s does not exist: is localcloud serving with --data-dir %s?", TokenPath(dataDir), dataDir)
	}
	if err != nil {
		return "", fmt.Errorf("admin token: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// Authorized reports whether r carries token. A browser cannot add the
// header to a cross-site request without a CORS preflight, which
// localcloud never grants.
func Authorized(r *http.Request, token string) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(token)) == 1
}
