package resources

import (
	"context"
	"strings"
	"testing"

	"cloud.google.com/go/redis/cluster/apiv1/clusterpb"
	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/defaults"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"google.golang.org/protobuf/proto"
)

func redisClusterSchema(t *testing.T) schema.Schema {
	t.Helper()
	var resp resource.SchemaResponse
	NewRedisClusterResource().Schema(context.Background(), resource.SchemaRequest{}, &resp)
	if resp.Diagnostics.HasError() {
		t.Fatalf("schema: %v", resp.Diagnostics)
	}
	if d := resp.Schema.ValidateImplementation(context.Background()); d.HasError() {
		t.Fatalf("schema implementation: %v", d)
	}
	return resp.Schema
}

// validate runs the validators of one top-level attribute on v, as a plan
// would, and returns their diagnostics.
func validate(t *testing.T, s schema.Schema, name string, v attr.Value) diag.Diagnostics {
	t.Helper()
	ctx, at := context.Background(), path.Root(name)
	var diags diag.Diagnostics
	switch a := s.Attributes[name].(type) {
	case schema.StringAttribute:
		for _, vd := range a.Validators {
			var r validator.StringResponse
			vd.ValidateString(ctx, validator.StringRequest{Path: at, ConfigValue: v.(types.String)}, &r) //nolint:forcetypeassert // the test's own values
			diags.Append(r.Diagnostics...)
		}
	case schema.Int64Attribute:
		for _, vd := range a.Validators {
			var r validator.Int64Response
			vd.ValidateInt64(ctx, validator.Int64Request{Path: at, ConfigValue: v.(types.Int64)}, &r) //nolint:forcetypeassert // the test's own values
			diags.Append(r.Diagnostics...)
		}
	case schema.MapAttribute:
		for _, vd := range a.Validators {
			var r validator.MapResponse
			vd.ValidateMap(ctx, validator.MapRequest{Path: at, ConfigValue: v.(types.Map)}, &r) //nolint:forcetypeassert // the test's own values
			diags.Append(r.Diagnostics...)
		}
	default:
		t.Fatalf("%s: no validators to run on a %T", name, a)
	}
	return diags
}

// Bad input is refused with the attribute named and the accepted values
// listed; good input passes.
func TestRedisClusterValidation(t *testing.T) {
	s := redisClusterSchema(t)
	str, num := types.StringValue, types.Int64Value
	configs := func(k string) attr.Value {
		return types.MapValueMust(types.StringType, map[string]attr.Value{k: str("x")})
	}
	for _, c := range []struct {
		attr string
		v    attr.Value
		want []string // every part in the error; none: accepted
	}{
		{"name", str("relay-us-central1"), nil},
		{"name", str("r"), nil},
		{"name", str("Relay_1"), []string{"name", "1 to 63 lowercase letters"}},
		{"name", str("relay-"), []string{"end with a letter or digit"}},
		{"name", str(strings.Repeat("a", 64)), []string{"1 to 63"}},
		{"region", str("us-central1-a"), []string{"zone"}},
		{"shard_count", num(3), nil},
		{"shard_count", num(0), []string{"shard_count", "between 1 and 250, got: 0"}},
		{"shard_count", num(251), []string{"between 1 and 250"}},
		{"replica_count", num(0), nil},
		{"replica_count", num(6), []string{"replica_count", "between 0 and 5, got: 6"}},
		{"node_type", str("REDIS_STANDARD_SMALL"), nil},
		{"node_type", str("n1-standard-1"), []string{"node_type", "REDIS_SHARED_CORE_NANO", "REDIS_HIGHMEM_XLARGE", `got: "n1-standard-1"`}},
		{"network", str("projects/p/global/networks/relay"), nil},
		{"network", str("relay"), []string{"network", "projects/PROJECT/global/networks/NAME"}},
		{"transit_encryption_mode", str("SERVER_AUTHENTICATION"), []string{"transit_encryption_mode", "TRANSIT_ENCRYPTION_MODE_SERVER_AUTHENTICATION", "TRANSIT_ENCRYPTION_MODE_DISABLED"}},
		{"authorization_mode", str("AUTH_MODE_DISABLED"), nil},
		{"authorization_mode", str("AUTH_MODE_TOKEN_AUTH"), []string{"authorization_mode", "AUTH_MODE_IAM_AUTH", "AUTH_MODE_DISABLED"}},
		{"redis_configs", configs("maxmemory-policy"), nil},
		{"redis_configs", configs("appendonly"), []string{`redis_configs["appendonly"]`, "maxmemory-policy", `got: "appendonly"`}},
	} {
		d := validate(t, s, c.attr, c.v)
		if len(c.want) == 0 {
			if d.HasError() {
				t.Errorf("%s = %s refused: %v", c.attr, c.v, d)
			}
			continue
		}
		if !d.HasError() {
			t.Errorf("%s = %s accepted", c.attr, c.v)
			continue
		}
		text := d.Errors()[0].Summary() + " " + d.Errors()[0].Detail()
		for _, w := range c.want {
			if !strings.Contains(text, w) {
				t.Errorf("%s = %s: %q does not say %q", c.attr, c.v, text, w)
			}
		}
	}
}

