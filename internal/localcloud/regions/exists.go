package regions

import (
	"github.com/agentnet/terraform-provider-agentnet/internal/gcpregions"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// CheckExists answers, as Memorystore does, a request under a location that
// is not one of Google Cloud's regions (gcpregions): PERMISSION_DENIED
// "Location X is not found or access is unauthorized." A mistyped region or
// a zone must fail here as it fails on Google Cloud, not create a resource.
func CheckExists(region string) error {
	if gcpregions.Known(region) {
		return nil
	}
	return status.Errorf(codes.PermissionDenied, "Location %s is not found or access is unauthorized.", region)
}
