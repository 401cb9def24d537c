package resources

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/terraform-plugin-framework-timetypes/timetypes"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
)

// Duration and time attributes are timetypes.GoDuration and
// timetypes.RFC3339: the type refuses what time.ParseDuration or
// time.Parse(time.RFC3339) refuses, on the attribute, and compares values
// by meaning ("1m" equals "60s"). durationAtLeast adds bounds; durationOf
// and timestampOf are the one parse after validation.

// durationAtLeast refuses a duration shorter than least (negative ones
// included), naming the attribute.
func durationAtLeast(least time.Duration) validator.String { return durationMin{least} }

type durationMin struct{ least time.Duration }

func (v durationMin) Description(context.Context) string {
	return fmt.Sprintf("must be a duration of at least %s, such as 500ms, 10s, 5m or 1h", v.least)
}

func (v durationMin) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (v durationMin) ValidateString(ctx context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	d, err := time.ParseDuration(req.ConfigValue.ValueString())
	if err != nil {
		return // the type reports it
	}
	if d < v.least {
		resp.Diagnostics.AddAttributeError(req.Path, "Duration too short",
			fmt.Sprintf("%s is %q: it %s.", req.Path, req.ConfigValue.ValueString(), v.Description(ctx)))
	}
}

// durationOf is the value of the duration attribute at p, or def when it
// is null. The type validated it; a value that escaped validation is an
// error naming p, never a silent default.
func durationOf(v timetypes.GoDuration, def time.Duration, p path.Path, diags *diag.Diagnostics) time.Duration {
	if v.IsNull() || v.IsUnknown() {
		return def
	}
	d, ds := v.ValueGoDuration()
	appendAt(p, ds, diags)
	return d
}

// timestampOf is the time of the RFC 3339 attribute at p, or the zero time
// when it is null.
func timestampOf(v timetypes.RFC3339, p path.Path, diags *diag.Diagnostics) time.Time {
	if v.IsNull() || v.IsUnknown() {
		return time.Time{}
	}
	t, ds := v.ValueRFC3339Time()
	appendAt(p, ds, diags)
	return t
}

// appendAt reports ds on the attribute at p.
func appendAt(p path.Path, ds diag.Diagnostics, diags *diag.Diagnostics) {
	for _, e := range ds {
		diags.Append(diag.WithPath(p, e))
	}
}
