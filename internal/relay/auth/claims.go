package auth

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// tokenClaims are the registered claims, decoded strictly: RFC 7519 makes
// exp, iat and nbf NumericDates (JSON numbers), but the library also takes
// a string holding a number, which no identity provider issues.
type tokenClaims struct {
	jwt.RegisteredClaims
}

var dateClaims = []string{"exp", "iat", "nbf"}

func (c *tokenClaims) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	for k, v := range raw {
		for _, name := range dateClaims {
			// encoding/json matches field names case-insensitively: so does
			// this check, or "EXP" would slip a string through.
			if strings.EqualFold(k, name) && !isJSONNumber(v) {
				return fmt.Errorf("%w: claim %q is %s, not a number of seconds", ErrDateFormat, k, v)
			}
		}
	}
	return json.Unmarshal(b, &c.RegisteredClaims)
}

func isJSONNumber(v json.RawMessage) bool {
	s := strings.TrimSpace(string(v))
	return s != "" && (s[0] == '-' || s[0] >= '0' && s[0] <= '9')
}

// checkLifetime refuses a token without iat or one valid for longer than max:
// a stolen long-lived token would otherwise outlive every key rotation.
func checkLifetime(rc *jwt.RegisteredClaims, maxLife time.Duration) error {
	if rc.IssuedAt == nil {
		return fmt.Errorf("%w: token has no iat", ErrLifetime)
	}
	// In seconds: a year-2999 exp is further than a time.Duration reaches.
	if life := rc.ExpiresAt.Unix() - rc.IssuedAt.Unix(); life > int64(maxLife/time.Second) {
		return fmt.Errorf("%w: exp is %.1fh after iat, more than the maximum %s (TOKEN_MAX_LIFETIME)", ErrLifetime, float64(life)/3600, maxLife)
	}
	return nil
}
