package redisinfo

import "testing"

func TestField(t *testing.T) {
	info := "# Replication\r\nrole:slave\r\nmaster_link_status:up\r\nmaster_port:6379\r\n"
	for name, want := range map[string]string{"role": "slave", "master_link_status": "up", "master_port": "6379", "master": "", "absent": ""} {
		if got := Field(info, name); got != want {
			t.Errorf("Field(%q) = %q, want %q", name, got, want)
		}
	}
}
