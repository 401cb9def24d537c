package localcloud

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/admin"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/faults"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/rediscluster"
)

func (s *Server) handleClusters(w http.ResponseWriter, r *http.Request) {
	admin.WriteJSON(w, http.StatusOK, s.clusters.Statuses(r.Context()))
}

// handleClusterToken gives the access token of a cluster with IAM
// authorization: what `gcloud auth print-access-token` gives an identity
// granted roles/redis.dbConnectionUser on Google Cloud.
func (s *Server) handleClusterToken(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("cluster")
	if name == "" {
		admin.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "cluster: required (?cluster=projects/P/locations/R/clusters/C)"})
		return
	}
	tok, err := s.clusters.Token(name)
	switch {
	case errors.Is(err, rediscluster.ErrNotFound):
		admin.WriteJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
	case err != nil:
		admin.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
	default:
		admin.WriteJSON(w, http.StatusOK, map[string]string{"token": tok})
	}
}

func registerClusterFaults(reg *faults.Registry, cs *rediscluster.Service) {
	target := func(req faults.Request) (string, int, bool, error) {
		name, err := req.String("cluster")
		if err != nil {
			return "", 0, false, err
		}
		if name == "" {
			return "", 0, false, fmt.Errorf("%w: %q needs \"cluster\": projects/{project}/locations/{region}/clusters/{id}", faults.ErrInvalid, req.Kind)
		}
		f, err := req.Float("shard", 0)
		if err != nil {
			return "", 0, false, err
		}
		if f != math.Trunc(f) || f < 0 {
			return "", 0, false, fmt.Errorf("%w: \"shard\" must be a shard index (0, 1, ...), got %v", faults.ErrInvalid, f)
		}
		hold, err := req.Bool("hold")
		return name, int(f), hold, err
	}
	mapErr := func(err error) error {
		switch {
		case errors.Is(err, rediscluster.ErrNotFound):
			return fmt.Errorf("%w: %v", faults.ErrNotFound, err)
		case errors.Is(err, rediscluster.ErrInvalid):
			return fmt.Errorf("%w: %v", faults.ErrInvalid, err)
		}
		return err
	}
	kill := func(f func(context.Context, string, int, bool) (rediscluster.KillResult, error)) faults.Handler {
		return func(ctx context.Context, req faults.Request) (any, error) {
			name, shard, hold, err := target(req)
			if err != nil {
				return nil, err
			}
			res, err := f(ctx, name, shard, hold)
			return res, mapErr(err)
		}
	}
	reg.Register("cluster-primary-kill", "SIGKILL the primary of a Memorystore for Redis Cluster's shard (\"shard\", default 0): the cluster promotes its replica, and the node comes back as a replica after the repair delay unless \"hold\": true (until cluster-release)",
		kill(cs.KillPrimary))
	reg.Register("cluster-shard-kill", "SIGKILL every node of a Memorystore for Redis Cluster's shard (\"shard\", default 0): its keys are unavailable until the nodes are back after the repair delay, with the data they last saved; \"hold\": true keeps them down until cluster-release",
		kill(cs.KillShard))
	reg.Register("cluster-release", "start the held nodes of a Memorystore for Redis Cluster again (answers once they answer PING)",
		func(ctx context.Context, req faults.Request) (any, error) {
			name, _, _, err := target(req)
			if err != nil {
				return nil, err
			}
			ports, err := cs.Release(ctx, name)
			return map[string]any{"started": ports}, mapErr(err)
		})
}
