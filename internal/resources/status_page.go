package resources

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"cloud.google.com/go/storage"
	"github.com/hashicorp/terraform-plugin-framework-timetypes/timetypes"
	"github.com/hashicorp/terraform-plugin-framework-validators/listvalidator"
	"github.com/hashicorp/terraform-plugin-framework-validators/stringvalidator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringdefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/agentnet/terraform-provider-agentnet/internal/notify"
	"github.com/agentnet/terraform-provider-agentnet/internal/statuspage"
)

var (
	_ resource.ResourceWithConfigure      = (*statusPageResource)(nil)
	_ resource.ResourceWithModifyPlan     = (*statusPageResource)(nil)
	_ resource.ResourceWithValidateConfig = (*statusPageResource)(nil)
)

// NewStatusPageResource is agentnet_status_page: the public status page,
// published to Cloud Storage by every apply that changes it.
func NewStatusPageResource() resource.Resource { return &statusPageResource{} }

type statusPageResource struct {
	withClients
}

type statusPageModel struct {
	ID           types.String        `tfsdk:"id"`
	Bucket       types.String        `tfsdk:"bucket"`
	Prefix       types.String        `tfsdk:"prefix"`
	Title        types.String        `tfsdk:"title"`
	CacheControl types.String        `tfsdk:"cache_control"`
	Components   types.List          `tfsdk:"components"`
	Incidents    types.List          `tfsdk:"incidents"`
	URL          types.String        `tfsdk:"url"`
	JSONFeedURL  types.String        `tfsdk:"json_feed_url"`
	AtomFeedURL  types.String        `tfsdk:"atom_feed_url"`
	PublishedAt  timetypes.RFC3339   `tfsdk:"published_at"`
	HTMLBytes    types.Int64         `tfsdk:"html_bytes"`
	Notification []notificationModel `tfsdk:"notification"`
}

type componentModel struct {
	Name    types.String `tfsdk:"name"`
	Group   types.String `tfsdk:"group"`
	State   types.String `tfsdk:"state"`
	Message types.String `tfsdk:"message"`
}

type incidentModel struct {
	ID                  types.String   `tfsdk:"id"`
	Title               types.String   `tfsdk:"title"`
	Status              types.String   `tfsdk:"status"`
	Components          []types.String `tfsdk:"components"`
	StartedAt           types.String   `tfsdk:"started_at"`
	EstimatedResolution types.String   `tfsdk:"estimated_resolution"`
	Updates             []updateModel  `tfsdk:"updates"`
}

type updateModel struct {
	Template types.String `tfsdk:"template"`
	At       types.String `tfsdk:"at"`
	Message  types.String `tfsdk:"message"`
}

const (
	defaultStatusCacheControl = "public, max-age=60"
	// googleStoragePublicURL is where Cloud Storage serves public objects.
	googleStoragePublicURL = "https://storage.googleapis.com/"
)

var (
	incidentIDPattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	bucketNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$`)
	prefixPattern     = regexp.MustCompile(`^([^/\r\n][^\r\n]*/)?$`)
	// rfc3339 checks the times configuration gives; the RFC 3339 type of
	// terraform-plugin-framework-timetypes would, but its diagnostic does not
	// name the attribute inside a nested list.
	rfc3339 = []validator.String{stringvalidator.RegexMatches(
		regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$`),
		"must be an RFC 3339 time such as 2026-03-01T10:00:00Z")}
	// noAt refuses '@': the page is public, and e-mail addresses are the
	// user data most likely to slip into an incident message.
	noAt = stringvalidator.RegexMatches(regexp.MustCompile(`^[^@]*$`),
		"must not contain '@': the status page is public and carries no user data (no e-mail addresses)")
)

func (r *statusPageResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_status_page"
}

