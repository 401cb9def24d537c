// Package redisinfo reads the answers of Redis's INFO and CLUSTER INFO: the
// relay's health checks, localcloud's Memorystore and cluster forming all
// read single fields of them.
package redisinfo

import "strings"

// Field is the value of one "name:value" line of an INFO or CLUSTER INFO
// answer, "" when it has none.
func Field(info, name string) string {
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			return v
		}
	}
	return ""
}
