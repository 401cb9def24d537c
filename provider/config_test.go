package provider

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func list(vs ...string) types.List {
	var elems []attr.Value
	for _, v := range vs {
		elems = append(elems, types.StringValue(v))
	}
	return types.ListValueMust(types.StringType, elems)
}

// emptyModel is a provider block with nothing set.
func emptyModel() providerModel {
	return providerModel{
		ImpersonateServiceAccountDelegates: types.ListNull(types.StringType),
		Scopes:                             types.ListNull(types.StringType),
		UserProjectOverride:                types.BoolNull(),
	}
}

func TestConfigFromEnvironmentInGoogleProviderOrder(t *testing.T) {
	cfg, diags := configFrom(emptyModel(), env(map[string]string{
		"GOOGLE_CLOUD_PROJECT":               "from-cloud-project",
		"CLOUDSDK_CORE_PROJECT":              "from-gcloud",
		"GCLOUD_REGION":                      "europe-west1",
		"CLOUDSDK_COMPUTE_REGION":            "asia-east1",
		"GOOGLE_CLOUD_KEYFILE_JSON":          "/keys/ci.json",
		"GCLOUD_KEYFILE_JSON":                "/keys/old.json",
		"GOOGLE_IMPERSONATE_SERVICE_ACCOUNT": "runner@p.iam.gserviceaccount.com",
		"GOOGLE_BILLING_PROJECT":             "bill",
		"USER_PROJECT_OVERRIDE":              "true",
	}), "test")
	if diags.HasError() {
		t.Fatal(diags)
	}
	if cfg.Project != "from-cloud-project" || cfg.Region != "europe-west1" || cfg.Credentials != "/keys/ci.json" ||
		cfg.ImpersonateServiceAccount != "runner@p.iam.gserviceaccount.com" || cfg.BillingProject != "bill" || !cfg.UserProjectOverride {
		t.Errorf("config from the environment: %+v", cfg)
	}
}

func TestConfigBlockWinsOverEnvironment(t *testing.T) {
	m := emptyModel()
	m.Project, m.Region = types.StringValue("block-project"), types.StringValue("us-central1")
	m.AccessToken = types.StringValue("block-token")
	m.ImpersonateServiceAccount = types.StringValue("block@p.iam.gserviceaccount.com")
	m.ImpersonateServiceAccountDelegates = list("hop@p.iam.gserviceaccount.com")
	m.Scopes = list("https://www.googleapis.com/auth/cloud-platform")
	m.UserProjectOverride = types.BoolValue(false)
	m.BillingProject = types.StringValue("block-bill")
	m.RequestTimeout = types.StringValue("45s")
	m.EmulatorHost = types.StringValue("127.0.0.1:9")
	cfg, diags := configFrom(m, env(map[string]string{
		"GOOGLE_PROJECT": "env-project", "GOOGLE_REGION": "env-region",
		"GOOGLE_CREDENTIALS": "/keys/env.json", "GOOGLE_OAUTH_ACCESS_TOKEN": "env-token",
		"GOOGLE_IMPERSONATE_SERVICE_ACCOUNT": "env@p.iam.gserviceaccount.com",
		"GOOGLE_BILLING_PROJECT":             "env-bill", "USER_PROJECT_OVERRIDE": "true",
		EmulatorHostEnv: "127.0.0.1:8790",
	}), "test")
	if diags.HasError() {
		t.Fatal(diags)
	}
	// A credential in the block: the environment's are not read at all.
	if cfg.Project != "block-project" || cfg.Region != "us-central1" || cfg.AccessToken != "block-token" || cfg.Credentials != "" ||
		cfg.ImpersonateServiceAccount != "block@p.iam.gserviceaccount.com" || len(cfg.ImpersonateServiceAccountDelegates) != 1 ||
		len(cfg.Scopes) != 1 || cfg.UserProjectOverride || cfg.BillingProject != "block-bill" ||
		cfg.Policy.RequestTimeout != 45*time.Second || cfg.EmulatorHost != "127.0.0.1:9" {
		t.Errorf("block did not win: %+v", cfg)
	}
}

func TestConfigCredentialsAndAccessToken(t *testing.T) {
	m := emptyModel()
	m.Credentials, m.AccessToken = types.StringValue("/k.json"), types.StringValue("tok")
	_, diags := configFrom(m, env(nil), "test")
	if !diags.HasError() || !strings.Contains(diags.Errors()[0].Summary(), "credentials and access_token") {
		t.Fatalf("both in the block: %v", diags)
	}

	// Both from the environment: the token, with a warning.
	cfg, diags := configFrom(emptyModel(), env(map[string]string{"GOOGLE_CREDENTIALS": "/k.json", "GOOGLE_OAUTH_ACCESS_TOKEN": "tok"}), "test")
	if diags.HasError() || len(diags.Warnings()) != 1 || cfg.AccessToken != "tok" || cfg.Credentials != "" {
		t.Fatalf("both in the environment: %+v %v", cfg, diags)
	}

	// credentials in the block: GOOGLE_OAUTH_ACCESS_TOKEN is not read.
	m = emptyModel()
	m.Credentials = types.StringValue("/k.json")
	cfg, diags = configFrom(m, env(map[string]string{"GOOGLE_OAUTH_ACCESS_TOKEN": "tok"}), "test")
	if diags.HasError() || cfg.AccessToken != "" || cfg.Credentials != "/k.json" {
		t.Fatalf("credentials in the block, token in the environment: %+v %v", cfg, diags)
	}
}

func TestConfigInvalidValuesNameTheAttribute(t *testing.T) {
	_, diags := configFrom(emptyModel(), env(map[string]string{"USER_PROJECT_OVERRIDE": "yes please"}), "test")
	if !diags.HasError() || !strings.Contains(diags.Errors()[0].Detail(), "USER_PROJECT_OVERRIDE") {
		t.Fatalf("bad USER_PROJECT_OVERRIDE: %v", diags)
	}
	m := emptyModel()
	m.RequestTimeout = types.StringValue("0s")
	if _, diags = configFrom(m, env(nil), "test"); !diags.HasError() {
		t.Fatal("request_timeout 0s accepted")
	}
}

// The schema offers the google provider's names.
func TestSchemaHasGoogleProviderAttributes(t *testing.T) {
	var resp provider.SchemaResponse
	New("test")().Schema(context.Background(), provider.SchemaRequest{}, &resp)
	for _, name := range []string{"project", "region", "credentials", "access_token", "impersonate_service_account",
		"impersonate_service_account_delegates", "scopes", "billing_project", "user_project_override", "request_timeout", "emulator_host"} {
		if _, ok := resp.Schema.Attributes[name]; !ok {
			t.Errorf("no %s attribute", name)
		}
	}
	for _, name := range []string{"credentials", "access_token"} {
		if !resp.Schema.Attributes[name].IsSensitive() {
			t.Errorf("%s is not sensitive", name)
		}
	}
}