func (r *statusPageResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	oneOf := func(values []string) []validator.String { return []validator.String{stringvalidator.OneOf(values...)} }
	keep := []planmodifier.String{stringplanmodifier.UseStateForUnknown()}
	replace := []planmodifier.String{stringplanmodifier.RequiresReplace()}
	resp.Schema = schema.Schema{
		Description: "The public status page of the disaster recovery plan's communication steps (\"update the status page\", " +
			"\"provide an estimated resolution\"), published by each apply that changes it to a Cloud Storage bucket as three public " +
			"objects (served at `https://storage.googleapis.com/BUCKET/PREFIX…`): `index.html`, one small " +
			"page without JavaScript (landmarks, headings, states in words and symbols as well as colours), `feed.json` (JSON Feed 1.1) " +
			"and `feed.atom` (Atom), one item per incident update, for subscribers. Components are the relay's regions and the " +
			"external dependencies; give a region's `state` from the failover group and `agentnet_relay_health` in configuration " +
			"(a drained or unhealthy region is `degraded`). Incidents are declared with their status and estimated resolution, and " +
			"their updates are written from the plan's four communication templates. History is kept in the published JSON feed: an " +
			"incident removed from configuration stays on the page (the 50 newest), so declare it `resolved` before removing it. " +
			"Everything on the page comes from configuration; `@` is refused in its text so that no e-mail address reaches it. " +
			"The bucket must exist and be public: Google's recommended way is uniform bucket-level access with `allUsers` holding " +
			"`roles/storage.objectViewer` on the bucket (an IAM binding, as modules/status-page's README shows); the resource then " +
			"sets no object ACL, which such a bucket refuses. On a bucket with fine-grained access control it makes each object " +
			"public with the predefined ACL `publicRead` instead. It reads the bucket's access control at each publish " +
			"(`storage.buckets.get`). Destroying the resource deletes the three " +
			"objects, and with them the page's history.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{Computed: true, PlanModifiers: keep, Description: "`gs://BUCKET/PREFIX` of the page."},
			"bucket": schema.StringAttribute{Required: true, PlanModifiers: replace,
				Validators:  []validator.String{stringvalidator.RegexMatches(bucketNamePattern, "must be a bucket name: 3 to 63 lowercase letters, digits, '-', '_' or '.'")},
				Description: "Existing Cloud Storage bucket the page is published to."},
			"prefix": schema.StringAttribute{Optional: true, Computed: true, Default: stringdefault.StaticString(""), PlanModifiers: replace,
				Validators:  []validator.String{stringvalidator.RegexMatches(prefixPattern, "must be empty or a folder ending in '/', such as status/")},
				Description: "Folder of the page's objects in the bucket, ending in `/` (default: the bucket's top)."},
			"title": schema.StringAttribute{Required: true,
				Validators:  []validator.String{stringvalidator.LengthBetween(1, 100), noAt},
				Description: "Title of the page and the feeds."},
			"cache_control": schema.StringAttribute{Optional: true, Computed: true, Default: stringdefault.StaticString(defaultStatusCacheControl),
				Validators: []validator.String{stringvalidator.LengthAtLeast(1)},
				Description: "`Cache-Control` metadata of the objects. Short, so that visitors see a change soon after the apply " +
					"(Cloud Storage's default for public objects is an hour)."},
			"components": schema.ListNestedAttribute{Required: true,
				Validators:  []validator.List{listvalidator.SizeAtLeast(1)},
				Description: "What the page reports on, in order: each region of the relay and each external dependency (identity provider, calendar, language model API). Names must be unique.",
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"name": schema.StringAttribute{Required: true, Validators: []validator.String{stringvalidator.LengthBetween(1, 64), noAt},
						Description: "Name shown, such as `Relay europe-west1` or `Calendar`."},
					"group": schema.StringAttribute{Required: true, Validators: oneOf(statuspage.Groups),
						Description: "`region` or `dependency`: the page lists each group under its own heading."},
					"state": schema.StringAttribute{Required: true, Validators: oneOf(statuspage.States),
						Description: "`operational`, `degraded` or `outage`, usually computed from the failover group's `regions` and " +
							"`unhealthy_regions` and an `agentnet_relay_health` data source."},
					"message": schema.StringAttribute{Optional: true, Validators: []validator.String{stringvalidator.LengthAtMost(280), noAt},
						Description: "A short line under the component, such as what agents should do (\"calendar operations are queued\")."},
				}},
			},
			"incidents": schema.ListNestedAttribute{Optional: true,
				Description: "Incidents, each with its status, estimated resolution and updates. An unresolved incident is shown under \"Open incidents\", a resolved one under \"Past incidents\".",
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"id": schema.StringAttribute{Required: true,
						Validators:  []validator.String{stringvalidator.RegexMatches(incidentIDPattern, "must be 1 to 63 lowercase letters, digits or hyphens, not starting or ending with a hyphen")},
						Description: "Stable identifier (it names the incident in the feeds and in history), such as `2026-03-01-asia-east1`."},
					"title": schema.StringAttribute{Required: true, Validators: []validator.String{stringvalidator.LengthBetween(1, 120), noAt},
						Description: "What users see as the incident's heading."},
					"status": schema.StringAttribute{Required: true, Validators: oneOf(statuspage.Statuses),
						Description: "`investigating`, `identified`, `monitoring` or `resolved`."},
					"components": schema.ListAttribute{Required: true, ElementType: types.StringType,
						Validators:  []validator.List{listvalidator.SizeAtLeast(1)},
						Description: "Names of the affected components (from `components`)."},
					"started_at": schema.StringAttribute{Required: true, Validators: rfc3339,
						Description: "When the incident started (RFC 3339)."},
					"estimated_resolution": schema.StringAttribute{Optional: true, Validators: rfc3339,
						Description: "Estimated resolution (RFC 3339), shown on the page and in the initial and recovery updates."},
					"updates": schema.ListNestedAttribute{Required: true,
						Validators:  []validator.List{listvalidator.SizeAtLeast(1)},
						Description: "Communications about the incident, each written from one of the plan's templates.",
						NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
							"template": schema.StringAttribute{Required: true, Validators: oneOf(statuspage.Templates),
								Description: "`initial_notification`, `recovery_in_progress`, `service_restoration` or `post_incident_summary` " +
									"(the plan's communication templates; the first three write a sentence naming the affected components and " +
									"the estimated resolution, followed by `message`; a summary is `message` alone)."},
							"at": schema.StringAttribute{Required: true, Validators: rfc3339,
								Description: "When the update was made (RFC 3339)."},
							"message": schema.StringAttribute{Optional: true, Validators: []validator.String{stringvalidator.LengthAtMost(1000), noAt},
								Description: "What the update adds to its template; required for `post_incident_summary`."},
						}},
					},
				}},
			},
			"url": schema.StringAttribute{Computed: true, PlanModifiers: keep,
				Description: "Public URL of the page (`https://storage.googleapis.com/BUCKET/PREFIXindex.html`; on localcloud `http://EMULATOR_HOST/BUCKET/PREFIXindex.html`)."},
			"json_feed_url": schema.StringAttribute{Computed: true, PlanModifiers: keep, Description: "Public URL of the JSON feed."},
			"atom_feed_url": schema.StringAttribute{Computed: true, PlanModifiers: keep, Description: "Public URL of the Atom feed."},
			"published_at": schema.StringAttribute{Computed: true, CustomType: timetypes.RFC3339Type{},
				Description: "When the page was last published."},
			"html_bytes": schema.Int64Attribute{Computed: true, Description: "Size of the published `index.html`."},
		},
		Blocks: map[string]schema.Block{
			"notification": notificationBlock("for each incident the apply publishes new or changed (status, estimated "+
				"resolution or updates), in the order of `incidents`", "`incident_updated`"),
		},
	}
}

