package kms

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"hash"
	"hash/crc32"
	"sort"
	"strings"
	"time"

	"cloud.google.com/go/kms/apiv1/kmspb"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/gapi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// hmacAlgorithm is a MAC algorithm: its hash and key length (Google's
// HMAC keys are as long as the hash's output).
type hmacAlgorithm struct {
	hash   func() hash.Hash
	keyLen int
}

var hmacAlgorithms = map[kmspb.CryptoKeyVersion_CryptoKeyVersionAlgorithm]hmacAlgorithm{
	kmspb.CryptoKeyVersion_HMAC_SHA256: {sha256.New, 32},
	kmspb.CryptoKeyVersion_HMAC_SHA1:   {sha1.New, 20},
	kmspb.CryptoKeyVersion_HMAC_SHA224: {sha256.New224, 28},
	kmspb.CryptoKeyVersion_HMAC_SHA384: {sha512.New384, 48},
	kmspb.CryptoKeyVersion_HMAC_SHA512: {sha512.New, 64},
}

func hmacNames() string {
	var names []string
	for a := range hmacAlgorithms {
		names = append(names, a.String())
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// maxMACData is the largest data MacSign and MacVerify accept for a
// SOFTWARE key: 64 KiB.
const maxMACData = 64 * 1024

// checkKeySpec accepts purpose MAC with an HMAC algorithm at protection
// level SOFTWARE and returns the algorithm.
func checkKeySpec(ck *kmspb.CryptoKey) (kmspb.CryptoKeyVersion_CryptoKeyVersionAlgorithm, error) {
	switch ck.GetPurpose() {
	case kmspb.CryptoKey_MAC:
	case kmspb.CryptoKey_CRYPTO_KEY_PURPOSE_UNSPECIFIED:
		return 0, gapi.Invalid("crypto_key.purpose: required")
	default:
		return 0, status.Errorf(codes.Unimplemented, "crypto_key.purpose: %s is not supported by localcloud; it supports purpose MAC (algorithms %s)", ck.GetPurpose(), hmacNames())
	}
	tmpl := ck.GetVersionTemplate()
	alg := tmpl.GetAlgorithm()
	if alg == kmspb.CryptoKeyVersion_CRYPTO_KEY_VERSION_ALGORITHM_UNSPECIFIED {
		return 0, gapi.Invalid("crypto_key.version_template.algorithm: required for purpose MAC (one of %s)", hmacNames())
	}
	if _, ok := hmacAlgorithms[alg]; !ok {
		return 0, gapi.Invalid("crypto_key.version_template.algorithm: %s is not an algorithm of purpose MAC (one of %s)", alg, hmacNames())
	}
	if pl := tmpl.GetProtectionLevel(); pl != kmspb.ProtectionLevel_PROTECTION_LEVEL_UNSPECIFIED && pl != kmspb.ProtectionLevel_SOFTWARE {
		return 0, status.Errorf(codes.Unimplemented, "crypto_key.version_template.protection_level: %s is not supported by localcloud; it supports SOFTWARE", pl)
	}
	return alg, nil
}

// newVersion makes an ENABLED version with fresh random key material.
func newVersion(alg kmspb.CryptoKeyVersion_CryptoKeyVersionAlgorithm) (*keyVersion, error) {
	material := make([]byte, hmacAlgorithms[alg].keyLen)
	if _, err := rand.Read(material); err != nil {
		return nil, err
	}
	return &keyVersion{State: kmspb.CryptoKeyVersion_ENABLED.String(), CreateTime: time.Now().UTC(), Material: material}, nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func crc32c(b []byte) int64 { return int64(crc32.Checksum(b, castagnoli)) }

// checkCRC32C verifies an optional integrity field sent with a request:
// when set, it must be the CRC32C of the bytes of the field it covers.
func checkCRC32C(sum *wrapperspb.Int64Value, b []byte, checksumField, field string) (bool, error) {
	if sum == nil {
		return false, nil
	}
	if sum.GetValue() != crc32c(b) {
		return false, gapi.Invalid("%s: the checksum in field %s did not match the data in field %s", checksumField, checksumField, field)
	}
	return true, nil
}

// mac computes the MAC of data with the named version, after the checks
// MacSign and MacVerify share: the data's size and optional checksum, the
// version's existence, purpose and state.
func (s *Service) mac(name string, data []byte, dataCRC32C *wrapperspb.Int64Value) (mac []byte, verifiedData bool, err error) {
	if len(data) > maxMACData {
		return nil, false, gapi.Invalid("data: %d bytes is more than the %d bytes a MAC of a SOFTWARE key accepts", len(data), maxMACData)
	}
	if verifiedData, err = checkCRC32C(dataCRC32C, data, "data_crc32c", "data"); err != nil {
		return nil, false, err
	}
	h, err := s.macHash(name)
	if err != nil {
		return nil, false, err
	}
	h.Write(data)
	return h.Sum(nil), verifiedData, nil
}

// macHash returns the HMAC of the named version, if it may be used.
func (s *Service) macHash(name string) (hash.Hash, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, v, err := s.versionLocked("name", name)
	if err != nil {
		return nil, err
	}
	if k.purpose() != kmspb.CryptoKey_MAC {
		return nil, status.Errorf(codes.FailedPrecondition, "%s: the key's purpose is %s; MAC operations need a key of purpose MAC", name, k.Purpose)
	}
	if v.state() != kmspb.CryptoKeyVersion_ENABLED {
		return nil, status.Errorf(codes.FailedPrecondition, "%s is not enabled, current state is: %s.", name, v.State)
	}
	alg := hmacAlgorithms[k.algorithm()]
	return hmac.New(alg.hash, v.Material), nil
}

// MacSign returns the HMAC of data with the named version.
func (s *Service) MacSign(_ context.Context, req *kmspb.MacSignRequest) (*kmspb.MacSignResponse, error) {
	mac, verified, err := s.mac(req.GetName(), req.GetData(), req.GetDataCrc32C())
	if err != nil {
		return nil, err
	}
	return &kmspb.MacSignResponse{
		Name:               req.GetName(),
		Mac:                mac,
		MacCrc32C:          wrapperspb.Int64(crc32c(mac)),
		VerifiedDataCrc32C: verified,
		ProtectionLevel:    kmspb.ProtectionLevel_SOFTWARE,
	}, nil
}

// MacVerify says whether mac is the HMAC of data with the named version.
// A MAC that does not match is an answer (success false), not an error.
func (s *Service) MacVerify(_ context.Context, req *kmspb.MacVerifyRequest) (*kmspb.MacVerifyResponse, error) {
	verifiedMAC, err := checkCRC32C(req.GetMacCrc32C(), req.GetMac(), "mac_crc32c", "mac")
	if err != nil {
		return nil, err
	}
	want, verifiedData, err := s.mac(req.GetName(), req.GetData(), req.GetDataCrc32C())
	if err != nil {
		return nil, err
	}
	ok := hmac.Equal(want, req.GetMac())
	return &kmspb.MacVerifyResponse{
		Name:                     req.GetName(),
		Success:                  ok,
		VerifiedDataCrc32C:       verifiedData,
		VerifiedMacCrc32C:        verifiedMAC,
		VerifiedSuccessIntegrity: ok,
		ProtectionLevel:          kmspb.ProtectionLevel_SOFTWARE,
	}, nil
}
