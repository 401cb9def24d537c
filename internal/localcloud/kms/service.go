package kms

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"cloud.google.com/go/kms/apiv1/kmspb"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/gapi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// methodPrefix is the full name of the service's methods in the operation
// log.
const methodPrefix = "google.cloud.kms.v1.KeyManagementService."

// Recorder logs mutating calls (localcloud's operation log).
type Recorder interface {
	Record(method, resource string, err error)
}

// Config configures the service.
type Config struct {
	// Dir holds keys.json; created owner-only if missing.
	Dir string
	// Log, when set, records every mutating call and its outcome.
	Log Recorder
}

// Service implements kmspb.KeyManagementServiceServer.
type Service struct {
	kmspb.UnimplementedKeyManagementServiceServer
	cfg  Config
	mu   sync.Mutex
	keys *keys
}

// destroyScheduledDuration is Google's default for a new key: 30 days.
const destroyScheduledDuration = 30 * 24 * time.Hour

// New loads the keys saved in cfg.Dir.
func New(cfg Config) (*Service, error) {
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("kms: %w", err)
	}
	k, err := loadKeys(cfg.Dir)
	if err != nil {
		return nil, err
	}
	return &Service{cfg: cfg, keys: k}, nil
}

func (s *Service) record(method, resource string, err error) {
	if s.cfg.Log != nil {
		s.cfg.Log.Record(methodPrefix+method, resource, err)
	}
}

func notFound(kind, name string) error {
	return status.Errorf(codes.NotFound, "%s %s not found.", kind, name)
}

// CreateKeyRing creates an empty key ring.
func (s *Service) CreateKeyRing(_ context.Context, req *kmspb.CreateKeyRingRequest) (_ *kmspb.KeyRing, err error) {
	name := req.GetParent() + "/keyRings/" + req.GetKeyRingId()
	defer func() { s.record("CreateKeyRing", name, err) }()
	if err := parseLocation("parent", req.GetParent()); err != nil {
		return nil, err
	}
	if err := checkID("key_ring_id", req.GetKeyRingId()); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.keys.KeyRings[name] != nil {
		return nil, status.Errorf(codes.AlreadyExists, "KeyRing %s already exists.", name)
	}
	kr := &keyRing{CreateTime: time.Now().UTC()}
	s.keys.KeyRings[name] = kr
	if err := s.saveLocked(func() { delete(s.keys.KeyRings, name) }); err != nil {
		return nil, err
	}
	return keyRingProto(name, kr), nil
}

// GetKeyRing returns a key ring.
func (s *Service) GetKeyRing(_ context.Context, req *kmspb.GetKeyRingRequest) (*kmspb.KeyRing, error) {
	if err := parseName("name", req.GetName(), 1); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	kr := s.keys.KeyRings[req.GetName()]
	if kr == nil {
		return nil, notFound("KeyRing", req.GetName())
	}
	return keyRingProto(req.GetName(), kr), nil
}

// CreateCryptoKey creates a MAC key and, unless asked not to, its version 1.
func (s *Service) CreateCryptoKey(_ context.Context, req *kmspb.CreateCryptoKeyRequest) (_ *kmspb.CryptoKey, err error) {
	name := req.GetParent() + "/cryptoKeys/" + req.GetCryptoKeyId()
	defer func() { s.record("CreateCryptoKey", name, err) }()
	if err := parseName("parent", req.GetParent(), 1); err != nil {
		return nil, err
	}
	if err := checkID("crypto_key_id", req.GetCryptoKeyId()); err != nil {
		return nil, err
	}
	ck := req.GetCryptoKey()
	if ck == nil {
		return nil, gapi.Invalid("crypto_key: required")
	}
	alg, err := checkKeySpec(ck)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.keys.KeyRings[req.GetParent()] == nil {
		return nil, notFound("KeyRing", req.GetParent())
	}
	if s.keys.CryptoKeys[name] != nil {
		return nil, status.Errorf(codes.AlreadyExists, "CryptoKey %s already exists.", name)
	}
	k := &cryptoKey{Purpose: ck.GetPurpose().String(), Algorithm: alg.String(), Labels: ck.GetLabels(), CreateTime: time.Now().UTC()}
	if !req.GetSkipInitialVersionCreation() {
		v, err := newVersion(alg)
		if err != nil {
			return nil, status.Error(codes.Internal, err.Error())
		}
		k.Versions = append(k.Versions, v)
	}
	s.keys.CryptoKeys[name] = k
	if err := s.saveLocked(func() { delete(s.keys.CryptoKeys, name) }); err != nil {
		return nil, err
	}
	return cryptoKeyProto(name, k), nil
}

