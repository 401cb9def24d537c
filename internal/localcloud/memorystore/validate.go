package memorystore

import (
	"regexp"
	"sort"
	"strconv"
	"strings"

	"cloud.google.com/go/redis/apiv1/redispb"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/gapi"
)

// instanceNames are Memorystore instance names,
// projects/{p}/locations/{r}/instances/{instance_id}.
var instanceNames = gapi.Collection{
	Name: "instances",
	Kind: "instance",
	ID:   regexp.MustCompile(`^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$`),
	Rule: "it must be 1 to 40 characters of lowercase letters, digits and hyphens, start with a letter and end with a letter or digit",
}

// Accepted redis_version values. All of them run the local redis-server
// (Redis 7.0), whose RDB format is version 10.
var acceptedVersions = []string{"REDIS_6_X", "REDIS_7_0", "REDIS_7_2"}

const defaultVersion = "REDIS_7_0"

// maxRDBVersion is the newest RDB format the local redis-server (7.0) loads.
const maxRDBVersion = 10

// redis_configs keys Memorystore accepts, as documented for Redis 7.x.
var acceptedConfigs = map[string]bool{
	"maxmemory-policy":        true,
	"notify-keyspace-events":  true,
	"activedefrag":            true,
	"lfu-decay-time":          true,
	"lfu-log-factor":          true,
	"maxmemory-gb":            true,
	"stream-node-max-bytes":   true,
	"stream-node-max-entries": true,
	"maxmemory-clients":       true,
	"lua-time-limit":          true,
	"active-expire-effort":    true,
	"timeout":                 true,
}

var maxmemoryPolicies = []string{"volatile-lru", "allkeys-lru", "volatile-lfu", "allkeys-lfu", "volatile-random", "allkeys-random", "volatile-ttl", "noeviction"}

func validateTier(t redispb.Instance_Tier) error {
	if t != redispb.Instance_BASIC && t != redispb.Instance_STANDARD_HA {
		return gapi.Invalid("instance.tier: %s is not accepted; accepted values are BASIC and STANDARD_HA", t)
	}
	return nil
}

func validateMemory(gb int32) error {
	if gb < 1 || gb > 300 {
		return gapi.Invalid("instance.memory_size_gb: %d is out of range; accepted values are 1 to 300 (GiB)", gb)
	}
	return nil
}

func validateVersion(v string) error {
	for _, a := range acceptedVersions {
		if v == a {
			return nil
		}
	}
	return gapi.Invalid("instance.redis_version: %q is not accepted; accepted values are %s", v, strings.Join(acceptedVersions, ", "))
}

func validateConfigs(cfg map[string]string) error {
	keys := make([]string, 0, len(cfg))
	for k := range cfg {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := cfg[k]
		if !acceptedConfigs[k] {
			acc := make([]string, 0, len(acceptedConfigs))
			for a := range acceptedConfigs {
				acc = append(acc, a)
			}
			sort.Strings(acc)
			return gapi.Invalid("instance.redis_configs: %q is not a configurable parameter; accepted parameters are %s", k, strings.Join(acc, ", "))
		}
		switch k {
		case "maxmemory-policy":
			ok := false
			for _, p := range maxmemoryPolicies {
				ok = ok || p == v
			}
			if !ok {
				return gapi.Invalid("instance.redis_configs[%q]: %q is not accepted; accepted values are %s", k, v, strings.Join(maxmemoryPolicies, ", "))
			}
		case "activedefrag":
			if v != "yes" && v != "no" {
				return gapi.Invalid("instance.redis_configs[%q]: %q is not accepted; accepted values are yes, no", k, v)
			}
		case "maxmemory-gb":
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f <= 0 {
				return gapi.Invalid("instance.redis_configs[%q]: %q is not a positive number of GiB", k, v)
			}
		case "notify-keyspace-events":
			for _, c := range v {
				if !strings.ContainsRune("KEg$lshzxetmdnA", c) {
					return gapi.Invalid("instance.redis_configs[%q]: %q contains %q; accepted characters are K E g $ l s h z x e t m d n A", k, v, c)
				}
			}
		default:
			if n, err := strconv.ParseInt(v, 10, 64); err != nil || n < 0 {
				return gapi.Invalid("instance.redis_configs[%q]: %q is not a non-negative integer", k, v)
			}
		}
	}
	return nil
}

func validatePersistence(pc *redispb.PersistenceConfig) error {
	if pc == nil {
		return nil
	}
	switch pc.GetPersistenceMode() {
	case redispb.PersistenceConfig_PERSISTENCE_MODE_UNSPECIFIED, redispb.PersistenceConfig_DISABLED:
	case redispb.PersistenceConfig_RDB:
		switch pc.GetRdbSnapshotPeriod() {
		case redispb.PersistenceConfig_SNAPSHOT_PERIOD_UNSPECIFIED, redispb.PersistenceConfig_ONE_HOUR, redispb.PersistenceConfig_SIX_HOURS,
			redispb.PersistenceConfig_TWELVE_HOURS, redispb.PersistenceConfig_TWENTY_FOUR_HOURS:
		default:
			return gapi.Invalid("instance.persistence_config.rdb_snapshot_period: %s is not accepted; accepted values are ONE_HOUR, SIX_HOURS, TWELVE_HOURS, TWENTY_FOUR_HOURS", pc.GetRdbSnapshotPeriod())
		}
	default:
		return gapi.Invalid("instance.persistence_config.persistence_mode: %s is not accepted; accepted values are DISABLED, RDB", pc.GetPersistenceMode())
	}
	return nil
}

// saveArg is the redis "save" setting for a persistence config.
func saveArg(pc *redispb.PersistenceConfig) string {
	if pc.GetPersistenceMode() != redispb.PersistenceConfig_RDB {
		return ""
	}
	switch pc.GetRdbSnapshotPeriod() {
	case redispb.PersistenceConfig_ONE_HOUR:
		return "3600 1"
	case redispb.PersistenceConfig_SIX_HOURS:
		return "21600 1"
	case redispb.PersistenceConfig_TWELVE_HOURS:
		return "43200 1"
	default:
		return "86400 1"
	}
}

// normalizePath maps a field-mask path (snake_case or lowerCamelCase) to the
// snake_case form.
func normalizePath(p string) string {
	var b strings.Builder
	for _, r := range p {
		if r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
			b.WriteRune(r - 'A' + 'a')
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

var updatablePaths = []string{"display_name", "labels", "memory_size_gb", "redis_configs", "persistence_config"}
