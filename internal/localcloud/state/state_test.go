package state_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/state"
)

func TestSaveLoad(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	s, err := state.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]int
	if ok, err := s.Load("doc", &v); ok || err != nil {
		t.Fatalf("Load of missing doc = %v, %v", ok, err)
	}
	if err := s.Save("doc", map[string]int{"a": 1}); err != nil {
		t.Fatal(err)
	}
	if err := s.Save("doc", map[string]int{"a": 2}); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Load("doc", &v); !ok || err != nil || v["a"] != 2 {
		t.Fatalf("Load = %v, %v, %v", v, ok, err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("temporary files left: %v", ents)
	}
	if err := os.WriteFile(s.Path("bad"), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load("bad", &v); err == nil {
		t.Fatalf("Load of a torn document did not fail")
	}
}
