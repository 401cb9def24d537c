package memorystore

import (
	"regexp"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/gapi"
)

// Google Cloud's label rules: at most 64 labels; keys of 1 to 63
// lowercase letters, digits, underscores and dashes, starting with a
// letter; values of up to 63 of the same.
var (
	labelKeyRE   = regexp.MustCompile(`^\p{Ll}[\p{Ll}\p{Lo}\p{N}_-]{0,62}$`)
	labelValueRE = regexp.MustCompile(`^[\p{Ll}\p{Lo}\p{N}_-]{0,63}$`)
)

const maxLabels = 64

// validateLabels refuses labels Google Cloud would refuse.
func validateLabels(labels map[string]string) error {
	if len(labels) > maxLabels {
		return gapi.Invalid("instance.labels: %d labels, at most %d are allowed", len(labels), maxLabels)
	}
	for k, v := range labels {
		if !labelKeyRE.MatchString(k) {
			return gapi.Invalid("instance.labels: key %q must be 1 to 63 lowercase letters, digits, underscores or dashes, starting with a lowercase letter", k)
		}
		if !labelValueRE.MatchString(v) {
			return gapi.Invalid("instance.labels: value %q of %q must be at most 63 lowercase letters, digits, underscores or dashes", v, k)
		}
	}
	return nil
}
