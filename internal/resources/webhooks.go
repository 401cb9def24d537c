package resources

import (
	"context"
	"fmt"
	"regexp"

	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/agentnet/terraform-provider-agentnet/internal/notify"
)

// Webhook targets of a resource's notifications (package notify), declared
// as `notification` blocks whose URL is write-only: a Slack webhook's URL
// is its secret. The failover group and the status page share them.

var webhookURLRE = regexp.MustCompile(`^https?://[^\s/?#]+`)

type notificationModel struct {
	URLWO  types.String `tfsdk:"url_wo"`
	Format types.String `tfsdk:"format"`
}

// notificationBlock is the `notification` block; when says what is
// notified, events the event kinds of the JSON format.
func notificationBlock(when, events string) schema.ListNestedBlock {
	return schema.ListNestedBlock{
		Description: "A webhook called " + when + ". Each call is retried with capped backoff for up to 20 s; a webhook " +
			"that still fails never fails the apply: it is reported as a warning.",
		NestedObject: schema.NestedBlockObject{Attributes: map[string]schema.Attribute{
			"url_wo": schema.StringAttribute{Required: true, Sensitive: true, WriteOnly: true,
				Validators: []validator.String{stringvalidator.RegexMatches(webhookURLRE, "must be an http:// or https:// URL")},
				Description: "Webhook URL, write-only (never in the plan or the state): a Slack webhook's URL is its secret. " +
					"Read from the configuration at each apply. Messages name the webhook by its host only."},
			"format": schema.StringAttribute{Optional: true, Computed: true, Default: stringdefault.StaticString(string(notify.Slack)),
				Validators: []validator.String{stringvalidator.OneOf(notify.Formats...)},
				Description: "`slack`: a Slack-compatible incoming webhook body (`text` and `blocks`); `json`: the event as a " +
					"JSON object (`event`: " + events + "; `subject`, `summary`, `at`, `details`)."},
		}},
	}
}

// readWebhooks takes the webhooks from the configuration, where their
// write-only URLs are.
func readWebhooks(ctx context.Context, config tfsdk.Config, diags *diag.Diagnostics) []notify.Target {
	var cfg []notificationModel
	diags.Append(config.GetAttribute(ctx, path.Root("notification"), &cfg)...)
	var out []notify.Target
	for _, n := range cfg {
		format := notify.Slack
		if !n.Format.IsNull() && !n.Format.IsUnknown() {
			format = notify.Format(n.Format.ValueString())
		}
		out = append(out, notify.Target{URL: n.URLWO.ValueString(), Format: format})
	}
	return out
}

// sendWebhooks delivers ev; a webhook that does not take it is a warning
// ending with unaffected (what the failure does not change).
func sendWebhooks(ctx context.Context, targets []notify.Target, ev notify.Event, unaffected string, diags *diag.Diagnostics) {
	for _, f := range (notify.Sender{}).Send(ctx, targets, ev) {
		diags.AddAttributeWarning(path.Root("notification"), "Notification not delivered",
			fmt.Sprintf("The %s notification was not delivered: %s. %s", ev.Kind, f.Error(), unaffected))
	}
}
