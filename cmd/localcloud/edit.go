package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/compute/apiv1/computepb"
	"cloud.google.com/go/redis/apiv1/redispb"
	"cloud.google.com/go/run/apiv2/runpb"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/agentnet/terraform-provider-agentnet/internal/gcpclient"
)

// editUsage lists the out-of-band changes "localcloud edit" makes.
const editUsage = `  localcloud edit instance-size INSTANCE GB         Memorystore UpdateInstance (memory_size_gb)
  localcloud edit instance-label INSTANCE KEY=VALUE Memorystore UpdateInstance (labels)
  localcloud edit weight URLMAP REGION WEIGHT       Compute urlMaps.patch: the weight of REGION's backend service
  localcloud edit delete-object gs://BUCKET/OBJECT  Cloud Storage objects.delete
  localcloud edit delete-instance INSTANCE          Memorystore DeleteInstance
  localcloud edit delete-service SERVICE            Cloud Run DeleteService
      INSTANCE, SERVICE and URLMAP are full names or, when unique, their last part.`

// editCommands are the edit subcommands: how many arguments each takes and
// what it does.
var editCommands = map[string]struct {
	args int
	run  func(e *editor, ctx context.Context, args []string) (string, error)
}{
	"instance-size":   {2, (*editor).instanceSize},
	"instance-label":  {2, (*editor).instanceLabel},
	"weight":          {3, (*editor).weight},
	"delete-object":   {1, (*editor).deleteObject},
	"delete-instance": {1, (*editor).deleteInstance},
	"delete-service":  {1, (*editor).deleteService},
}

// edit makes an out-of-band change for drills and tests through localcloud's
// Google Cloud APIs, with the official clients: exactly the call another
// user of the project would make (gcloud, the console), so that the next
// plan sees it as drift.
func edit(args []string, stdout io.Writer) error {
	fs := newFlagSet("edit")
	af := addAdminFlags(fs)
	host := af.host
	// Flags may come before, between or after the change and its arguments.
	var pos []string
	for {
		if err := parse(fs, args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		pos, args = append(pos, fs.Arg(0)), fs.Args()[1:]
	}
	var sub string
	if len(pos) > 0 {
		sub, pos = pos[0], pos[1:]
	}
	names := slices.Sorted(maps.Keys(editCommands))
	cmd, ok := editCommands[sub]
	switch {
	case sub == "":
		return usagef("edit: a change is required: %s", strings.Join(names, ", "))
	case !ok:
		return usagef("edit: unknown change %q; accepted: %s", sub, strings.Join(names, ", "))
	case len(pos) != cmd.args:
		return usagef("edit %s: %d argument(s) expected, got %d", sub, cmd.args, len(pos))
	}
	api, err := af.client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	clients, err := gcpclient.New(ctx, gcpclient.Config{EmulatorHost: strings.TrimPrefix(*host, "http://")})
	if err != nil {
		return fmt.Errorf("cannot reach localcloud at %s (--host, $AGENTNET_EMULATOR_HOST): %w", *host, err)
	}
	defer clients.Close()
	out, err := cmd.run(&editor{admin: api, c: clients}, ctx, pos)
	if err != nil {
		return fmt.Errorf("edit %s: %w", sub, err)
	}
	fmt.Fprintln(stdout, out)
	return nil
}

type editor struct {
	admin *adminClient
	c     *gcpclient.Clients
}

func (e *editor) instance(name string) (string, error) {
	var list []struct{ Name string }
	if err := e.admin.get("instances", &list); err != nil {
		return "", err
	}
	return resolveName("Memorystore instance", name, namesOf(list))
}

func (e *editor) service(name string) (string, error) {
	var list []struct{ Name string }
	if err := e.admin.get("services", &list); err != nil {
		return "", err
	}
	return resolveName("Cloud Run service", name, namesOf(list))
}

func (e *editor) cluster(name string) (string, error) {
	var list []struct{ Name string }
	if err := e.admin.get("clusters", &list); err != nil {
		return "", err
	}
	return resolveName("Memorystore for Redis Cluster", name, namesOf(list))
}

func namesOf(list []struct{ Name string }) []string {
	out := make([]string, len(list))
	for i, x := range list {
		out[i] = x.Name
	}
	return out
}

func (e *editor) instanceSize(ctx context.Context, args []string) (string, error) {
	name, err := e.instance(args[0])
	if err != nil {
		return "", err
	}
	gb, err := strconv.Atoi(args[1])
	if err != nil || gb < 1 {
		return "", usagef("GB must be a whole number of gigabytes, at least 1: %q", args[1])
	}
	return e.updateInstance(ctx, &redispb.Instance{Name: name, MemorySizeGb: int32(gb)}, "memory_size_gb",
		fmt.Sprintf("memory_size_gb = %d", gb))
}

func (e *editor) instanceLabel(ctx context.Context, args []string) (string, error) {
	name, err := e.instance(args[0])
	if err != nil {
		return "", err
	}
	k, v, ok := strings.Cut(args[1], "=")
	if !ok || k == "" {
		return "", usagef("%q must be KEY=VALUE", args[1])
	}
	inst, err := e.c.Redis.GetInstance(ctx, &redispb.GetInstanceRequest{Name: name})
	if err != nil {
		return "", err
	}
	labels := inst.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels[k] = v
	return e.updateInstance(ctx, &redispb.Instance{Name: name, Labels: labels}, "labels", fmt.Sprintf("labels[%q] = %q", k, v))
}

// updateInstance writes one field of an instance, as gcloud redis
// instances update does (update mask), and waits for the operation.
func (e *editor) updateInstance(ctx context.Context, inst *redispb.Instance, field, what string) (string, error) {
	op, err := e.c.Redis.UpdateInstance(ctx, &redispb.UpdateInstanceRequest{Instance: inst, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{field}}})
	if err == nil {
		_, err = op.Wait(ctx)
	}
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s: %s", inst.GetName(), what), nil
}

