package auth

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
)

// CheckJWKSURL accepts an https URL, or http to a loopback host (a local
// identity provider in tests and drills): keys fetched in clear text could
// be replaced on the way, and whoever replaces them signs any token.
func CheckJWKSURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("JWKS URL %q: %w", s, err)
	}
	switch {
	case u.Host == "":
		return fmt.Errorf("JWKS URL %q: not an absolute URL (https://HOST/PATH)", s)
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return nil
	}
	return fmt.Errorf("JWKS URL %q: https is required (http only to a loopback host: localhost, 127.0.0.1, ::1)", s)
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// checkRedirect keeps a redirect from downgrading the fetch to a URL
// CheckJWKSURL would refuse.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("auth: jwks fetch: too many redirects")
	}
	if err := CheckJWKSURL(req.URL.String()); err != nil {
		return fmt.Errorf("auth: jwks fetch redirected: %w", err)
	}
	return nil
}
