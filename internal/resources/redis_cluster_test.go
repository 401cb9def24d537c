package resources_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"cloud.google.com/go/redis/cluster/apiv1/clusterpb"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	goredis "github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	"github.com/agentnet/terraform-provider-agentnet/internal/acctest"
	"github.com/agentnet/terraform-provider-agentnet/internal/gcpclient"
)

const clusterNetwork = "projects/" + testProject + "/global/networks/agentnet"

// clusterHCL is a three-primary cluster with a replica each and the
// production defaults (TLS, IAM authentication); %s: further attributes.
const clusterHCL = `
resource "agentnet_redis_cluster" "main" {
  name          = "relay-us"
  shard_count   = 3
  network       = "` + clusterNetwork + `"
  redis_configs = { "maxmemory-policy" = "noeviction" }
  %s
}
`

func clusterID(name string) string {
	return fmt.Sprintf("projects/%s/locations/%s/clusters/%s", testProject, testRegion, name)
}

// The cluster is real redis-servers in cluster mode: three primaries with a
// replica each, TLS from the cluster's CA and IAM authentication; import
// adopts it; deletion protection refuses a destroy and a replacement until
// it is turned off in place.
func TestAccRedisCluster_lifecycle(t *testing.T) {
	e := newEnv(t)
	id := clusterID("relay-us")
	const unprotected = "deletion_protection_enabled = false"
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config: e.config(fmt.Sprintf(clusterHCL, unprotected)),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("agentnet_redis_cluster.main", "id", id),
					resource.TestCheckResourceAttr("agentnet_redis_cluster.main", "state", "ACTIVE"),
					resource.TestCheckResourceAttr("agentnet_redis_cluster.main", "replica_count", "1"),
					resource.TestCheckResourceAttr("agentnet_redis_cluster.main", "authorization_mode", "AUTH_MODE_IAM_AUTH"),
					resource.TestCheckResourceAttr("agentnet_redis_cluster.main", "transit_encryption_mode", "TRANSIT_ENCRYPTION_MODE_SERVER_AUTHENTICATION"),
					resource.TestCheckResourceAttr("agentnet_redis_cluster.main", "discovery_endpoints.0.address", "127.0.0.1"),
					resource.TestCheckResourceAttrSet("agentnet_redis_cluster.main", "discovery_endpoints.0.port"),
					resource.TestCheckResourceAttrSet("agentnet_redis_cluster.main", "uid"),
					func(*terraform.State) error { return e.checkCluster(t, id, 3, 1) },
				),
			},
			{
				ResourceName:            "agentnet_redis_cluster.main",
				ImportState:             true,
				ImportStateId:           id,
				ImportStateVerify:       true,
				ImportStateVerifyIgnore: []string{"timeouts"},
			},
			{
				Config: e.config(fmt.Sprintf(clusterHCL, "")),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("agentnet_redis_cluster.main", plancheck.ResourceActionUpdate),
				}},
				Check: resource.TestCheckResourceAttr("agentnet_redis_cluster.main", "deletion_protection_enabled", "true"),
			},
			{
				Config:      e.config(fmt.Sprintf(clusterHCL, `node_type = "REDIS_STANDARD_SMALL"`)),
				PlanOnly:    true,
				ExpectError: errorText("would be replaced", "Changing node_type replaces the cluster", "deletion_protection_enabled = false first"),
			},
			{
				Config:      e.config(fmt.Sprintf(clusterHCL, "")),
				Destroy:     true,
				ExpectError: errorText("is protected from deletion", "set deletion_protection_enabled = false"),
			},
			{
				Config: e.config(fmt.Sprintf(clusterHCL, unprotected)),
				Check:  func(*terraform.State) error { return e.checkCluster(t, id, 3, 1) }, // the refused destroy left it whole
			},
		},
		CheckDestroy: func(*terraform.State) error {
			if _, err := e.clients.RedisCluster.GetCluster(context.Background(), &clusterpb.GetClusterRequest{Name: id}); !gcpclient.IsNotFound(err) {
				return fmt.Errorf("cluster %s still there after destroy: %v", id, err)
			}
			return nil
		},
	})
}

