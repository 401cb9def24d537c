// Package kms emulates the part of Cloud KMS (google.cloud.kms.v1.KeyManagementService)
// that signs and verifies with MAC keys: key rings, crypto keys of purpose
// MAC, their versions, MacSign and MacVerify.
//
// Resource names are Google's:
//
//	projects/{project}/locations/{location}/keyRings/{key_ring}
//	    .../cryptoKeys/{crypto_key}/cryptoKeyVersions/{version}
//
// where location is "global", a multi-region (us, europe, asia) or a region.
// Key rings and crypto keys cannot be deleted (as on Google Cloud); a
// CreateCryptoKey makes version 1, ENABLED, unless
// skip_initial_version_creation is set. MAC keys have no primary version
// (Google sets CryptoKey.primary only for ENCRYPT_DECRYPT keys): callers name
// the version they sign with.
//
// Only purpose MAC is implemented, with the HMAC algorithms Google offers
// (HMAC_SHA256 and HMAC_SHA1/224/384/512) at protection level SOFTWARE;
// other purposes and protection levels are answered UNIMPLEMENTED, naming
// what is supported. Errors are Google's: NOT_FOUND for a missing resource,
// ALREADY_EXISTS for a second create, FAILED_PRECONDITION for MacSign or
// MacVerify on a key that is not a MAC key or a version that is not
// ENABLED, INVALID_ARGUMENT naming the field for a malformed request,
// including a data_crc32c or mac_crc32c that does not match what was sent.
//
// Everything, key material included, is kept in one file, <Dir>/keys.json,
// readable by its owner only (0600) and replaced atomically on every change,
// so keys survive a restart and a kill.
package kms
