package memorystore

import (
	"net"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"cloud.google.com/go/redis/apiv1/redispb"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/gapi"
	"google.golang.org/protobuf/proto"
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

// defaultMaxmemoryPolicy is Memorystore's maxmemory-policy when
// redis_configs does not set one (a plain redis-server's is noeviction).
const defaultMaxmemoryPolicy = "volatile-lru"

// configDefaults are the values an instance has for the redis_configs it
// was not given: Memorystore's maxmemory-policy, redis-server's others. A
// key removed from redis_configs goes back to its default.
var configDefaults = map[string]string{
	"maxmemory-policy":         defaultMaxmemoryPolicy,
	"notify-keyspace-events":   "",
	"activedefrag":             "no",
	"lfu-decay-time":           "1",
	"lfu-log-factor":           "10",
	"stream-node-max-bytes":    "4096",
	"stream-node-max-entries":  "100",
	"maxmemory-clients":        "0",
	"lua-time-limit":           "5000",
	"active-expire-effort":     "1",
	"timeout":                  "0",
	"lazyfree-lazy-eviction":   "no",
	"lazyfree-lazy-expire":     "no",
	"lazyfree-lazy-user-del":   "no",
	"lazyfree-lazy-user-flush": "no",
}

// acceptedConfigs are the redis_configs keys Memorystore accepts, as
// documented for Redis 7.x: every key with a default, and maxmemory-gb
// (the maxmemory option, see maxmemory).
var acceptedConfigs = func() map[string]bool {
	m := map[string]bool{"maxmemory-gb": true}
	for k := range configDefaults {
		m[k] = true
	}
	return m
}()

// redisConfigs are the redis-server options an instance's redis_configs
// give (maxmemory-gb is the maxmemory option, see maxmemory), with
// Memorystore's maxmemory-policy when none is set.
func redisConfigs(cfg map[string]string) map[string]string {
	out := map[string]string{"maxmemory-policy": defaultMaxmemoryPolicy}
	for k, v := range cfg {
		if k != "maxmemory-gb" {
			out[k] = v
		}
	}
	return out
}

// networkNames are VPC networks, projects/{project}/global/networks/{name}.
var networkNames = regexp.MustCompile(`^projects/([a-z][-a-z0-9.:]*[a-z0-9]|[0-9]+)/global/networks/[a-z]([-a-z0-9]{0,61}[a-z0-9])?$`)

// networkName normalises authorized_network to its full name: empty is the
// project's default network (as the API does); a bare network name or a
// Compute Engine self link is accepted too.
func networkName(project, n string) (string, error) {
	switch {
	case n == "":
		n = "projects/" + project + "/global/networks/default"
	case !strings.Contains(n, "/"):
		n = "projects/" + project + "/global/networks/" + n
	default:
		if i := strings.Index(n, "projects/"); i > 0 && strings.HasPrefix(n, "https://") {
			n = n[i:]
		}
	}
	if !networkNames.MatchString(n) {
		return "", gapi.Invalid("instance.authorized_network: %q is not a VPC network; use projects/PROJECT/global/networks/NAME", n)
	}
	return n, nil
}

// allocatedRangeNames are names of private services access ranges.
var allocatedRangeNames = regexp.MustCompile(`^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$`)

// validateReservedRange checks reserved_ip_range for the connect mode: a
// CIDR block of at least /29 with direct peering, the name of an allocated
// range with private services access.
func validateReservedRange(mode redispb.Instance_ConnectMode, r string) error {
	if r == "" {
		return nil
	}
	if mode == redispb.Instance_PRIVATE_SERVICE_ACCESS {
		if !allocatedRangeNames.MatchString(r) {
			return gapi.Invalid("instance.reserved_ip_range: %q is not the name of an allocated IP range; with connect_mode PRIVATE_SERVICE_ACCESS it names one of the ranges of the network's private services access connection", r)
		}
		return nil
	}
	_, ipnet, err := net.ParseCIDR(r)
	if err != nil || ipnet.IP.To4() == nil {
		return gapi.Invalid("instance.reserved_ip_range: %q is not an IPv4 CIDR range; with connect_mode DIRECT_PEERING it is a block such as 10.0.0.0/29", r)
	}
	if ones, _ := ipnet.Mask.Size(); ones > 29 {
		return gapi.Invalid("instance.reserved_ip_range: %q is smaller than a /29 block", r)
	}
	return nil
}

// cryptoKeyNames are Cloud KMS keys.
var cryptoKeyNames = regexp.MustCompile(`^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$`)

func validateCustomerManagedKey(k string) error {
	if k != "" && !cryptoKeyNames.MatchString(k) {
		return gapi.Invalid("instance.customer_managed_key: %q is not a Cloud KMS key; use projects/PROJECT/locations/LOCATION/keyRings/RING/cryptoKeys/KEY", k)
	}
	return nil
}

// validateMaxmemoryGB checks that maxmemory-gb fits in the instance.
func validateMaxmemoryGB(cfg map[string]string, memoryGB int32) error {
	v, ok := cfg["maxmemory-gb"]
	if !ok {
		return nil
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil && f > float64(memoryGB) {
		return gapi.Invalid("instance.redis_configs[\"maxmemory-gb\"]: %s is more than the instance's memory_size_gb (%d)", v, memoryGB)
	}
	return nil
}

// versionRank orders redis_version values (REDIS_6_X < REDIS_7_0 <
// REDIS_7_2); -1 for one not accepted.
func versionRank(v string) int {
	for i, a := range acceptedVersions {
		if a == v {
			return i
		}
	}
	return -1
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
	if versionRank(v) >= 0 {
		return nil
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
		case "activedefrag", "lazyfree-lazy-eviction", "lazyfree-lazy-expire", "lazyfree-lazy-user-del", "lazyfree-lazy-user-flush":
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

// persistenceWithDefaults is a copy of pc with Memorystore's defaults:
// persistence DISABLED, and an RDB snapshot every 24 hours.
func persistenceWithDefaults(pc *redispb.PersistenceConfig) *redispb.PersistenceConfig {
	if pc == nil || pc.PersistenceMode == redispb.PersistenceConfig_PERSISTENCE_MODE_UNSPECIFIED {
		return &redispb.PersistenceConfig{PersistenceMode: redispb.PersistenceConfig_DISABLED}
	}
	pc = proto.CloneOf(pc)
	if pc.PersistenceMode == redispb.PersistenceConfig_RDB && pc.RdbSnapshotPeriod == redispb.PersistenceConfig_SNAPSHOT_PERIOD_UNSPECIFIED {
		pc.RdbSnapshotPeriod = redispb.PersistenceConfig_TWENTY_FOUR_HOURS
	}
	return pc
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

var updatablePaths = []string{"display_name", "labels", "memory_size_gb", "redis_configs", "persistence_config", "auth_enabled"}
