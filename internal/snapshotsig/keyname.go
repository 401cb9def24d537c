package snapshotsig

import "regexp"

// CryptoKeyRE matches a Cloud KMS crypto key name,
// projects/PROJECT/locations/LOCATION/keyRings/RING/cryptoKeys/KEY (ring and
// key ids as keyRings.create and cryptoKeys.create accept them), for the
// attributes that name a signing key.
var CryptoKeyRE = regexp.MustCompile(`^projects/[a-z0-9][a-z0-9.:-]{0,62}/locations/[a-z0-9-]+/keyRings/[a-zA-Z0-9_-]{1,63}/cryptoKeys/[a-zA-Z0-9_-]{1,63}$`)

// CryptoKeyForm says what CryptoKeyRE accepts, for messages.
const CryptoKeyForm = "a Cloud KMS crypto key name, projects/PROJECT/locations/LOCATION/keyRings/RING/cryptoKeys/KEY"
