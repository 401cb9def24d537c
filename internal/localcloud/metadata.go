package localcloud

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/admin"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/localproc"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/state"
)

// The metadata server of the relays localcloud runs as Cloud Run services
// (their GCE_METADATA_HOST): it gives the service identity's access token,
// which is what a relay sends as AUTH password to a Memorystore for Redis
// Cluster with IAM authorization. localcloud has no IAM: it mints one
// access token, kept across restarts (state/access-token.json, owner-only),
// which every such cluster accepts, standing for every identity granted
// roles/redis.dbConnectionUser. Only Cloud Run relay processes get it from
// here, as only code on a Google machine reaches its metadata server;
// tests and operators read it with the admin token
// (/_localcloud/cluster-token).

const (
	metadataTokenPath = "/computeMetadata/v1/instance/service-accounts/default/token"
	accessTokenDoc    = "access-token"
)

// loadAccessToken reads localcloud's access token, or mints and saves it.
func loadAccessToken(store *state.Store) (string, error) {
	var tok string
	ok, err := store.Load(accessTokenDoc, &tok)
	if err != nil || (ok && tok != "") {
		return tok, err
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	tok = "ya29.localcloud." + base64.RawURLEncoding.EncodeToString(b)
	j, err := json.Marshal(tok)
	if err != nil {
		return "", err
	}
	return tok, state.WriteFileAtomic(store.Path(accessTokenDoc), j, 0o600)
}

// handleMetadataToken answers as Google's metadata server does
// (Metadata-Flavor: Google required), to Cloud Run relay processes only.
func (s *Server) handleMetadataToken(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Metadata-Flavor") != "Google" {
		admin.WriteJSON(w, http.StatusForbidden, map[string]string{"error": "Metadata-Flavor: Google is required"})
		return
	}
	if !fromRelay(r) {
		admin.WriteJSON(w, http.StatusForbidden, map[string]string{"error": "only the relays localcloud runs as Cloud Run services reach the metadata server"})
		return
	}
	admin.WriteJSON(w, http.StatusOK, map[string]any{"access_token": s.accessToken, "expires_in": 3599, "token_type": "Bearer"})
}

// fromRelay reports whether the request comes from a Cloud Run relay
// process of this machine.
func fromRelay(r *http.Request) bool {
	local, _ := r.Context().Value(http.LocalAddrContextKey).(*net.TCPAddr)
	remote, err := net.ResolveTCPAddr("tcp", r.RemoteAddr)
	if local == nil || err != nil {
		return false
	}
	_, env, err := localproc.PeerEnvOf(local, remote, localproc.RunInstanceEnv)
	return err == nil && env[localproc.RunInstanceEnv] != ""
}
