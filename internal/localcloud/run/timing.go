package run

import (
	"time"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/profile"
)

// shutdownGrace is Cloud Run's: an instance that is stopped gets SIGTERM,
// then SIGKILL 10 seconds later
// (https://cloud.google.com/run/docs/container-contract).
const shutdownGrace = 10 * time.Second

// grace is how long a stopped instance has between SIGTERM and SIGKILL: the
// profile's figure, slept at its time scale, else Cloud Run's 10 s.
func (s *Service) grace() (modelled, slept time.Duration) {
	p := s.cfg.Timing.Profile()
	if d := p.Delay(profile.RunShutdownGrace).For(0); d > 0 {
		return d, p.Scaled(d)
	}
	return shutdownGrace, shutdownGrace
}

// stopInstance sends SIGTERM to an instance's relay and SIGKILL once its
// grace is over. A relay that used all of it is recorded in the profile's
// ledger: that much of the stop was the modelled grace.
func (s *Service) stopInstance(p *process, id string) {
	modelled, slept := s.grace()
	start := time.Now()
	if !p.stop(slept) {
		s.cfg.Timing.Record(profile.RunShutdownGrace, id, start, modelled)
	}
}