// ValidateConfig checks what one attribute's validators cannot: unique
// names, incidents naming declared components, summaries with a message.
func (r *statusPageResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var m statusPageModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	components, ok := listOf[componentModel](ctx, m.Components)
	if !ok {
		return
	}
	names := map[string]bool{}
	var declared []string
	for i, c := range components {
		if c.Name.IsUnknown() {
			return // computed names: checked at apply
		}
		if names[c.Name.ValueString()] {
			p := path.Root("components").AtListIndex(i).AtName("name")
			resp.Diagnostics.AddAttributeError(p, "Duplicate component name",
				fmt.Sprintf("%s: component names must be unique; %q is declared twice.", p, c.Name.ValueString()))
		}
		names[c.Name.ValueString()] = true
		declared = append(declared, c.Name.ValueString())
	}
	incidents, ok := listOf[incidentModel](ctx, m.Incidents)
	if !ok {
		return
	}
	ids := map[string]bool{}
	for i, inc := range incidents {
		at := path.Root("incidents").AtListIndex(i)
		if ids[inc.ID.ValueString()] {
			resp.Diagnostics.AddAttributeError(at.AtName("id"), "Duplicate incident id",
				fmt.Sprintf("%s: incident ids must be unique; %q is declared twice.", at.AtName("id"), inc.ID.ValueString()))
		}
		ids[inc.ID.ValueString()] = true
		for j, c := range inc.Components {
			if !c.IsUnknown() && !names[c.ValueString()] {
				p := at.AtName("components").AtListIndex(j)
				resp.Diagnostics.AddAttributeError(p, "Unknown component",
					fmt.Sprintf("%s: %q is not a declared component; accepted values: %s.", p, c.ValueString(), strings.Join(declared, ", ")))
			}
		}
		for j, u := range inc.Updates {
			if u.Template.ValueString() == statuspage.PostIncidentSummary && !u.Message.IsUnknown() && strings.TrimSpace(u.Message.ValueString()) == "" {
				p := at.AtName("updates").AtListIndex(j).AtName("message")
				resp.Diagnostics.AddAttributeError(p, "Missing message",
					p.String()+": a post_incident_summary update is its message alone: set message to the summary.")
			}
		}
	}
}

