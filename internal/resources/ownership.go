package resources

import (
	"fmt"
	"maps"
	"strings"
)

// What agentnet creates carries a marker, so that it never takes over or
// deletes an object someone else made under the same name: a label where the
// API has labels (Memorystore, Cloud Run), a description prefix where it has
// not (Compute Engine load balancing objects).
const (
	ownerLabelKey     = "managed-by"
	ownerLabelValue   = "agentnet"
	ownerDescription  = "managed-by: agentnet"
	ownerDescribedSep = "; "
)

// withOwnerLabel returns labels plus the marker, for a create or update.
func withOwnerLabel(labels map[string]string) map[string]string {
	out := maps.Clone(labels)
	if out == nil {
		out = map[string]string{}
	}
	out[ownerLabelKey] = ownerLabelValue
	return out
}

// withoutOwnerLabel returns labels without the marker, for the `labels`
// attribute (the marker is the provider's, not the configuration's).
func withoutOwnerLabel(labels map[string]string) map[string]string {
	out := maps.Clone(labels)
	delete(out, ownerLabelKey)
	return out
}

// providerLabelPrefix starts the labels the provider keeps on an object for
// itself, such as a restore's intent (restore_intent.go).
const providerLabelPrefix = "agentnet-"

// withoutProviderLabels returns labels without the marker and without the
// provider's own agentnet-* labels, for the `labels` attribute.
func withoutProviderLabels(labels map[string]string) map[string]string {
	out := withoutOwnerLabel(labels)
	maps.DeleteFunc(out, func(k, _ string) bool { return strings.HasPrefix(k, providerLabelPrefix) })
	return out
}

// ownedByLabel tells whether labels carry the marker.
func ownedByLabel(labels map[string]string) bool { return labels[ownerLabelKey] == ownerLabelValue }

// ownerDescribed prefixes a description with the marker.
func ownerDescribed(description string) string {
	if description == "" {
		return ownerDescription
	}
	return ownerDescription + ownerDescribedSep + description
}

// ownedByDescription tells whether a description carries the marker.
func ownedByDescription(description string) bool {
	return description == ownerDescription || strings.HasPrefix(description, ownerDescription+ownerDescribedSep)
}

// notOursError is the error for an existing object that agentnet did not
// create: adopting it must be a deliberate `tofu import`.
func notOursError(kind, name, resourceType, importID string) string {
	return fmt.Sprintf("%s %q already exists and was not created by agentnet (it has no %q marker), so it was left unchanged. "+
		"To manage it with this configuration, import it deliberately:\n\n  tofu import %s.<name> %s\n\n"+
		"or choose another name.", kind, name, ownerLabelKey+"="+ownerLabelValue, resourceType, importID)
}

// alreadyExistsError is the error for a create whose name is taken: by an
// object agentnet did not create (ours false, notOursError), or by one it
// did, for another configuration or a state that lost it.
func alreadyExistsError(kind, name, resourceType, importID string, ours bool) string {
	if !ours {
		return notOursError(kind, name, resourceType, importID)
	}
	return fmt.Sprintf("%s %q already exists and carries agentnet's marker: another configuration or "+
		"a lost state manages it, so it was left unchanged. To manage it here, import it:\n\n"+
		"  tofu import %s.<name> %s\n\nor choose another name.", kind, name, resourceType, importID)
}

// notOursDeleteError is the error for a destroy that would delete an object
// agentnet did not create.
func notOursDeleteError(kind, name string) string {
	return fmt.Sprintf("%s %q was not created by agentnet (it has no %q marker) and is not deleted. "+
		"Delete it yourself if that is intended, or remove it from state with `tofu state rm`.", kind, name, ownerLabelKey+"="+ownerLabelValue)
}
