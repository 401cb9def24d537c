package statuspage

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"slices"
	"time"
)

// Subscribers get one feed item per incident update, newest first, in JSON
// Feed 1.1 (https://www.jsonfeed.org/version/1.1/) and Atom (RFC 4287).

type feedItem struct {
	ID        string    `json:"id"`
	URL       string    `json:"url"`
	Title     string    `json:"title"`
	Content   string    `json:"content_text"`
	Published time.Time `json:"date_published"`
	Tags      []string  `json:"tags,omitempty"`
}

// record is the page's own record in its JSON feed, under the extension
// key "_agentnet_status" (JSON Feed reserves keys starting with "_" for
// extensions): what the next publication reads back to keep history.
type record struct {
	Version    int         `json:"version"`
	Components []Component `json:"components"`
	Incidents  []Incident  `json:"incidents"`
}

type jsonFeed struct {
	Version     string     `json:"version"`
	Title       string     `json:"title"`
	HomePageURL string     `json:"home_page_url"`
	FeedURL     string     `json:"feed_url"`
	Language    string     `json:"language"`
	Items       []feedItem `json:"items"`
	Status      *record    `json:"_agentnet_status,omitempty"`
}

const recordVersion = 1

// items are the feed items of every incident update, newest first.
func (p Page) items() []feedItem {
	var out []feedItem
	for _, inc := range p.Incidents {
		for _, u := range inc.Updates {
			out = append(out, feedItem{
				ID:        p.BaseURL + HTMLObject + "#incident-" + inc.ID + "/" + u.Template + "/" + u.At.UTC().Format(time.RFC3339),
				URL:       p.BaseURL + HTMLObject + "#incident-" + inc.ID,
				Title:     fmt.Sprintf("%s: %s (%s)", inc.Title, TemplateTitle(u.Template), upperFirst(inc.Status)),
				Content:   u.Text,
				Published: u.At.UTC(),
				Tags:      inc.Components,
			})
		}
	}
	slices.SortStableFunc(out, func(a, b feedItem) int { return b.Published.Compare(a.Published) })
	return out
}

// JSONFeed renders the JSON feed, with the page's record.
func JSONFeed(p Page) ([]byte, error) {
	f := jsonFeed{
		Version: "https://jsonfeed.org/version/1.1", Title: p.Title, Language: "en",
		HomePageURL: p.BaseURL + HTMLObject, FeedURL: p.BaseURL + JSONFeedObject, Items: p.items(),
		Status: &record{Version: recordVersion, Components: p.Components, Incidents: p.Incidents},
	}
	if f.Items == nil {
		f.Items = []feedItem{}
	}
	return json.MarshalIndent(f, "", "  ")
}

type atomLink struct {
	Href string `xml:"href,attr"`
	Rel  string `xml:"rel,attr,omitempty"`
	Type string `xml:"type,attr,omitempty"`
}

type atomText struct {
	Type string `xml:"type,attr"`
	Body string `xml:",chardata"`
}

type atomEntry struct {
	ID       string     `xml:"id"`
	Title    string     `xml:"title"`
	Updated  string     `xml:"updated"`
	Link     atomLink   `xml:"link"`
	Content  atomText   `xml:"content"`
	Category []atomTerm `xml:"category"`
}

type atomTerm struct {
	Term string `xml:"term,attr"`
}

type atomFeed struct {
	XMLName xml.Name    `xml:"http://www.w3.org/2005/Atom feed"`
	Lang    string      `xml:"xml:lang,attr"`
	ID      string      `xml:"id"`
	Title   string      `xml:"title"`
	Updated string      `xml:"updated"`
	Author  string      `xml:"author>name"`
	Links   []atomLink  `xml:"link"`
	Entries []atomEntry `xml:"entry"`
}

// AtomFeed renders the Atom feed.
func AtomFeed(p Page) ([]byte, error) {
	f := atomFeed{
		Lang: "en", ID: p.BaseURL + AtomFeedObject, Title: p.Title, Author: p.Title,
		Updated: p.Published.UTC().Format(time.RFC3339),
		Links: []atomLink{
			{Href: p.BaseURL + AtomFeedObject, Rel: "self", Type: AtomFeedContentType},
			{Href: p.BaseURL + HTMLObject, Rel: "alternate", Type: "text/html"},
		},
	}
	for _, it := range p.items() {
		e := atomEntry{
			ID: it.ID, Title: it.Title, Updated: it.Published.Format(time.RFC3339),
			Link: atomLink{Href: it.URL, Rel: "alternate", Type: "text/html"}, Content: atomText{Type: "text", Body: it.Content},
		}
		for _, t := range it.Tags {
			e.Category = append(e.Category, atomTerm{Term: t})
		}
		f.Entries = append(f.Entries, e)
	}
	out, err := xml.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), out...), nil
}
