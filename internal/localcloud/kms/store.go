package kms

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"cloud.google.com/go/kms/apiv1/kmspb"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/state"
)

// keysFile holds every key ring, key and version, key material included.
const keysFile = "keys.json"

type keyRing struct {
	CreateTime time.Time `json:"create_time"`
}

type cryptoKey struct {
	Purpose    string            `json:"purpose"`   // kmspb.CryptoKey_CryptoKeyPurpose name
	Algorithm  string            `json:"algorithm"` // kmspb.CryptoKeyVersion_CryptoKeyVersionAlgorithm name
	Labels     map[string]string `json:"labels,omitempty"`
	CreateTime time.Time         `json:"create_time"`
	// Versions[i] is version i+1: versions are never removed.
	Versions []*keyVersion `json:"versions"`
}

type keyVersion struct {
	State      string    `json:"state"` // kmspb.CryptoKeyVersion_CryptoKeyVersionState name
	CreateTime time.Time `json:"create_time"`
	Material   []byte    `json:"material"`
}

// The enums are kept by name, readable in the file.
func (k *cryptoKey) purpose() kmspb.CryptoKey_CryptoKeyPurpose {
	return kmspb.CryptoKey_CryptoKeyPurpose(kmspb.CryptoKey_CryptoKeyPurpose_value[k.Purpose])
}

func (k *cryptoKey) algorithm() kmspb.CryptoKeyVersion_CryptoKeyVersionAlgorithm {
	return kmspb.CryptoKeyVersion_CryptoKeyVersionAlgorithm(kmspb.CryptoKeyVersion_CryptoKeyVersionAlgorithm_value[k.Algorithm])
}

func (v *keyVersion) state() kmspb.CryptoKeyVersion_CryptoKeyVersionState {
	return kmspb.CryptoKeyVersion_CryptoKeyVersionState(kmspb.CryptoKeyVersion_CryptoKeyVersionState_value[v.State])
}

// keys is the persisted document, by resource name.
type keys struct {
	KeyRings   map[string]*keyRing   `json:"key_rings"`
	CryptoKeys map[string]*cryptoKey `json:"crypto_keys"`
}

func loadKeys(dir string) (*keys, error) {
	k := &keys{KeyRings: map[string]*keyRing{}, CryptoKeys: map[string]*cryptoKey{}}
	b, err := os.ReadFile(filepath.Join(dir, keysFile))
	if errors.Is(err, fs.ErrNotExist) {
		return k, nil
	}
	if err != nil {
		return nil, fmt.Errorf("kms: %w", err)
	}
	if err := json.Unmarshal(b, k); err != nil {
		return nil, fmt.Errorf("kms: decode %s: %w", filepath.Join(dir, keysFile), err)
	}
	return k, nil
}

// save replaces the file atomically, readable by its owner only: it holds
// key material.
func (k *keys) save(dir string) error {
	b, err := json.MarshalIndent(k, "", "  ")
	if err != nil {
		return err
	}
	if err := state.WriteFileAtomic(filepath.Join(dir, keysFile), b, 0o600); err != nil {
		return fmt.Errorf("kms: save keys: %w", err)
	}
	return nil
}
