package memorystore

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// InRegion lists the instances of a region (sorted names).
func (s *Service) InRegion(region string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for name := range s.instances {
		if regionOf(name) == region {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

func regionOf(name string) string {
	parts := strings.Split(name, "/")
	if len(parts) >= 4 && parts[0] == "projects" && parts[2] == "locations" {
		return parts[3]
	}
	return ""
}

// StopRegion SIGKILLs the redis-server of every instance of region and holds
// it down (as redis-kill with hold does). It returns the instances it took
// down; those already held down by a redis-kill fault are left out, so that
// StartRegion brings back only what the region outage stopped.
func (s *Service) StopRegion(region string) ([]string, error) {
	var stopped []string
	var errs []error
	for _, name := range s.InRegion(region) {
		inst, err := s.find(name)
		if err != nil {
			continue
		}
		s.mu.Lock()
		already := inst.held
		s.mu.Unlock()
		if already {
			continue
		}
		if _, err := s.Kill(name, true); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
		stopped = append(stopped, name)
	}
	return stopped, errors.Join(errs...)
}

// StartRegion restarts the given instances (as returned by StopRegion) from
// their data folder, in parallel, and returns once they are ready;
// instances deleted meanwhile are skipped.
func (s *Service) StartRegion(names []string) error {
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.Release(name); err != nil && !errors.Is(err, ErrNotFound) {
				errs[i] = fmt.Errorf("%s: %w", name, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
