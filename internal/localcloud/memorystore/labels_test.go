package memorystore

import (
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestValidateLabels(t *testing.T) {
	for _, ok := range []map[string]string{
		nil,
		{"managed-by": "agentnet", "agentnet-restore": "0123456789ab-1795000000", "empty": ""},
	} {
		if err := validateLabels(ok); err != nil {
			t.Errorf("validateLabels(%v) = %v", ok, err)
		}
	}
	many := map[string]string{}
	for i := 0; i <= maxLabels; i++ {
		many[fmt.Sprintf("k%d", i)] = "v"
	}
	for _, bad := range []map[string]string{
		{"Team": "x"},
		{"1team": "x"},
		{"team": "Research"},
		{"team": strings.Repeat("x", 64)},
		{strings.Repeat("k", 64): "x"},
		{"": "x"},
	} {
		if err := validateLabels(bad); status.Code(err) != codes.InvalidArgument {
			t.Errorf("validateLabels(%v) = %v, want INVALID_ARGUMENT", bad, err)
		}
	}
	if err := validateLabels(many); status.Code(err) != codes.InvalidArgument {
		t.Errorf("validateLabels(%d labels) = %v, want INVALID_ARGUMENT", len(many), err)
	}
}
