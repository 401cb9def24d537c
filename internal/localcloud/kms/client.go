package kms

import (
	"context"
	"fmt"
	"strings"

	kmsapi "cloud.google.com/go/kms/apiv1"
	"cloud.google.com/go/kms/apiv1/kmspb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// Dial returns a Cloud KMS client of the localcloud at addr (host:port):
// plaintext, without credentials.
func Dial(ctx context.Context, addr string) (*kmsapi.KeyManagementClient, error) {
	return kmsapi.NewKeyManagementClient(ctx, option.WithEndpoint(addr), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
}

// EnsureMACKey creates, through the API, the key ring and the HMAC_SHA256
// crypto key cryptoKey
// (projects/P/locations/L/keyRings/R/cryptoKeys/K) unless they exist, and
// reports whether the key was created. It works against localcloud and
// Google Cloud alike.
func EnsureMACKey(ctx context.Context, c *kmsapi.KeyManagementClient, cryptoKey string) (bool, error) {
	parts := strings.Split(cryptoKey, "/")
	if len(parts) != 8 || parts[0] != "projects" || parts[2] != "locations" || parts[4] != "keyRings" || parts[6] != "cryptoKeys" {
		return false, fmt.Errorf("%q is not a crypto key name (projects/PROJECT/locations/LOCATION/keyRings/RING/cryptoKeys/KEY)", cryptoKey)
	}
	location, ring := strings.Join(parts[:4], "/"), strings.Join(parts[:6], "/")
	_, err := c.CreateKeyRing(ctx, &kmspb.CreateKeyRingRequest{Parent: location, KeyRingId: parts[5], KeyRing: &kmspb.KeyRing{}})
	if err != nil && status.Code(err) != codes.AlreadyExists {
		return false, fmt.Errorf("creating key ring %s: %w", ring, err)
	}
	_, err = c.CreateCryptoKey(ctx, &kmspb.CreateCryptoKeyRequest{Parent: ring, CryptoKeyId: parts[7], CryptoKey: &kmspb.CryptoKey{
		Purpose:         kmspb.CryptoKey_MAC,
		VersionTemplate: &kmspb.CryptoKeyVersionTemplate{Algorithm: kmspb.CryptoKeyVersion_HMAC_SHA256},
	}})
	switch {
	case err == nil:
		return true, nil
	case status.Code(err) == codes.AlreadyExists:
		return false, nil
	default:
		return false, fmt.Errorf("creating crypto key %s: %w", cryptoKey, err)
	}
}
