package auth

import (
	"errors"
	"fmt"
	"time"
)

// ConfigFromEnv reads the verifier's settings:
//
//	JWKS_URL | JWKS_FILE  where the token signing keys are; the URL is https
//	                      (http only to a loopback host)
//	JWKS_CACHE_FILE       keeps the last fetched JWKS (mode 0600) for restarts
//	                      during an identity provider outage
//	JWKS_CACHE_MAX_AGE    how long fetched keys are trusted while the provider
//	                      does not answer (default 72h)
//	JWT_ISSUER            expected iss
//	JWT_AUDIENCE          expected aud
//	TOKEN_MAX_LIFETIME    longest exp-iat accepted (default 24h)
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		JWKSURL:   getenv("JWKS_URL"),
		JWKSFile:  getenv("JWKS_FILE"),
		CacheFile: getenv("JWKS_CACHE_FILE"),
		Issuer:    getenv("JWT_ISSUER"),
		Audience:  getenv("JWT_AUDIENCE"),
	}
	var errs []error
	if (c.JWKSURL == "") == (c.JWKSFile == "") {
		errs = append(errs, errors.New("set exactly one of JWKS_URL and JWKS_FILE"))
	}
	if c.JWKSURL != "" {
		if err := CheckJWKSURL(c.JWKSURL); err != nil {
			errs = append(errs, fmt.Errorf("JWKS_URL: %w", err))
		}
	}
	if c.Issuer == "" || c.Audience == "" {
		errs = append(errs, errors.New("JWT_ISSUER and JWT_AUDIENCE are required"))
	}
	positive := func(name string, dst *time.Duration) {
		if s := getenv(name); s != "" {
			d, err := time.ParseDuration(s)
			if err != nil || d <= 0 {
				errs = append(errs, fmt.Errorf("%s: not a positive duration (like 24h or 90m): %q", name, s))
				return
			}
			*dst = d
		}
	}
	positive("TOKEN_MAX_LIFETIME", &c.MaxLifetime)
	positive("JWKS_CACHE_MAX_AGE", &c.CacheMaxAge)
	return c, errors.Join(errs...)
}