// GetCryptoKey returns a crypto key.
func (s *Service) GetCryptoKey(_ context.Context, req *kmspb.GetCryptoKeyRequest) (*kmspb.CryptoKey, error) {
	if err := parseName("name", req.GetName(), 2); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k, err := s.cryptoKeyLocked(req.GetName())
	if err != nil {
		return nil, err
	}
	return cryptoKeyProto(req.GetName(), k), nil
}

// CreateCryptoKeyVersion adds a new ENABLED version (a rotation).
func (s *Service) CreateCryptoKeyVersion(_ context.Context, req *kmspb.CreateCryptoKeyVersionRequest) (_ *kmspb.CryptoKeyVersion, err error) {
	defer func() { s.record("CreateCryptoKeyVersion", req.GetParent(), err) }()
	if err := parseName("parent", req.GetParent(), 2); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k, err := s.cryptoKeyLocked(req.GetParent())
	if err != nil {
		return nil, err
	}
	v, err := newVersion(k.algorithm())
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	k.Versions = append(k.Versions, v)
	if err := s.saveLocked(func() { k.Versions = k.Versions[:len(k.Versions)-1] }); err != nil {
		return nil, err
	}
	n := len(k.Versions)
	return versionProto(req.GetParent(), n, k, v), nil
}

// GetCryptoKeyVersion returns a version (never its key material).
func (s *Service) GetCryptoKeyVersion(_ context.Context, req *kmspb.GetCryptoKeyVersionRequest) (*kmspb.CryptoKeyVersion, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, v, err := s.versionLocked("name", req.GetName())
	if err != nil {
		return nil, err
	}
	n, _ := strconv.Atoi(req.GetName()[strings.LastIndex(req.GetName(), "/")+1:])
	return versionProto(parentOf(req.GetName()), n, k, v), nil
}