// listOf converts a known list; ok is false when it is null, unknown or
// holds unknown parts (checked again at apply).
func listOf[T any](ctx context.Context, l types.List) ([]T, bool) {
	if l.IsNull() || l.IsUnknown() {
		return nil, !l.IsUnknown()
	}
	var out []T
	if diags := l.ElementsAs(ctx, &out, false); diags.HasError() {
		return nil, false
	}
	return out, true
}

// ModifyPlan sets the page's URLs, known from the bucket and prefix.
func (r *statusPageResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() || r.clients == nil {
		return
	}
	var m statusPageModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() || m.Bucket.IsUnknown() || m.Prefix.IsUnknown() {
		return
	}
	r.setURLs(&m)
	resp.Diagnostics.Append(resp.Plan.Set(ctx, &m)...)
}

// publicBase is the public URL of the page's folder: where Cloud Storage
// serves public objects, or localcloud.
func (r *statusPageResource) publicBase(bucket, prefix string) string {
	if h := r.clients.EmulatorHost; h != "" {
		return "http://" + h + "/" + bucket + "/" + prefix
	}
	return googleStoragePublicURL + bucket + "/" + prefix
}

func (r *statusPageResource) setURLs(m *statusPageModel) {
	base := r.publicBase(m.Bucket.ValueString(), m.Prefix.ValueString())
	m.ID = types.StringValue(gcsURI{m.Bucket.ValueString(), m.Prefix.ValueString()}.String())
	m.URL = types.StringValue(base + statuspage.HTMLObject)
	m.JSONFeedURL = types.StringValue(base + statuspage.JSONFeedObject)
	m.AtomFeedURL = types.StringValue(base + statuspage.AtomFeedObject)
}

func (r *statusPageResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	r.publish(ctx, req.Plan.Get, req.Config, resp.State.Set, &resp.Diagnostics)
}

func (r *statusPageResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	r.publish(ctx, req.Plan.Get, req.Config, resp.State.Set, &resp.Diagnostics)
}

