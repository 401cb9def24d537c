package admin

// Health is the body of GET /_localcloud/health.
type Health struct {
	Status  string `json:"status"`
	Addr    string `json:"addr"`
	PID     int    `json:"pid"`
	DataDir string `json:"data_dir"`
}