// ListCryptoKeyVersions lists a key's versions, oldest first. The filter
// may be empty or state=STATE (or state="STATE"); other filters are
// answered UNIMPLEMENTED rather than ignored.
func (s *Service) ListCryptoKeyVersions(_ context.Context, req *kmspb.ListCryptoKeyVersionsRequest) (*kmspb.ListCryptoKeyVersionsResponse, error) {
	if err := parseName("parent", req.GetParent(), 2); err != nil {
		return nil, err
	}
	want, err := stateFilter(req.GetFilter())
	if err != nil {
		return nil, err
	}
	if req.GetOrderBy() != "" {
		return nil, status.Errorf(codes.Unimplemented, "order_by: not supported by localcloud (versions are listed oldest first)")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k, err := s.cryptoKeyLocked(req.GetParent())
	if err != nil {
		return nil, err
	}
	var all []*kmspb.CryptoKeyVersion
	for i, v := range k.Versions {
		if want == "" || v.State == want {
			all = append(all, versionProto(req.GetParent(), i+1, k, v))
		}
	}
	page, next, err := gapi.Page(all, req.GetPageToken(), req.GetPageSize(), "ListCryptoKeyVersions")
	if err != nil {
		return nil, err
	}
	return &kmspb.ListCryptoKeyVersionsResponse{CryptoKeyVersions: page, NextPageToken: next, TotalSize: int32(len(all))}, nil
}

// UpdateCryptoKeyVersion changes a version's state between ENABLED and
// DISABLED (update_mask "state"), the only change localcloud supports.
func (s *Service) UpdateCryptoKeyVersion(_ context.Context, req *kmspb.UpdateCryptoKeyVersionRequest) (_ *kmspb.CryptoKeyVersion, err error) {
	name := req.GetCryptoKeyVersion().GetName()
	defer func() { s.record("UpdateCryptoKeyVersion", name, err) }()
	paths := req.GetUpdateMask().GetPaths()
	if len(paths) != 1 || paths[0] != "state" {
		return nil, gapi.Invalid("update_mask: %q: localcloud updates only \"state\"", paths)
	}
	st := req.GetCryptoKeyVersion().GetState()
	if st != kmspb.CryptoKeyVersion_ENABLED && st != kmspb.CryptoKeyVersion_DISABLED {
		return nil, gapi.Invalid("crypto_key_version.state: %s: a version can only be set ENABLED or DISABLED", st)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k, v, err := s.versionLocked("crypto_key_version.name", name)
	if err != nil {
		return nil, err
	}
	if s := v.state(); s != kmspb.CryptoKeyVersion_ENABLED && s != kmspb.CryptoKeyVersion_DISABLED {
		return nil, status.Errorf(codes.FailedPrecondition, "CryptoKeyVersion %s is in state %s and cannot be changed to %s.", name, v.State, st)
	}
	old := v.State
	v.State = st.String()
	if err := s.saveLocked(func() { v.State = old }); err != nil {
		return nil, err
	}
	n, _ := strconv.Atoi(name[strings.LastIndex(name, "/")+1:])
	return versionProto(parentOf(name), n, k, v), nil
}

// saveLocked persists the keys after a change; when that fails, undo
// takes the change back, so that nothing is answered that a restart would
// forget.
func (s *Service) saveLocked(undo func()) error {
	if err := s.keys.save(s.cfg.Dir); err != nil {
		undo()
		return status.Error(codes.Internal, err.Error())
	}
	return nil
}

func (s *Service) cryptoKeyLocked(name string) (*cryptoKey, error) {
	k := s.keys.CryptoKeys[name]
	if k == nil {
		return nil, notFound("CryptoKey", name)
	}
	return k, nil
}

// versionLocked finds a version by name, checking the name's form first.
func (s *Service) versionLocked(field, name string) (*cryptoKey, *keyVersion, error) {
	if err := parseName(field, name, 3); err != nil {
		return nil, nil, err
	}
	k := s.keys.CryptoKeys[parentOf(name)]
	n, _ := strconv.Atoi(name[strings.LastIndex(name, "/")+1:])
	if k == nil || n > len(k.Versions) {
		return nil, nil, notFound("CryptoKeyVersion", name)
	}
	return k, k.Versions[n-1], nil
}

func stateFilter(f string) (string, error) {
	f = strings.TrimSpace(f)
	if f == "" {
		return "", nil
	}
	field, value, ok := strings.Cut(f, "=")
	value = strings.Trim(strings.TrimSpace(value), `"`)
	if ok && strings.TrimSpace(field) == "state" && !strings.ContainsAny(value, "=<>!: ") {
		if _, known := kmspb.CryptoKeyVersion_CryptoKeyVersionState_value[value]; known {
			return value, nil
		}
		return "", gapi.Invalid("filter: %q: unknown state %q", f, value)
	}
	return "", status.Errorf(codes.Unimplemented, "filter: %q: localcloud supports only state=STATE", f)
}

func keyRingProto(name string, kr *keyRing) *kmspb.KeyRing {
	return &kmspb.KeyRing{Name: name, CreateTime: timestamppb.New(kr.CreateTime)}
}

func cryptoKeyProto(name string, k *cryptoKey) *kmspb.CryptoKey {
	return &kmspb.CryptoKey{
		Name:       name,
		Purpose:    k.purpose(),
		CreateTime: timestamppb.New(k.CreateTime),
		VersionTemplate: &kmspb.CryptoKeyVersionTemplate{
			ProtectionLevel: kmspb.ProtectionLevel_SOFTWARE,
			Algorithm:       k.algorithm(),
		},
		Labels:                   k.Labels,
		DestroyScheduledDuration: durationpb.New(destroyScheduledDuration),
	}
}

func versionProto(keyName string, n int, k *cryptoKey, v *keyVersion) *kmspb.CryptoKeyVersion {
	return &kmspb.CryptoKeyVersion{
		Name:            keyName + "/cryptoKeyVersions/" + strconv.Itoa(n),
		State:           v.state(),
		ProtectionLevel: kmspb.ProtectionLevel_SOFTWARE,
		Algorithm:       k.algorithm(),
		CreateTime:      timestamppb.New(v.CreateTime),
		GenerateTime:    timestamppb.New(v.CreateTime),
	}
}