// publish renders the page from the plan and the history in the bucket,
// writes the feeds, then the page, and tells the webhooks of the config
// about the incidents that changed.
func (r *statusPageResource) publish(ctx context.Context, get func(context.Context, any) diag.Diagnostics, config tfsdk.Config,
	set func(context.Context, any) diag.Diagnostics, diags *diag.Diagnostics) {
	var m statusPageModel
	diags.Append(get(ctx, &m)...)
	if diags.HasError() {
		return
	}
	r.setURLs(&m)
	page, d := r.pageOf(ctx, &m)
	diags.Append(d...)
	if diags.HasError() {
		return
	}
	bucket := r.clients.Storage.Bucket(m.Bucket.ValueString())
	prefix := m.Prefix.ValueString()
	attrs, err := bucket.Attrs(ctx)
	if err != nil {
		diags.AddAttributeError(path.Root("bucket"), "Cannot read the bucket", fmt.Sprintf("Reading gs://%s (storage.buckets.get), "+
			"to know whether its objects take ACLs (fine-grained access) or are public through its IAM policy (uniform access): %v", m.Bucket.ValueString(), err))
		return
	}
	// With uniform bucket-level access, object ACLs are refused: the
	// bucket's IAM policy makes the page public.
	objectACL := !attrs.UniformBucketLevelAccess.Enabled
	previous, err := readObject(ctx, bucket.Object(prefix+statuspage.JSONFeedObject))
	if err != nil {
		diags.AddError("Cannot read the page's history", fmt.Sprintf("Reading %s: %v", gcsURI{m.Bucket.ValueString(), prefix + statuspage.JSONFeedObject}, err))
		return
	}
	declared := page.Incidents
	if page.Incidents, err = statuspage.Merge(declared, previous); err != nil {
		diags.AddError("Cannot keep the page's history",
			fmt.Sprintf("%s: %v. Delete the object to start a new history.", gcsURI{m.Bucket.ValueString(), prefix + statuspage.JSONFeedObject}, err))
		return
	}
	type object struct {
		name, contentType string
		render            func(statuspage.Page) ([]byte, error)
	}
	var htmlBytes int
	for _, o := range []object{
		{statuspage.JSONFeedObject, statuspage.JSONFeedContentType, statuspage.JSONFeed},
		{statuspage.AtomFeedObject, statuspage.AtomFeedContentType, statuspage.AtomFeed},
		{statuspage.HTMLObject, statuspage.HTMLContentType, statuspage.HTML},
	} {
		uri := gcsURI{m.Bucket.ValueString(), prefix + o.name}
		body, err := o.render(page)
		if err == nil {
			err = writePublic(ctx, bucket.Object(uri.Object), body, o.contentType, m.CacheControl.ValueString(), objectACL)
		}
		if err != nil {
			diags.AddError("Cannot publish the status page", fmt.Sprintf("Writing %s: %v", uri, err))
			return
		}
		htmlBytes = len(body)
	}
	m.PublishedAt = timetypes.NewRFC3339TimeValue(page.Published)
	m.HTMLBytes = types.Int64Value(int64(htmlBytes))
	diags.Append(set(ctx, &m)...)
	published, _ := statuspage.Published(previous) // parsed by Merge above
	if targets := readWebhooks(ctx, config, diags); len(targets) > 0 {
		for _, inc := range statuspage.Changed(declared, published) {
			sendWebhooks(ctx, targets, incidentEvent(inc, m.URL.ValueString()), "The page is published.", diags)
		}
	}
}

// incidentEvent is the notification of an incident's newest state.
func incidentEvent(inc statuspage.Incident, page string) notify.Event {
	last := inc.Latest()
	details := map[string]string{
		"status": inc.Status, "components": strings.Join(inc.Components, ", "),
		"update": statuspage.TemplateTitle(last.Template), "page": page + "#incident-" + inc.ID,
	}
	if inc.EstimatedResolution != nil {
		details["estimated_resolution"] = inc.EstimatedResolution.Format(time.RFC3339)
	}
	return notify.Event{Kind: notify.IncidentUpdated, Subject: inc.ID, At: last.At, Details: details,
		Summary: fmt.Sprintf("%s (%s): %s", inc.Title, inc.Status, last.Text)}
}

