package gcpclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"cloud.google.com/go/auth"
	"cloud.google.com/go/auth/credentials"
	"cloud.google.com/go/auth/credentials/impersonate"
	"google.golang.org/api/option"
)

// DefaultScopes are the OAuth 2.0 scopes asked for when scopes is not set,
// as the google provider asks.
var DefaultScopes = []string{
	"https://www.googleapis.com/auth/cloud-platform",
	"https://www.googleapis.com/auth/userinfo.email",
}

// credentialTypes are the credential files credentials accepts: keys and
// user credentials, workload identity federation, and their impersonating
// forms. Others (such as GDCH) are refused by name.
var credentialTypes = []credentials.CredType{
	credentials.ServiceAccount,
	credentials.AuthorizedUser,
	credentials.ExternalAccount,
	credentials.ExternalAccountAuthorizedUser,
	credentials.ImpersonatedServiceAccount,
}

// ConfigError is a configuration mistake, with the provider attribute it
// is about, so that the provider can point at it.
type ConfigError struct {
	Attribute string
	Err       error
}

func (e *ConfigError) Error() string { return e.Attribute + ": " + e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

func configErrorf(attr, format string, args ...any) error {
	return &ConfigError{Attribute: attr, Err: fmt.Errorf(format, args...)}
}

// Identity says how the clients authenticate, for messages and tests.
type Identity struct {
	// Source is "emulator", "credentials", "access_token" or
	// "application default credentials".
	Source string
	// Impersonating is the service account every call runs as, if any.
	Impersonating string
	// QuotaProject is sent as X-Goog-User-Project, if any.
	QuotaProject string
}

func (i Identity) String() string {
	s := i.Source
	if i.Impersonating != "" {
		s += ", impersonating " + i.Impersonating
	}
	if i.QuotaProject != "" {
		s += ", quota project " + i.QuotaProject
	}
	return s
}

// authOptions are the client options every API client gets for
// authentication and quota: none but WithoutAuthentication for localcloud;
// else credentials (a key file's path or contents), an access token, or
// Application Default Credentials, impersonating a service account when
// asked, with the quota project when user_project_override is set.
func authOptions(cfg Config) ([]option.ClientOption, Identity, *auth.Credentials, error) {
	if cfg.EmulatorHost != "" {
		return []option.ClientOption{option.WithoutAuthentication()}, Identity{Source: "emulator"}, nil, nil
	}
	if cfg.Credentials != "" && cfg.AccessToken != "" {
		return nil, Identity{}, nil, configErrorf("credentials", "only one of credentials and access_token may be set (or GOOGLE_CREDENTIALS and GOOGLE_OAUTH_ACCESS_TOKEN); remove one")
	}
	scopes := scopesOr(cfg.Scopes)
	var id Identity
	var base *auth.Credentials
	var err error
	switch {
	case cfg.AccessToken != "":
		id.Source = "access_token"
		tok, rerr := pathOrContents(cfg.AccessToken)
		if rerr != nil {
			return nil, id, nil, configErrorf("access_token", "%v", rerr)
		}
		base = auth.NewCredentials(&auth.CredentialsOptions{TokenProvider: staticToken(strings.TrimSpace(tok))})
	case cfg.Credentials != "":
		id.Source = "credentials"
		if base, err = credentialsFromJSON(cfg.Credentials, scopes); err != nil {
			return nil, id, nil, &ConfigError{Attribute: "credentials", Err: err}
		}
	default:
		id.Source = "application default credentials"
		if base, err = credentials.DetectDefault(&credentials.DetectOptions{Scopes: scopes}); err != nil {
			return nil, id, nil, fmt.Errorf("no credentials: neither credentials nor access_token is set (nor GOOGLE_CREDENTIALS, GOOGLE_OAUTH_ACCESS_TOKEN), "+
				"and Application Default Credentials were not found: %w; run `gcloud auth application-default login`, set GOOGLE_APPLICATION_CREDENTIALS, "+
				"or set emulator_host for localcloud", err)
		}
	}
	creds := base
	if cfg.ImpersonateServiceAccount != "" {
		id.Impersonating = cfg.ImpersonateServiceAccount
		creds, err = impersonate.NewCredentials(&impersonate.CredentialsOptions{
			TargetPrincipal: cfg.ImpersonateServiceAccount,
			Delegates:       cfg.ImpersonateServiceAccountDelegates,
			Scopes:          scopes,
			Credentials:     base,
			Client:          cfg.iamClient,
		})
		if err != nil {
			return nil, id, nil, configErrorf("impersonate_service_account", "%v", err)
		}
	} else if len(cfg.ImpersonateServiceAccountDelegates) > 0 {
		return nil, id, nil, configErrorf("impersonate_service_account_delegates", "delegates need impersonate_service_account (or GOOGLE_IMPERSONATE_SERVICE_ACCOUNT): the delegation chain ends at the account impersonated")
	}
	opts := []option.ClientOption{option.WithAuthCredentials(creds)}
	if id.QuotaProject = quotaProject(cfg); id.QuotaProject != "" {
		opts = append(opts, option.WithQuotaProject(id.QuotaProject))
	}
	return opts, id, creds, nil
}

// checkCredentials gets a first token, so that credentials that cannot
// work (an impersonation not granted, a revoked key) are reported when the
// provider is configured, naming the attribute to fix, rather than as the
// first API call's failure.
func checkCredentials(ctx context.Context, creds *auth.Credentials, id Identity, cfg Config) error {
	if _, err := creds.Token(ctx); err != nil {
		switch {
		case cfg.ImpersonateServiceAccount != "":
			return configErrorf("impersonate_service_account", "cannot get a token for %s (%s): %v; the identity impersonating it needs roles/iam.serviceAccountTokenCreator on it", cfg.ImpersonateServiceAccount, id.Source, err)
		case cfg.Credentials != "":
			return configErrorf("credentials", "cannot get a token with these credentials: %v", err)
		default:
			return fmt.Errorf("cannot get a token with %s: %w", id.Source, err)
		}
	}
	return nil
}

// quotaProject is the project billed for quota (X-Goog-User-Project): with
// user_project_override, billing_project, else the provider's project.
// Without it, the API decides (the resource's project or the credentials').
func quotaProject(cfg Config) string {
	if !cfg.UserProjectOverride {
		return ""
	}
	if cfg.BillingProject != "" {
		return cfg.BillingProject
	}
	return cfg.Project
}

// pathOrContents reads s as a file when it names one, else returns it.
func pathOrContents(s string) (string, error) {
	if strings.HasPrefix(strings.TrimSpace(s), "{") {
		return s, nil
	}
	path := s
	if strings.HasPrefix(path, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			path = home + path[1:]
		}
	}
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		return string(b), nil
	case errors.Is(err, os.ErrNotExist) && !strings.ContainsAny(s, "/\\") && !strings.HasSuffix(s, ".json"):
		return s, nil // not a path: the value itself
	default:
		return "", fmt.Errorf("reading %s: %w", s, err)
	}
}

func credentialsFromJSON(value string, scopes []string) (*auth.Credentials, error) {
	contents, err := pathOrContents(value)
	if err != nil {
		return nil, err
	}
	var head struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal([]byte(contents), &head); err != nil {
		return nil, errors.New("not a path to a credentials JSON file nor its contents (a service account key, gcloud user credentials or a workload identity federation configuration)")
	}
	t := credentials.CredType(head.Type)
	if !slices.Contains(credentialTypes, t) {
		return nil, fmt.Errorf("credentials of type %q are not accepted; accepted types are %q", head.Type, credentialTypes)
	}
	return credentials.NewCredentialsFromJSON(t, []byte(contents), &credentials.DetectOptions{Scopes: scopes})
}

// staticToken is an access token given as is: it is never refreshed.
type staticToken string

func (t staticToken) Token(context.Context) (*auth.Token, error) {
	return &auth.Token{Value: string(t), Type: "Bearer"}, nil
}

func scopesOr(scopes []string) []string {
	if len(scopes) == 0 {
		return DefaultScopes
	}
	return scopes
}