func (e *editor) deleteInstance(ctx context.Context, args []string) (string, error) {
	name, err := e.instance(args[0])
	if err != nil {
		return "", err
	}
	op, err := e.c.Redis.DeleteInstance(ctx, &redispb.DeleteInstanceRequest{Name: name})
	if err == nil {
		err = op.Wait(ctx)
	}
	if err != nil {
		return "", err
	}
	return name + ": deleted", nil
}

func (e *editor) deleteService(ctx context.Context, args []string) (string, error) {
	name, err := e.service(args[0])
	if err != nil {
		return "", err
	}
	op, err := e.c.Run.DeleteService(ctx, &runpb.DeleteServiceRequest{Name: name})
	if err == nil {
		_, err = gcpclient.Wait(ctx, op)
	}
	if err != nil {
		return "", err
	}
	return name + ": deleted", nil
}

func (e *editor) deleteObject(ctx context.Context, args []string) (string, error) {
	bucket, object, ok := strings.Cut(strings.TrimPrefix(args[0], "gs://"), "/")
	if !strings.HasPrefix(args[0], "gs://") || !ok || bucket == "" || object == "" {
		return "", usagef("%q must be gs://BUCKET/OBJECT", args[0])
	}
	if err := e.c.Storage.Bucket(bucket).Object(object).Delete(ctx); err != nil {
		return "", err
	}
	return args[0] + ": deleted", nil
}

// weight sets the weight of REGION's backend service wherever the URL map
// splits traffic by weight, with the URL map's fingerprint, as
// `gcloud compute url-maps import` of an edited export does.
func (e *editor) weight(ctx context.Context, args []string) (string, error) {
	var status struct {
		URLMaps []struct {
			Name    string
			Weights []struct{ BackendService, Region string }
		}
	}
	if err := e.admin.get("compute", &status); err != nil {
		return "", err
	}
	var urlMaps []string
	for _, um := range status.URLMaps {
		urlMaps = append(urlMaps, um.Name)
	}
	full, err := resolveName("URL map", args[0], urlMaps)
	if err != nil {
		return "", err
	}
	region := args[1]
	w, err := strconv.Atoi(args[2])
	if err != nil || w < 0 || w > 1000 {
		return "", usagef("WEIGHT must be a whole number from 0 to 1000: %q", args[2])
	}
	var backend string
	var regions []string
	for _, um := range status.URLMaps {
		for _, ws := range um.Weights {
			if um.Name == full && ws.Region == region {
				backend = ws.BackendService
			}
			if um.Name == full {
				regions = append(regions, ws.Region)
			}
		}
	}
	if backend == "" {
		return "", fmt.Errorf("URL map %s has no weighted backend service in %s; its regions: %s", full, region, strings.Join(regions, ", "))
	}
	project, name := urlMapParts(full)
	um, err := e.c.Compute.URLMaps.Get(ctx, &computepb.GetUrlMapRequest{Project: project, UrlMap: name})
	if err != nil {
		return "", err
	}
	routes := []*computepb.HttpRouteAction{um.GetDefaultRouteAction()}
	for _, pm := range um.GetPathMatchers() {
		routes = append(routes, pm.GetDefaultRouteAction())
	}
	changed := 0
	for _, ra := range routes {
		for _, wb := range ra.GetWeightedBackendServices() {
			if linkPath(wb.GetBackendService()) == linkPath(backend) {
				wb.Weight = proto.Uint32(uint32(w))
				changed++
			}
		}
	}
	if changed == 0 {
		return "", fmt.Errorf("URL map %s does not route to %s by weight", full, backend)
	}
	op, err := e.c.Compute.URLMaps.Patch(ctx, &computepb.PatchUrlMapRequest{Project: project, UrlMap: name, UrlMapResource: um})
	if err == nil {
		err = op.Wait(ctx)
	}
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s: weight of %s (%s) = %d", full, linkPath(backend), region, w), nil
}

// urlMapParts splits projects/P/global/urlMaps/N.
func urlMapParts(full string) (project, name string) {
	parts := strings.Split(full, "/")
	return parts[1], parts[len(parts)-1]
}

// linkPath is a Compute resource link without its scheme and host:
// projects/P/global/backendServices/N.
func linkPath(link string) string {
	if i := strings.Index(link, "projects/"); i >= 0 {
		return link[i:]
	}
	return link
}

// resolveName is the full name of a resource given by its full name or by
// its last part (an instance's, service's or URL map's id), which must
// then match exactly one of names.
func resolveName(kind, name string, names []string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	var matches []string
	for _, n := range names {
		if n[strings.LastIndex(n, "/")+1:] == name {
			matches = append(matches, n)
		}
	}
	switch len(matches) {
	case 1:
		return matches[0], nil
	case 0:
		if len(names) == 0 {
			return "", fmt.Errorf("no %s is named %q: there is none", kind, name)
		}
		return "", fmt.Errorf("no %s is named %q; there are: %s", kind, name, strings.Join(names, ", "))
	default:
		slices.Sort(matches)
		return "", fmt.Errorf("%s %q is ambiguous, give the full name: %s", kind, name, strings.Join(matches, ", "))
	}
}
