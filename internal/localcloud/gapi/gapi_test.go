package gapi

import (
	"regexp"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestPage(t *testing.T) {
	all := []int{0, 1, 2, 3, 4}
	page, next, err := Page(all, "", 2, "ListThings")
	if err != nil || len(page) != 2 || next != "2" {
		t.Fatalf("first page = %v, %q, %v", page, next, err)
	}
	page, next, err = Page(all, "4", 2, "ListThings")
	if err != nil || len(page) != 1 || page[0] != 4 || next != "" {
		t.Fatalf("last page = %v, %q, %v", page, next, err)
	}
	if _, _, err := Page(all, "6", 0, "ListThings"); status.Convert(err).Message() != `page_token: "6" is not a token returned by ListThings` {
		t.Fatalf("bad token: %v", err)
	}
}

func TestCollectionParse(t *testing.T) {
	c := Collection{Name: "things", Kind: "thing", ID: regexp.MustCompile(`^[a-z]+$`), Rule: "letters only"}
	if p, r, id, err := c.Parse("projects/p/locations/us-east1/things/a"); err != nil || p != "p" || r != "us-east1" || id != "a" {
		t.Fatalf("Parse = %q %q %q %v", p, r, id, err)
	}
	for name, want := range map[string]string{
		"projects/p/things/a":                     `name: "projects/p/things/a" must have the form projects/{project}/locations/{region}/things/{thing_id}`,
		"projects/p/locations/global/things/a":    `name: "projects/p/locations/global/things/a": parent: "global" is not a valid region (for example us-central1)`,
		"projects/p/locations/us-east1/things/A1": `name: thing id "A1" is invalid: letters only`,
	} {
		if _, _, _, err := c.Parse(name); status.Convert(err).Message() != want {
			t.Errorf("Parse(%q) = %v, want %s", name, err, want)
		}
	}
	if err := c.CheckID("A"); status.Convert(err).Message() != `thing_id: "A" is invalid: letters only` {
		t.Errorf("CheckID = %v", err)
	}
}

// A location that is not a Google Cloud region is answered as Memorystore
// answers it, for a create and for a name under it.
func TestUnknownLocation(t *testing.T) {
	c := Collection{Name: "things", Kind: "thing", ID: regexp.MustCompile(`^[a-z]+$`), Rule: "letters only"}
	for _, region := range []string{"us-eats1", "us-east1-b"} {
		_, _, err := c.CheckCreate("projects/p/locations/"+region, "a")
		if status.Code(err) != codes.PermissionDenied || status.Convert(err).Message() != "Location "+region+" is not found or access is unauthorized." {
			t.Errorf("create under %s: %v", region, err)
		}
		if _, _, _, err := c.Parse("projects/p/locations/" + region + "/things/a"); status.Code(err) != codes.PermissionDenied {
			t.Errorf("name under %s: %v", region, err)
		}
	}
}

func TestCollectionCreate(t *testing.T) {
	c := Collection{Name: "things", Kind: "thing", ID: regexp.MustCompile(`^[a-z]+$`), Rule: "letters only"}
	if name := c.Join("projects/p/locations/us-east1", "a"); name != "projects/p/locations/us-east1/things/a" {
		t.Errorf("Join = %q", name)
	}
	if p, r, err := c.CheckCreate("projects/p/locations/us-east1", "a"); err != nil || p != "p" || r != "us-east1" {
		t.Fatalf("CheckCreate = %q %q %v", p, r, err)
	}
	// The parent is checked first.
	for _, tc := range []struct{ parent, id, want string }{
		{"projects/p/locations/-", "A", `parent: "-" is not a valid region (for example us-central1)`},
		{"projects/p/locations/us-east1", "A", `thing_id: "A" is invalid: letters only`},
	} {
		if _, _, err := c.CheckCreate(tc.parent, tc.id); status.Convert(err).Message() != tc.want {
			t.Errorf("CheckCreate(%q, %q) = %v, want %s", tc.parent, tc.id, err, tc.want)
		}
	}
}
