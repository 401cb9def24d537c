package moduletest

import (
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/agentnet/terraform-provider-agentnet/internal/acctest"
)

// TestExampleGCPParses checks examples/gcp as far as this machine can
// without the google provider (no registry here, so `tofu init` of
// examples/gcp/foundation cannot run): every .tf file parses, holds only
// blocks a configuration may hold, and refers only to variables, locals,
// resources, data sources and modules its own folder declares. The
// agentnet-only root folder must use no other provider, so that
// TestExamplesValidate can validate it.
func TestExampleGCPParses(t *testing.T) {
	root, err := acctest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(root, "examples", "gcp")
	dirs := map[string][]string{} // folder -> its .tf files
	err = filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), ".") && p != base {
			return filepath.SkipDir // .terraform
		}
		if !d.IsDir() && strings.HasSuffix(p, ".tf") {
			dirs[filepath.Dir(p)] = append(dirs[filepath.Dir(p)], p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs[base]) == 0 || len(dirs[filepath.Join(base, "foundation")]) == 0 {
		t.Fatalf("examples/gcp and examples/gcp/foundation should hold .tf files: found %v", dirs)
	}
	folders := map[string]*folder{}
	for dir, files := range dirs {
		rel, _ := filepath.Rel(root, dir)
		t.Run(rel, func(t *testing.T) {
			m := parseFolder(t, files)
			folders[dir] = m
			m.checkReferences(t)
			if dir == base {
				for _, r := range m.resourceTypes() {
					if !strings.HasPrefix(r, "agentnet_") {
						t.Errorf("%s uses %s: keep resources of other providers in foundation/, so that tofu validate runs here", rel, r)
					}
				}
			}
		})
	}

	// foundation's relay_tfvars output is the relay configuration's
	// foundation.auto.tfvars.json: each of its keys must be a variable there.
	relay, foundation := folders[base], folders[filepath.Join(base, "foundation")]
	if relay == nil || foundation == nil {
		return
	}
	if len(foundation.relayTFVars) == 0 {
		t.Fatal("examples/gcp/foundation should have an output relay_tfvars built as an object")
	}
	for _, k := range foundation.relayTFVars {
		if !relay.declared["var."+k] {
			t.Errorf("foundation's relay_tfvars sets %q, which examples/gcp does not declare as a variable", k)
		}
	}
}

// folder is what one configuration folder declares and refers to.
type folder struct {
	declared    map[string]bool // "var.x", "local.x", "google_x.y", "data.google_x.y", "module.x"
	refs        []ref
	relayTFVars []string // keys of the object output "relay_tfvars", if any
}

type ref struct {
	name string
	rng  hcl.Range
}

var topLevel = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{
	{Type: "terraform"},
	{Type: "provider", LabelNames: []string{"name"}},
	{Type: "variable", LabelNames: []string{"name"}},
	{Type: "locals"},
	{Type: "output", LabelNames: []string{"name"}},
	{Type: "module", LabelNames: []string{"name"}},
	{Type: "resource", LabelNames: []string{"type", "name"}},
	{Type: "data", LabelNames: []string{"type", "name"}},
	{Type: "check", LabelNames: []string{"name"}},
	{Type: "import"},
	{Type: "moved"},
	{Type: "removed"},
}}

func parseFolder(t *testing.T, files []string) *folder {
	t.Helper()
	sort.Strings(files)
	p := hclparse.NewParser()
	m := &folder{declared: map[string]bool{}}
	for _, name := range files {
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, diags := p.ParseHCL(src, name)
		if diags.HasErrors() {
			t.Errorf("%s does not parse: %s", name, diags.Error())
			continue
		}
		content, diags := f.Body.Content(topLevel)
		if diags.HasErrors() {
			t.Errorf("%s: %s", name, diags.Error())
			continue
		}
		for _, b := range content.Blocks {
			switch b.Type {
			case "variable":
				m.declared["var."+b.Labels[0]] = true
			case "module":
				m.declared["module."+b.Labels[0]] = true
			case "resource":
				m.declared[b.Labels[0]+"."+b.Labels[1]] = true
			case "data":
				m.declared["data."+b.Labels[0]+"."+b.Labels[1]] = true
			case "locals":
				attrs, _ := b.Body.JustAttributes()
				for n := range attrs {
					m.declared["local."+n] = true
				}
			case "output":
				if b.Labels[0] == "relay_tfvars" {
					m.relayTFVars = objectKeys(syntaxBody(t, b.Body).Attributes["value"])
				}
			}
			m.collect(syntaxBody(t, b.Body))
		}
	}
	return m
}

// syntaxBody is the native syntax tree of a body parsed from a .tf file.
func syntaxBody(t *testing.T, body hcl.Body) *hclsyntax.Body {
	t.Helper()
	b, ok := body.(*hclsyntax.Body)
	if !ok {
		t.Fatalf("an HCL body parsed from native syntax is a %T", body)
	}
	return b
}

// objectKeys lists the literal keys of an attribute whose value is an
// object constructor ({ a = ..., b = ... }).
func objectKeys(a *hclsyntax.Attribute) []string {
	if a == nil {
		return nil
	}
	obj, ok := a.Expr.(*hclsyntax.ObjectConsExpr)
	if !ok {
		return nil
	}
	var keys []string
	for _, item := range obj.Items {
		if k := hcl.ExprAsKeyword(item.KeyExpr); k != "" {
			keys = append(keys, k)
		}
	}
	return keys
}

// collect records the references of every expression in body.
func (m *folder) collect(body *hclsyntax.Body) {
	for _, a := range body.Attributes {
		for _, tr := range hclsyntax.Variables(a.Expr) {
			if name, ok := refName(tr); ok {
				m.refs = append(m.refs, ref{name, tr.SourceRange()})
			}
		}
	}
	for _, b := range body.Blocks {
		m.collect(b.Body)
	}
}

// refName is the declared object a traversal names, for the kinds checked
// here; iterators (each, count, a dynamic block's), self, path and
// terraform are not.
func refName(tr hcl.Traversal) (string, bool) {
	parts := []string{tr.RootName()}
	for _, s := range tr[1:] {
		a, ok := s.(hcl.TraverseAttr)
		if !ok {
			break
		}
		parts = append(parts, a.Name)
	}
	switch root := parts[0]; {
	case root == "var" || root == "local" || root == "module":
		if len(parts) >= 2 {
			return root + "." + parts[1], true
		}
	case root == "data":
		if len(parts) >= 3 {
			return "data." + parts[1] + "." + parts[2], true
		}
	case strings.HasPrefix(root, "google_") || strings.HasPrefix(root, "agentnet_"):
		if len(parts) >= 2 {
			return root + "." + parts[1], true
		}
	}
	return "", false
}

func (m *folder) checkReferences(t *testing.T) {
	t.Helper()
	for _, r := range m.refs {
		if !m.declared[r.name] {
			t.Errorf("%s: %s is not declared in this folder", r.rng, r.name)
		}
	}
}

func (m *folder) resourceTypes() []string {
	var out []string
	for name := range m.declared {
		if kind, _, ok := strings.Cut(name, "."); ok && kind != "var" && kind != "local" && kind != "module" {
			if kind == "data" {
				kind = strings.Split(name, ".")[1]
			}
			out = append(out, kind)
		}
	}
	sort.Strings(out)
	return out
}
