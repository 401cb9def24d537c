package peerbench

import (
	"github.com/prometheus/procfs"
)

// Usage is what a set of processes has used so far: CPU seconds (user plus
// system, /proc/<pid>/stat) and resident memory (VmRSS, /proc/<pid>/status).
type Usage struct {
	CPUSeconds float64
	ResidentKB int64
}

// Measure adds up the usage of pids.
func Measure(pids []int) (Usage, error) {
	var u Usage
	for _, pid := range pids {
		p, err := procfs.NewProc(pid)
		if err != nil {
			return Usage{}, err
		}
		stat, err := p.Stat()
		if err != nil {
			return Usage{}, err
		}
		status, err := p.NewStatus()
		if err != nil {
			return Usage{}, err
		}
		u.CPUSeconds += stat.CPUTime()
		u.ResidentKB += int64(status.VmRSS / 1024)
	}
	return u, nil
}
