package statuspage

import (
	"bytes"
	_ "embed"
	"html/template"
	"slices"
	"strings"
	"time"
)

// The page is one file with its style inline and no script: it reads the
// same without JavaScript, and in one round trip. States are words and
// symbols as well as colours (WCAG 1.4.1), colours are dark enough on white
// for 4.5:1 contrast (1.4.3), sections and incidents are labelled by their
// headings.
//
//go:embed page.html.tmpl
var pageTemplate string

var pageHTML = template.Must(template.New("page").Funcs(template.FuncMap{
	"stateLabel":    stateLabel,
	"stateSymbol":   stateSymbol,
	"overallText":   overallText,
	"statusLabel":   upperFirst,
	"templateTitle": TemplateTitle,
	"join":          joinNames,
	"when":          func(t any) string { return FormatTime(timeOf(t)) },
	"rfc3339":       func(t any) string { return timeOf(t).UTC().Format(time.RFC3339) },
	"newestFirst": func(us []Update) []Update {
		out := slices.Clone(us)
		slices.SortStableFunc(out, func(a, b Update) int { return b.At.Compare(a.At) })
		return out
	},
}).Parse(pageTemplate))

func timeOf(t any) time.Time {
	switch v := t.(type) {
	case time.Time:
		return v
	case *time.Time:
		return *v
	}
	return time.Time{}
}

func stateLabel(state string) string { return upperFirst(state) }

// stateSymbol doubles the state's colour with a shape.
func stateSymbol(state string) string {
	switch state {
	case Degraded:
		return "▲"
	case Outage:
		return "✕"
	}
	return "✓"
}

func overallText(state string) string {
	switch state {
	case Degraded:
		return "Some components are degraded"
	case Outage:
		return "Some components are down"
	}
	return "All components are operational"
}

type groupView struct {
	Key, Title string
	Components []Component
}

type pageView struct {
	Page
	Open, Past         []Incident
	Groups             []groupView
	JSONFeed, AtomFeed string
}

// HTML renders the page.
func HTML(p Page) ([]byte, error) {
	v := pageView{Page: p, Open: p.open(), Past: p.past(), JSONFeed: JSONFeedObject, AtomFeed: AtomFeedObject}
	for _, g := range []groupView{{Key: GroupRegion, Title: "Regions"}, {Key: GroupDependency, Title: "External dependencies"}} {
		for _, c := range p.Components {
			if c.Group == g.Key {
				g.Components = append(g.Components, c)
			}
		}
		if len(g.Components) > 0 {
			v.Groups = append(v.Groups, g)
		}
	}
	var b bytes.Buffer
	if err := pageHTML.Execute(&b, v); err != nil {
		return nil, err
	}
	return collapseBlankLines(b.Bytes()), nil
}

// collapseBlankLines drops the empty lines the template's actions leave.
func collapseBlankLines(b []byte) []byte {
	lines := strings.Split(string(b), "\n")
	out := lines[:0]
	for _, l := range lines {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return []byte(strings.Join(out, "\n") + "\n")
}
