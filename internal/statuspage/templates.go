package statuspage

import (
	"fmt"
	"strings"
	"time"
)

// The disaster recovery plan's four communication templates.
const (
	InitialNotification = "initial_notification"
	RecoveryInProgress  = "recovery_in_progress"
	ServiceRestoration  = "service_restoration"
	PostIncidentSummary = "post_incident_summary"
)

// Templates are the accepted template names, in the order an incident
// goes through them.
var Templates = []string{InitialNotification, RecoveryInProgress, ServiceRestoration, PostIncidentSummary}

// TemplateTitle is how the page heads an update written from template.
func TemplateTitle(template string) string {
	switch template {
	case InitialNotification:
		return "Initial incident notification"
	case RecoveryInProgress:
		return "Recovery in progress"
	case ServiceRestoration:
		return "Service restored"
	case PostIncidentSummary:
		return "Post-incident summary"
	}
	return template
}

// Compose writes an update from a template: the template's sentence about
// the incident's components and estimated resolution, then message (what
// the configuration adds). A post-incident summary is message alone, so it
// must have one.
func Compose(template string, inc Incident, message string) (string, error) {
	affected := "the service"
	if len(inc.Components) > 0 {
		affected = joinNames(inc.Components)
	}
	eta := ""
	if inc.EstimatedResolution != nil {
		eta = " Estimated resolution: " + FormatTime(*inc.EstimatedResolution) + "."
	}
	var s string
	switch template {
	case InitialNotification:
		s = fmt.Sprintf("We are investigating an issue affecting %s. Agents may see failed or delayed connections there.%s", affected, eta)
	case RecoveryInProgress:
		s = fmt.Sprintf("Recovery is in progress for %s. Connections are being moved to healthy regions; agents reconnect by themselves.%s", affected, eta)
	case ServiceRestoration:
		s = fmt.Sprintf("%s %s operating normally again. We continue to monitor.", upperFirst(affected), isAre(inc.Components))
	case PostIncidentSummary:
		if strings.TrimSpace(message) == "" {
			return "", fmt.Errorf("a %s update needs a message: the summary itself", PostIncidentSummary)
		}
		return strings.TrimSpace(message), nil
	default:
		return "", fmt.Errorf("unknown template %q: accepted values are %s", template, strings.Join(Templates, ", "))
	}
	if m := strings.TrimSpace(message); m != "" {
		s += " " + m
	}
	return s, nil
}

// FormatTime is how the page and the feeds show a time: UTC, to the minute.
func FormatTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

func joinNames(names []string) string {
	switch len(names) {
	case 1:
		return names[0]
	case 2:
		return names[0] + " and " + names[1]
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

func isAre(names []string) string {
	if len(names) > 1 {
		return "are"
	}
	return "is"
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