// pageOf turns the configuration into a page, its updates written from
// their templates.
func (r *statusPageResource) pageOf(ctx context.Context, m *statusPageModel) (statuspage.Page, diag.Diagnostics) {
	var diags diag.Diagnostics
	p := statuspage.Page{Title: m.Title.ValueString(), Published: time.Now().UTC().Truncate(time.Second),
		BaseURL: r.publicBase(m.Bucket.ValueString(), m.Prefix.ValueString())}
	var components []componentModel
	diags.Append(m.Components.ElementsAs(ctx, &components, false)...)
	var incidents []incidentModel
	if !m.Incidents.IsNull() {
		diags.Append(m.Incidents.ElementsAs(ctx, &incidents, false)...)
	}
	for _, c := range components {
		p.Components = append(p.Components, statuspage.Component{Name: c.Name.ValueString(), Group: c.Group.ValueString(),
			State: c.State.ValueString(), Message: c.Message.ValueString()})
	}
	for i, in := range incidents {
		at := path.Root("incidents").AtListIndex(i)
		inc := statuspage.Incident{ID: in.ID.ValueString(), Title: in.Title.ValueString(), Status: in.Status.ValueString()}
		for _, c := range in.Components {
			inc.Components = append(inc.Components, c.ValueString())
		}
		inc.StartedAt = parseTime(in.StartedAt, at.AtName("started_at"), &diags)
		if !in.EstimatedResolution.IsNull() {
			eta := parseTime(in.EstimatedResolution, at.AtName("estimated_resolution"), &diags)
			inc.EstimatedResolution = &eta
		}
		for j, u := range in.Updates {
			when := parseTime(u.At, at.AtName("updates").AtListIndex(j).AtName("at"), &diags)
			text, err := statuspage.Compose(u.Template.ValueString(), inc, u.Message.ValueString())
			if err != nil {
				p := at.AtName("updates").AtListIndex(j)
				diags.AddAttributeError(p, "Invalid update", p.String()+": "+err.Error())
			}
			inc.Updates = append(inc.Updates, statuspage.Update{Template: u.Template.ValueString(), At: when, Message: u.Message.ValueString(), Text: text})
		}
		p.Incidents = append(p.Incidents, inc)
	}
	return p, diags
}

// parseTime reads an RFC 3339 time the schema has checked, in UTC.
func parseTime(v types.String, p path.Path, diags *diag.Diagnostics) time.Time {
	t, err := time.Parse(time.RFC3339, v.ValueString())
	if err != nil {
		diags.AddAttributeError(p, "Invalid time", p.String()+": "+err.Error())
	}
	return t.UTC()
}

// readObject returns an object's bytes, or nil when it does not exist.
func readObject(ctx context.Context, o *storage.ObjectHandle) ([]byte, error) {
	rd, err := o.NewReader(ctx)
	if errors.Is(err, storage.ErrObjectNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	return io.ReadAll(rd)
}

// writePublic writes an object of the page, with the metadata Cloud
// Storage serves it with; objectACL makes it public by its ACL (allUsers
// READER), for a bucket with fine-grained access.
func writePublic(ctx context.Context, o *storage.ObjectHandle, body []byte, contentType, cacheControl string, objectACL bool) error {
	w := o.NewWriter(ctx)
	w.ContentType, w.CacheControl = contentType, cacheControl
	if objectACL {
		w.PredefinedACL = "publicRead"
	}
	if _, err := w.Write(body); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

func (r *statusPageResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var m statusPageModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	attrs, err := r.clients.Storage.Bucket(m.Bucket.ValueString()).Object(m.Prefix.ValueString() + statuspage.HTMLObject).Attrs(ctx)
	if errors.Is(err, storage.ErrObjectNotExist) || errors.Is(err, storage.ErrBucketNotExist) {
		resp.State.RemoveResource(ctx) // published again by the next apply
		return
	}
	if err != nil {
		resp.Diagnostics.AddError("Cannot read the status page", fmt.Sprintf("Reading %s: %v", m.ID.ValueString()+statuspage.HTMLObject, err))
		return
	}
	m.HTMLBytes = types.Int64Value(attrs.Size)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

// Delete removes the page and its feeds, and with them its history.
func (r *statusPageResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var m statusPageModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	bucket := r.clients.Storage.Bucket(m.Bucket.ValueString())
	for _, name := range []string{statuspage.HTMLObject, statuspage.AtomFeedObject, statuspage.JSONFeedObject} {
		err := bucket.Object(m.Prefix.ValueString() + name).Delete(ctx)
		if err != nil && !errors.Is(err, storage.ErrObjectNotExist) && !errors.Is(err, storage.ErrBucketNotExist) {
			resp.Diagnostics.AddError("Cannot delete the status page", fmt.Sprintf("Deleting %s: %v", m.ID.ValueString()+name, err))
			return
		}
	}
}
