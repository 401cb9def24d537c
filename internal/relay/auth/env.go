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
	var err error
	if c.MaxLifetime, err = MaxLifetimeFromEnv(getenv); err != nil {
		errs = append(errs, err)
	}
	if c.CacheMaxAge, err = durationFromEnv(getenv, "JWKS_CACHE_MAX_AGE", DefaultCacheMaxAge); err != nil {
		errs = append(errs, err)
	}
	return c, errors.Join(errs...)
}

// MaxLifetimeFromEnv is TOKEN_MAX_LIFETIME, DefaultMaxLifetime when unset:
// what a relay accepts, and so the longest token worth minting.
func MaxLifetimeFromEnv(getenv func(string) string) (time.Duration, error) {
	return durationFromEnv(getenv, "TOKEN_MAX_LIFETIME", DefaultMaxLifetime)
}

func durationFromEnv(getenv func(string) string, name string, def time.Duration) (time.Duration, error) {
	s := getenv(name)
	if s == "" {
		return def, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s: not a positive duration (like 24h or 90m): %q", name, s)
	}
	return d, nil
}
