package provider

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/agentnet/terraform-provider-agentnet/internal/gcpclient"
	"github.com/agentnet/terraform-provider-agentnet/internal/resources"
)

// Environment variables read when an attribute is not set, in order of
// precedence, as the google provider reads them.
var (
	projectEnv        = []string{"GOOGLE_PROJECT", "GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT"}
	regionEnv         = []string{"GOOGLE_REGION", "GCLOUD_REGION", "CLOUDSDK_COMPUTE_REGION"}
	credentialsEnv    = []string{"GOOGLE_CREDENTIALS", "GOOGLE_CLOUD_KEYFILE_JSON", "GCLOUD_KEYFILE_JSON"}
	accessTokenEnv    = []string{"GOOGLE_OAUTH_ACCESS_TOKEN"}
	impersonateEnv    = []string{"GOOGLE_IMPERSONATE_SERVICE_ACCOUNT"}
	billingProjectEnv = []string{"GOOGLE_BILLING_PROJECT"}
	userProjectEnv    = []string{"USER_PROJECT_OVERRIDE"}
	emulatorHostEnv   = []string{EmulatorHostEnv}
)

// envList names environment variables for descriptions and messages.
func envList(names []string) string {
	return "`" + strings.Join(names, "`, `") + "`"
}

// configFrom turns the provider block and the environment into the clients'
// configuration: an attribute set in the block wins over the environment;
// credentials and access_token exclude each other in the block, and from
// the environment (read only when neither is in the block) access_token
// wins, as in the google provider.
func configFrom(m providerModel, getenv func(string) string, version string) (gcpclient.Config, diag.Diagnostics) {
	var diags diag.Diagnostics
	// env is the first of names set in the environment; str is v when set
	// in the block, else env(names).
	env := func(names []string) string {
		for _, name := range names {
			if s := getenv(name); s != "" {
				return s
			}
		}
		return ""
	}
	str := func(v types.String, names []string) string {
		if s := v.ValueString(); s != "" {
			return s
		}
		return env(names)
	}
	cfg := gcpclient.Config{
		Project:                   str(m.Project, projectEnv),
		Region:                    str(m.Region, regionEnv),
		EmulatorHost:              str(m.EmulatorHost, emulatorHostEnv),
		RedisEndpoint:             m.RedisEndpoint.ValueString(),
		RunEndpoint:               m.RunEndpoint.ValueString(),
		ComputeEndpoint:           m.ComputeEndpoint.ValueString(),
		StorageEndpoint:           m.StorageEndpoint.ValueString(),
		KMSEndpoint:               m.KMSEndpoint.ValueString(),
		UserAgent:                 "terraform-provider-agentnet/" + version,
		ImpersonateServiceAccount: str(m.ImpersonateServiceAccount, impersonateEnv),
		BillingProject:            str(m.BillingProject, billingProjectEnv),
	}
	cfg.Credentials, cfg.AccessToken = m.Credentials.ValueString(), m.AccessToken.ValueString()
	switch {
	case cfg.Credentials != "" && cfg.AccessToken != "":
		diags.AddAttributeError(path.Root("credentials"), "credentials and access_token both set",
			"Set only one of credentials (a service account key, user credentials or workload identity federation configuration) and access_token (an OAuth 2.0 token).")
	case cfg.Credentials == "" && cfg.AccessToken == "":
		cfg.Credentials, cfg.AccessToken = env(credentialsEnv), env(accessTokenEnv)
		if cfg.Credentials != "" && cfg.AccessToken != "" {
			diags.AddWarning("Both credentials and an access token in the environment",
				fmt.Sprintf("%s and %s are both set; the access token is used, as the google provider does.", envList(credentialsEnv), envList(accessTokenEnv)))
			cfg.Credentials = ""
		}
	}
	cfg.AdditionalRegions = append(listOf(m.AdditionalRegions), resources.SplitRegions(getenv(resources.AdditionalRegionsEnv))...)
	if cfg.Region != "" {
		if summary, detail := resources.RegionProblem(cfg.Region, cfg.AdditionalRegions); summary != "" {
			diags.AddAttributeError(path.Root("region"), summary, detail)
		}
	}
	cfg.ImpersonateServiceAccountDelegates = listOf(m.ImpersonateServiceAccountDelegates)
	cfg.Scopes = listOf(m.Scopes)

	if !m.UserProjectOverride.IsNull() && !m.UserProjectOverride.IsUnknown() {
		cfg.UserProjectOverride = m.UserProjectOverride.ValueBool()
	} else if s := env(userProjectEnv); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			diags.AddAttributeError(path.Root("user_project_override"), "Invalid USER_PROJECT_OVERRIDE",
				fmt.Sprintf("USER_PROJECT_OVERRIDE is %q; use true or false.", s))
		}
		cfg.UserProjectOverride = b
	}
	if s := m.RequestTimeout.ValueString(); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			diags.AddAttributeError(path.Root("request_timeout"), "Invalid request_timeout",
				fmt.Sprintf("%q is not a positive duration such as 30s or 2m.", s))
		}
		cfg.Policy.RequestTimeout = d
	}
	return cfg, diags
}

func listOf(l types.List) []string {
	if l.IsNull() || l.IsUnknown() {
		return nil
	}
	var out []string
	for _, e := range l.Elements() {
		if s, ok := e.(types.String); ok && !s.IsNull() && !s.IsUnknown() {
			out = append(out, s.ValueString())
		}
	}
	return out
}