// The defaults are production's: IAM authentication, TLS, a replica per
// shard, deletion protection.
func TestRedisClusterDefaults(t *testing.T) {
	s := redisClusterSchema(t)
	ctx := context.Background()
	for name, want := range map[string]string{
		"authorization_mode":      "AUTH_MODE_IAM_AUTH",
		"transit_encryption_mode": "TRANSIT_ENCRYPTION_MODE_SERVER_AUTHENTICATION",
		"node_type":               "REDIS_HIGHMEM_MEDIUM",
	} {
		a, ok := s.Attributes[name].(schema.StringAttribute)
		if !ok || a.Default == nil {
			t.Fatalf("%s has no default", name)
		}
		var r defaults.StringResponse
		a.Default.DefaultString(ctx, defaults.StringRequest{}, &r)
		if r.PlanValue.ValueString() != want {
			t.Errorf("%s defaults to %s, want %s", name, r.PlanValue, want)
		}
	}
	if a, ok := s.Attributes["replica_count"].(schema.Int64Attribute); ok && a.Default != nil {
		var r defaults.Int64Response
		a.Default.DefaultInt64(ctx, defaults.Int64Request{}, &r)
		if r.PlanValue.ValueInt64() != 1 {
			t.Errorf("replica_count defaults to %s, want 1", r.PlanValue)
		}
	} else {
		t.Error("replica_count has no default")
	}
	if a, ok := s.Attributes["deletion_protection_enabled"].(schema.BoolAttribute); ok && a.Default != nil {
		var r defaults.BoolResponse
		a.Default.DefaultBool(ctx, defaults.BoolRequest{}, &r)
		if !r.PlanValue.ValueBool() {
			t.Error("deletion_protection_enabled defaults to false")
		}
	} else {
		t.Error("deletion_protection_enabled has no default")
	}
}

// What the API reports reaches every attribute; the API's unset enums read
// as the values they mean.
func TestRedisClusterFromAPI(t *testing.T) {
	var m redisClusterModel
	m.RedisConfigs = types.MapNull(types.StringType)
	m.fromAPI(&clusterpb.Cluster{
		Name: "projects/p/locations/us-central1/clusters/relay", Uid: "u-1", State: clusterpb.Cluster_ACTIVE,
		ShardCount: proto.Int32(3), ReplicaCount: proto.Int32(1),
		PscConfigs:         []*clusterpb.PscConfig{{Network: "projects/p/global/networks/relay"}},
		DiscoveryEndpoints: []*clusterpb.DiscoveryEndpoint{{Address: "10.0.0.5", Port: 6379}},
		RedisConfigs:       map[string]string{"maxmemory-policy": "noeviction"},
	})
	got := map[string]string{
		"id": m.ID.ValueString(), "name": m.Name.ValueString(), "project": m.Project.ValueString(), "region": m.Region.ValueString(),
		"uid": m.UID.ValueString(), "state": m.State.ValueString(), "network": m.Network.ValueString(),
		"node_type": m.NodeType.ValueString(), "transit": m.TransitEncryption.ValueString(), "auth": m.AuthorizationMode.ValueString(),
		"endpoints": m.DiscoveryEndpoints.String(), "configs": m.RedisConfigs.String(),
	}
	want := map[string]string{
		"id": "projects/p/locations/us-central1/clusters/relay", "name": "relay", "project": "p", "region": "us-central1",
		"uid": "u-1", "state": "ACTIVE", "network": "projects/p/global/networks/relay",
		"node_type": "REDIS_HIGHMEM_MEDIUM", "transit": "TRANSIT_ENCRYPTION_MODE_DISABLED", "auth": "AUTH_MODE_DISABLED",
		"endpoints": `[{"address":"10.0.0.5","port":6379}]`, "configs": `{"maxmemory-policy":"noeviction"}`,
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s = %s, want %s", k, got[k], w)
		}
	}
	if m.ShardCount.ValueInt64() != 3 || m.ReplicaCount.ValueInt64() != 1 || m.DeletionProtection.ValueBool() {
		t.Errorf("shards %s, replicas %s, deletion protection %s", m.ShardCount, m.ReplicaCount, m.DeletionProtection)
	}
	if _, err := parseClusterName("projects/p/locations/r/instances/i"); err == nil || !strings.Contains(err.Error(), "clusters/NAME") {
		t.Errorf("an instance id parsed as a cluster's: %v", err)
	}
}