// A cluster with the name taken is not taken over: the create says how to
// import it. One recreated behind Terraform's back under the same name is
// another cluster (another uid): it is neither adopted nor deleted.
func TestAccRedisCluster_ownership(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	id := clusterID("relay-us")
	create := func() string {
		t.Helper()
		op, err := e.clients.RedisCluster.CreateCluster(ctx, &clusterpb.CreateClusterRequest{
			Parent: "projects/" + testProject + "/locations/" + testRegion, ClusterId: "relay-us",
			Cluster: &clusterpb.Cluster{ShardCount: proto.Int32(1), PscConfigs: []*clusterpb.PscConfig{{Network: clusterNetwork}}},
		})
		var c *clusterpb.Cluster
		if err == nil {
			c, err = gcpclient.Wait(ctx, op)
		}
		if err != nil {
			t.Fatalf("creating %s behind Terraform's back: %v", id, err)
		}
		return c.GetUid()
	}
	remove := func() {
		t.Helper()
		op, err := e.clients.RedisCluster.DeleteCluster(ctx, &clusterpb.DeleteClusterRequest{Name: id})
		if err == nil {
			err = op.Wait(ctx)
		}
		if err != nil {
			t.Fatalf("deleting %s behind Terraform's back: %v", id, err)
		}
	}
	theirs := create()
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: acctest.ProviderFactories,
		Steps: []resource.TestStep{
			{
				Config:      e.config(fmt.Sprintf(clusterHCL, "deletion_protection_enabled = false")),
				ExpectError: errorText("already exists and is not in this state", "tofu import agentnet_redis_cluster.<name> "+id),
			},
			{
				// Someone else's, still: one shard, untouched.
				PreConfig: func() {
					if err := e.checkCluster(t, id, 1, 0); err != nil {
						t.Fatal(err)
					}
					remove()
				},
				Config: e.config(fmt.Sprintf(clusterHCL, "deletion_protection_enabled = false")),
				Check: resource.ComposeAggregateTestCheckFunc(
					func(s *terraform.State) error {
						if uid := s.RootModule().Resources["agentnet_redis_cluster.main"].Primary.Attributes["uid"]; uid == theirs {
							return fmt.Errorf("the new cluster has the deleted one's uid %s", uid)
						}
						return nil
					},
				),
			},
			{
				// Replaced behind Terraform's back: the state's cluster is
				// gone, and the one now named so is not adopted.
				PreConfig: func() {
					remove()
					theirs = create()
				},
				Config:      e.config(fmt.Sprintf(clusterHCL, "deletion_protection_enabled = false")),
				ExpectError: errorText("already exists and is not in this state", "tofu import"),
			},
		},
		CheckDestroy: func(*terraform.State) error {
			c, err := e.clients.RedisCluster.GetCluster(ctx, &clusterpb.GetClusterRequest{Name: id})
			if err != nil || c.GetUid() != theirs {
				return fmt.Errorf("the cluster agentnet did not create was deleted or changed: %v, %v", c, err)
			}
			return nil
		},
	})
}

// checkCluster connects to the cluster as a client does and checks its
// shards: a primary each, with replicas replicas, all online (a replica
// just created may still be syncing: it is given a few seconds).
func (e *env) checkCluster(t *testing.T, id string, shards, replicas int) error {
	t.Helper()
	ctx := context.Background()
	rc := e.lc.ClusterClient(t, id)
	var last error
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		got, err := rc.ClusterShards(ctx).Result()
		if err != nil {
			last = fmt.Errorf("CLUSTER SHARDS on %s: %w", id, err)
			continue
		}
		if last = shardsProblem(got, shards, replicas); last == nil {
			return rc.Ping(ctx).Err()
		}
		last = fmt.Errorf("%s: %w", id, last)
	}
	return last
}

func shardsProblem(got []goredis.ClusterShard, shards, replicas int) error {
	if len(got) != shards {
		return fmt.Errorf("%d shards, want %d", len(got), shards)
	}
	for _, sh := range got {
		var primaries, replicaNodes int
		var nodes []string
		for _, n := range sh.Nodes {
			nodes = append(nodes, n.Role+"/"+n.Health)
			switch {
			case n.Health != "online":
			case n.Role == "master":
				primaries++
			default:
				replicaNodes++
			}
		}
		if primaries != 1 || replicaNodes != replicas {
			return fmt.Errorf("a shard's nodes are %v, want one online primary and %d online replicas", nodes, replicas)
		}
	}
	return nil
}
