package resources_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/accessibility"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// browser is a tab of a headless Chromium (Debian's package) driven through
// the DevTools protocol; make chromium installs it.
type browser struct{ ctx context.Context }

// newBrowser starts Chromium, with JavaScript off when script is false.
func newBrowser(t *testing.T, script bool) *browser {
	t.Helper()
	exe, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is not installed: run make chromium (Debian: apt-get install chromium)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses to run as root with its sandbox
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(cancel)
	// The first call starts the browser, for as long as ctx lives.
	if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: !script}); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	// Each check must see what the server serves now, not a copy the
	// browser keeps for the page's max-age.
	if _, err := chromedp.Call(ctx, network.SetCacheDisabled, network.SetCacheDisabledParams{CacheDisabled: true}); err != nil {
		t.Fatal(err)
	}
	return &browser{ctx: ctx}
}

// open loads url and returns the response of its document.
func (b *browser) open(url string) (*network.Response, error) {
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(url))
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", url, err)
	}
	return resp, nil
}

// text is the visible text of the element the CSS selector sel selects.
func (b *browser) text(sel string) (string, error) {
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel), chromedp.NodeVisible))
}

// axNode is a node of the accessibility tree: what a screen reader gets.
type axNode struct{ Role, Name string }

// accessibilityTree reads the page's accessibility tree through the
// DevTools protocol, without running anything in the page.
func (b *browser) accessibilityTree() ([]axNode, error) {
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	res, err := chromedp.Call(ctx, accessibility.GetFullAXTree, accessibility.GetFullAXTreeParams{})
	if err != nil {
		return nil, err
	}
	var out []axNode
	for _, n := range res.Nodes {
		if !n.Ignored {
			out = append(out, axNode{Role: axString(n.Role), Name: axString(n.Name)})
		}
	}
	return out, nil
}

func axString(v *accessibility.Value) string {
	if v == nil {
		return ""
	}
	var s string
	if err := json.Unmarshal([]byte(v.Value), &s); err != nil {
		// Not a JSON string (a number, a boolean): its text.
		return strings.TrimSpace(string(v.Value))
	}
	return strings.TrimSpace(s)
}
