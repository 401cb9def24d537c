package resources

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/agentnet/terraform-provider-agentnet/internal/gcpclient"
	"github.com/agentnet/terraform-provider-agentnet/internal/gcpregions"
)

// Region names are checked twice. The schema validator (regionName) refuses
// at validation what is never a region, whatever the provider's
// configuration: a zone, or a name of the wrong shape. Whether a region
// exists needs the provider's additional_regions, which a validator cannot
// see (resources are validated before the provider is configured), so
// checkRegion runs in ModifyPlan, still before anything changes.

// AdditionalRegionsEnv names regions newer than the provider's list,
// comma-separated, as the provider's additional_regions does.
const AdditionalRegionsEnv = "AGENTNET_ADDITIONAL_REGIONS"

// regionDescription ends every region attribute's description.
const regionDescription = " Must be a Google Cloud region (not a zone); a region newer than the provider's list is accepted once named in the provider's `additional_regions`."

// RegionNameValidator validates the shape of a region name: a zone or a
// malformed name is refused, whatever the provider's configuration.
func RegionNameValidator() validator.String { return regionValidator{} }

type regionValidator struct{}

func (regionValidator) Description(context.Context) string {
	return "must be a Google Cloud region name such as us-central1, not a zone"
}

func (v regionValidator) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (regionValidator) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if summary, detail := regionShapeProblem(req.ConfigValue.ValueString()); summary != "" {
		resp.Diagnostics.AddAttributeError(req.Path, summary, detail)
	}
}

// regionShapeProblem says why s cannot be a region, whatever the list.
func regionShapeProblem(s string) (summary, detail string) {
	if region, zone := gcpregions.ZoneRegion(s); zone {
		return fmt.Sprintf("%q is a zone, not a region", s),
			fmt.Sprintf("%s is a zone; use its region %s.", s, region)
	}
	if !gcpregions.Shaped(s) {
		hint := ""
		if n := gcpregions.Nearest(s); n != "" {
			hint = fmt.Sprintf(" Did you mean %s?", n)
		}
		return fmt.Sprintf("%q is not a region name", s),
			fmt.Sprintf("%q is not a Google Cloud region name: lowercase words joined by hyphens and ending in a number, such as us-central1.%s", s, hint)
	}
	return "", ""
}

// additionalRegions are the regions the provider's configuration adds to
// the list: its additional_regions (with the environment's) when it is
// configured, else the environment's alone.
func additionalRegions(c *gcpclient.Clients) []string {
	if c != nil {
		return c.AdditionalRegions
	}
	return SplitRegions(os.Getenv(AdditionalRegionsEnv))
}

// SplitRegions reads a comma-separated list of regions.
func SplitRegions(s string) []string {
	var out []string
	for _, r := range strings.Split(s, ",") {
		if r = strings.TrimSpace(r); r != "" {
			out = append(out, r)
		}
	}
	return out
}

// RegionProblem says why region is refused: a zone, a malformed name, or
// a name neither in Google Cloud's list nor in additional; "" when it is
// accepted.
func RegionProblem(region string, additional []string) (summary, detail string) {
	if summary, detail := regionShapeProblem(region); summary != "" {
		return summary, detail
	}
	if gcpregions.Known(region, additional...) {
		return "", ""
	}
	hint := ""
	if n := gcpregions.Nearest(region, additional...); n != "" {
		hint = fmt.Sprintf(" Did you mean %s?", n)
	}
	return fmt.Sprintf("Unknown region %q", region),
		fmt.Sprintf("%s is not a Google Cloud region.%s Regions: %s. A region newer than this list is accepted once named in the provider's additional_regions (or %s).",
			region, hint, strings.Join(gcpregions.Regions(), ", "), AdditionalRegionsEnv)
}

// checkRegion refuses, at attr, a region that does not exist. A null or
// unknown region is left to the provider's default and to the apply.
func checkRegion(c *gcpclient.Clients, at path.Path, region types.String, diags *diag.Diagnostics) {
	if region.IsNull() || region.IsUnknown() {
		return
	}
	if summary, detail := RegionProblem(region.ValueString(), additionalRegions(c)); summary != "" {
		diags.AddAttributeError(at, summary, detail)
	}
}
