package profile

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sort"
	"strings"
	"time"
)

// Kind names one modelled delay, "<api>.<what>" (see kinds.go).
type Kind string

// Delay is one modelled delay: a fixed part plus a part growing with the
// data's size, and where the figure comes from.
type Delay struct {
	// Duration is the fixed part.
	Duration Duration `json:"duration"`
	// PerGiB is added per GiB of data (exports, imports).
	PerGiB Duration `json:"per_gib,omitempty"`
	// Source is the Google page or published measurement behind the figure.
	Source string `json:"source"`
}

// For is the modelled delay for size bytes of data.
func (d Delay) For(size int64) time.Duration {
	return d.Duration.D() + time.Duration(float64(d.PerGiB.D())*float64(size)/(1<<30))
}

// Profile is a named set of delays and the time scale they are slept at.
type Profile struct {
	Name string `json:"name"`
	// Scale divides every delay actually slept: at 20 a modelled 5 minutes
	// takes 15 seconds. 1 is real time.
	Scale  float64        `json:"scale"`
	Delays map[Kind]Delay `json:"delays"`
}

// Default models nothing: every change is live when its operation is done.
func Default() *Profile {
	return &Profile{Name: "default", Scale: 1, Delays: map[Kind]Delay{}}
}

// Load returns the profile named by name: "default", "gcp", or the path of a
// JSON file ({"name":..., "base":"gcp", "scale":20, "delays":{kind: {...}}})
// whose delays override those of its base. scale overrides the profile's
// time scale when positive.
func Load(name string, scale float64) (*Profile, error) {
	var p *Profile
	switch name {
	case "", "default":
		p = Default()
	case "gcp":
		p = GCP()
	default:
		f, err := loadFile(name)
		if err != nil {
			return nil, err
		}
		p = f
	}
	if scale < 0 || math.IsNaN(scale) || math.IsInf(scale, 0) {
		return nil, fmt.Errorf("profile: time scale must be a positive number such as 20, got %v", scale)
	}
	if scale > 0 {
		p.Scale = scale
	}
	return p, p.check()
}

type file struct {
	Profile
	Base string `json:"base"`
}

func loadFile(path string) (*Profile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("profile: accepted values are default, gcp or a JSON file: %w", err)
	}
	var f file
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("profile %s: %w", path, err)
	}
	var base *Profile
	switch f.Base {
	case "", "default":
		base = Default()
	case "gcp":
		base = GCP()
	default:
		return nil, fmt.Errorf("profile %s: base: accepted values are default or gcp, got %q", path, f.Base)
	}
	for k, d := range f.Delays {
		base.Delays[k] = d
	}
	if f.Name != "" {
		base.Name = f.Name
	} else {
		base.Name = path
	}
	if f.Scale != 0 {
		base.Scale = f.Scale
	}
	return base, nil
}

// check refuses unknown kinds, negative delays and figures without a source.
func (p *Profile) check() error {
	if p.Scale <= 0 {
		return fmt.Errorf("profile %s: scale must be positive, got %v", p.Name, p.Scale)
	}
	kinds := make([]string, 0, len(p.Delays))
	for k := range p.Delays {
		kinds = append(kinds, string(k))
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		d := p.Delays[Kind(k)]
		if !Known(Kind(k)) {
			return fmt.Errorf("profile %s: unknown delay %q; accepted: %s", p.Name, k, strings.Join(KnownNames(), ", "))
		}
		if d.Duration < 0 || d.PerGiB < 0 {
			return fmt.Errorf("profile %s: delay %s is negative", p.Name, k)
		}
		if (d.Duration > 0 || d.PerGiB > 0) && strings.TrimSpace(d.Source) == "" {
			return fmt.Errorf("profile %s: delay %s has no source: every modelled delay names the page or measurement it comes from", p.Name, k)
		}
	}
	return nil
}

// Delay returns the modelled delay of kind (zero when the profile does not
// model it).
func (p *Profile) Delay(kind Kind) Delay {
	if p == nil {
		return Delay{}
	}
	return p.Delays[kind]
}

// Scaled is how long a modelled duration d is actually slept.
func (p *Profile) Scaled(d time.Duration) time.Duration {
	if p == nil || p.Scale <= 0 {
		return d
	}
	return time.Duration(float64(d) / p.Scale)
}

// Duration is a time.Duration written as Go writes it ("5m", "30s") in JSON.
type Duration time.Duration

// D is the duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalJSON writes "5m0s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a Go duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: a string such as \"5m\" or \"30s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: a Go duration such as \"5m\" or \"30s\"", s)
	}
	*d = Duration(v)
	return nil
}
