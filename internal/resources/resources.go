// Package resources holds the agentnet provider's resources and data
// sources, one file each, beside its acceptance test.
package resources

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/agentnet/terraform-provider-agentnet/internal/gcpclient"
)

// Resources lists every resource of the provider.
func Resources() []func() resource.Resource {
	return []func() resource.Resource{
		NewRedisInstanceResource,
		NewRedisClusterResource,
		NewRedisSnapshotResource,
		NewRedisSnapshotRestoreResource,
		NewRelayServiceResource,
		NewRelayFailoverGroupResource,
		NewStatusPageResource,
	}
}

// DataSources lists every data source of the provider.
func DataSources() []func() datasource.DataSource {
	return []func() datasource.DataSource{
		NewRedisSnapshotsDataSource,
		NewRelayHealthDataSource,
		NewRecoveryRecordsDataSource,
		NewRecoveryReadinessDataSource,
	}
}

// withClients gives a resource the provider's API clients.
type withClients struct {
	clients *gcpclient.Clients
}

func (w *withClients) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	w.clients = clientsFrom(req.ProviderData, &resp.Diagnostics)
}

// dataSourceWithClients gives a data source the provider's API clients.
type dataSourceWithClients struct {
	clients *gcpclient.Clients
}

func (w *dataSourceWithClients) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	w.clients = clientsFrom(req.ProviderData, &resp.Diagnostics)
}

func clientsFrom(data any, diags *diag.Diagnostics) *gcpclient.Clients {
	if data == nil { // the provider is not configured yet (validation)
		return nil
	}
	c, ok := data.(*gcpclient.Clients)
	if !ok {
		diags.AddError("Unexpected provider data", fmt.Sprintf("expected *gcpclient.Clients, got %T", data))
	}
	return c
}

// orDefault returns v, or the provider's default when v is not set; an error
// naming attr when neither is set.
func orDefault(v types.String, fallback, attr string, diags *diag.Diagnostics) string {
	if s := v.ValueString(); s != "" {
		return s
	}
	if fallback == "" {
		diags.AddAttributeError(path.Root(attr), "Missing "+attr,
			fmt.Sprintf("Set %q on the resource or on the provider.", attr))
	}
	return fallback
}

// instanceName is a Memorystore instance's full resource name.
type instanceName struct{ Project, Region, Instance string }

var instanceNameRE = regexp.MustCompile(`^projects/([^/]+)/locations/([^/]+)/instances/([^/]+)$`)

// instanceIDValidator accepts a Memorystore instance id, as other resources
// take it from agentnet_redis_instance.<name>.id.
func instanceIDValidator() validator.String {
	return stringvalidator.RegexMatches(instanceNameRE, "must be an instance id: projects/PROJECT/locations/REGION/instances/NAME")
}

func (n instanceName) String() string {
	return fmt.Sprintf("projects/%s/locations/%s/instances/%s", n.Project, n.Region, n.Instance)
}

func (n instanceName) parent() string {
	return fmt.Sprintf("projects/%s/locations/%s", n.Project, n.Region)
}

func parseInstanceName(s string) (instanceName, error) {
	m := instanceNameRE.FindStringSubmatch(s)
	if m == nil {
		return instanceName{}, fmt.Errorf("%q is not an instance id of the form projects/PROJECT/locations/REGION/instances/NAME", s)
	}
	return instanceName{m[1], m[2], m[3]}, nil
}

// gcsURI is a gs://bucket/object address. An empty or "/"-terminated
// object is a prefix.
type gcsURI struct{ Bucket, Object string }

// gcsURIPattern matches gs://BUCKET/ followed by an optional object name.
var gcsURIPattern = regexp.MustCompile(`^gs://[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]/[^\r\n]*$`)

// gcsObjectURIPattern matches gs://BUCKET/OBJECT naming one object, not a prefix.
var gcsObjectURIPattern = regexp.MustCompile(`^gs://[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]/[^\r\n]*[^/\r\n]$`)

const gcsURIMessage = "must be a Cloud Storage URI of the form gs://BUCKET/OBJECT"

func parseGCSURI(s string) (gcsURI, error) {
	if !gcsURIPattern.MatchString(s) {
		return gcsURI{}, fmt.Errorf("%q %s", s, gcsURIMessage)
	}
	bucket, object, _ := strings.Cut(strings.TrimPrefix(s, "gs://"), "/")
	return gcsURI{bucket, object}, nil
}

func (u gcsURI) String() string             { return "gs://" + u.Bucket + "/" + u.Object }
func (u gcsURI) isPrefix() bool             { return u.Object == "" || strings.HasSuffix(u.Object, "/") }
func (u gcsURI) withObject(o string) gcsURI { return gcsURI{u.Bucket, o} }

// optionalString maps the API's empty string to null, so an unset optional
// attribute does not show as a change from "" to null.
func optionalString(s string) types.String {
	if s == "" {
		return types.StringNull()
	}
	return types.StringValue(s)
}

// optionalStringMap maps the API's empty map to null, like optionalString.
func optionalStringMap(m map[string]string) types.Map {
	if len(m) == 0 {
		return types.MapNull(types.StringType)
	}
	v, _ := types.MapValueFrom(context.Background(), types.StringType, m)
	return v
}

// relayURLPattern matches the URLs relays are reached at.
var relayURLPattern = regexp.MustCompile(`^(https?|wss?)://[^\s/]+(/\S*)?$`)

// keepOnRegionOutage handles a Read whose regional API does not serve it
// (UNAVAILABLE, or no answer within the call's deadline): the last known
// state stands, with a warning, so that a plan (a failover above all) still
// works while a region is down.
func keepOnRegionOutage(err error, what string, diags *diag.Diagnostics) bool {
	if !gcpclient.IsRegionOutage(err) {
		return false
	}
	diags.AddWarning("Region unavailable: keeping the last known state of "+what, err.Error())
	return true
}
