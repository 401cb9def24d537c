package rdbfile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud"
	"github.com/agentnet/terraform-provider-agentnet/internal/localcloud/localproc"
	"github.com/redis/go-redis/v9"
)

// redisServer starts the real redis-server on a Unix socket in dir, with
// the extra arguments; it is killed when the test ends.
func redisServer(t *testing.T, dir string, extra ...string) *redis.Client {
	t.Helper()
	bin, err := localcloud.FindRedisServer(os.Getenv("AGENTNET_REDIS_SERVER"))
	if err != nil {
		t.Fatalf("these tests read RDB files written by the real redis-server: %v", err)
	}
	sock := filepath.Join(dir, "redis.sock")
	cmd := exec.Command(bin, "--port", "0", "--unixsocket", sock, "--dir", dir, "--save", "",
		"--appendonly", "no", "--daemonize", "no", "--logfile", filepath.Join(dir, "redis.log"))
	cmd.Args = append(cmd.Args, extra...)
	child, err := localproc.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // our unreaped child: fails only once it has exited, which Exited awaits
		<-child.Exited()
	})
	c := redis.NewClient(&redis.Options{Network: "unix", Addr: sock})
	t.Cleanup(func() { c.Close() })
	deadline := time.Now().Add(10 * time.Second)
	for c.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("redis-server did not start: %s", localproc.LogTail(filepath.Join(dir, "redis.log"), "no log"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	return c
}

// save has redis-server write its RDB file and returns it.
func save(t *testing.T, c *redis.Client, dir string) []byte {
	t.Helper()
	if err := c.Save(context.Background()).Err(); err != nil {
		t.Fatalf("SAVE: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "dump.rdb"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fill writes every kind of value, in small (listpack, intset) and large
// (hash table, skiplist, quicklist) encodings, with expiries, in two
// databases, and returns the number of keys.
func fill(t *testing.T, c *redis.Client) int64 {
	t.Helper()
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	long := strings.Repeat("compressible ", 200) // stored LZF-compressed
	for db := range 2 {
		p := c.Pipeline()
		p.Select(ctx, db)
		p.Set(ctx, "str:short", "v", 0)
		p.Set(ctx, "str:int", 12345, 0)
		p.Set(ctx, "str:long", long, 0)
		p.Set(ctx, "str:ttl", "x", time.Hour)
		p.Set(ctx, "str:ttl-ms", "x", 1500*time.Millisecond)
		p.HSet(ctx, "hash:small", "a", "1", "b", "2")
		p.RPush(ctx, "list:small", "a", "b", "c")
		p.SAdd(ctx, "set:ints", 1, 2, 3)
		p.SAdd(ctx, "set:small", "a", "b")
		p.ZAdd(ctx, "zset:small", redis.Z{Score: 1.5, Member: "a"}, redis.Z{Score: 2, Member: "b"})
		for i := range 300 {
			p.HSet(ctx, "hash:big", fmt.Sprintf("f%d", i), long)
			p.RPush(ctx, "list:big", fmt.Sprintf("%s%d", long, i))
			p.SAdd(ctx, "set:big", fmt.Sprintf("m%d", i))
			p.ZAdd(ctx, "zset:big", redis.Z{Score: float64(i) / 3, Member: fmt.Sprintf("m%d", i)})
			p.XAdd(ctx, &redis.XAddArgs{Stream: "stream:relay", Values: []any{"envelope", fmt.Sprintf("payload %d", i)}})
		}
		p.Expire(ctx, "hash:big", time.Hour)
		p.XAdd(ctx, &redis.XAddArgs{Stream: "stream:empty", Values: []any{"k", "v"}})
		p.XTrimMaxLen(ctx, "stream:empty", 0)
		_, err := p.Exec(ctx)
		must(err)
		// A stream with consumer groups, consumers and pending entries, as
		// the relay keeps them.
		must(c.Do(ctx, "SELECT", db).Err())
		must(c.XGroupCreate(ctx, "stream:relay", "agents", "0").Err())
		must(c.XGroupCreate(ctx, "stream:relay", "idle", "$").Err())
		must(c.Do(ctx, "XREADGROUP", "GROUP", "agents", "agent-1", "COUNT", "10", "STREAMS", "stream:relay", ">").Err())
		must(c.Do(ctx, "XREADGROUP", "GROUP", "agents", "agent-2", "COUNT", "5", "STREAMS", "stream:relay", ">").Err())
		must(c.Do(ctx, "XACK", "stream:relay", "agents", "0-1").Err())
	}
	must(c.Do(ctx, "SELECT", 0).Err())
	must(c.Do(ctx, "FUNCTION", "LOAD", "#!lua name=agentnet\nredis.register_function('noop', function() return 1 end)").Err())
	var n int64
	for db := range 2 {
		must(c.Do(ctx, "SELECT", db).Err())
		size, err := c.DBSize(ctx).Result()
		must(err)
		n += size
	}
	must(c.Do(ctx, "SELECT", 0).Err())
	return n
}

func TestSummarizeRealRDB(t *testing.T) {
	dir := t.TempDir()
	c := redisServer(t, dir)
	version, err := c.Do(context.Background(), "INFO", "server").Text()
	if err != nil {
		t.Fatal(err)
	}
	empty, err := Summarize(bytes.NewReader(save(t, c, dir)))
	if err != nil || empty.KeyCount != 0 || empty.Databases != 0 {
		t.Fatalf("empty RDB: %+v %v", empty, err)
	}
	keys := fill(t, c)
	rdb := save(t, c, dir)
	s, err := Summarize(bytes.NewReader(rdb))
	if err != nil {
		t.Fatal(err)
	}
	if s.KeyCount != keys || s.Databases != 2 {
		t.Errorf("KeyCount %d in %d databases, redis-server has %d keys in 2", s.KeyCount, s.Databases, keys)
	}
	if s.RedisVersion == "" || !strings.Contains(version, "redis_version:"+s.RedisVersion+"\r\n") {
		t.Errorf("RedisVersion %q; INFO server says:\n%s", s.RedisVersion, version)
	}
	if s.FormatVersion < 10 || !s.Checksummed {
		t.Errorf("FormatVersion %d, checksummed %v", s.FormatVersion, s.Checksummed)
	}
}

// Keys whose expiry has passed are still in the file until Redis removes
// them, and count.
func TestSummarizeCountsExpiredKeys(t *testing.T) {
	dir := t.TempDir()
	c := redisServer(t, dir, "--enable-debug-command", "yes")
	ctx := context.Background()
	if err := c.Do(ctx, "DEBUG", "SET-ACTIVE-EXPIRE", "0").Err(); err != nil {
		t.Fatalf("DEBUG SET-ACTIVE-EXPIRE: %v", err)
	}
	c.Set(ctx, "kept", "v", 0)
	c.Set(ctx, "expiring", "v", 50*time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	s, err := Summarize(bytes.NewReader(save(t, c, dir)))
	if err != nil || s.KeyCount != 2 {
		t.Fatalf("got %+v %v, want 2 keys (one expired but still stored)", s, err)
	}
}

func TestSummarizeRefusesDamagedFiles(t *testing.T) {
	dir := t.TempDir()
	c := redisServer(t, dir)
	fill(t, c)
	rdb := save(t, c, dir)

	altered := bytes.Clone(rdb)
	altered[len(altered)/2] ^= 0x01
	for name, tc := range map[string]struct {
		b    []byte
		want string
	}{
		"truncated":      {rdb[:len(rdb)/2], "truncated"},
		"no checksum":    {rdb[:len(rdb)-4], "truncated"},
		"altered":        {altered, ""}, // checksum mismatch or a structure error, depending on the byte
		"not rdb":        {[]byte("PK\x03\x04 a zip file"), `not "REDIS"`},
		"future version": {append([]byte("REDIS0099"), rdb[9:]...), "newer than"},
		"empty":          {nil, "header"},
		"trailing bytes": {append(bytes.Clone(rdb), 0, 0, 0), "after the end"},
	} {
		_, err := Summarize(bytes.NewReader(tc.b))
		var fe *FormatError
		if !errors.As(err, &fe) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want a FormatError containing %q", name, err, tc.want)
		}
	}
}

// A file written with rdbchecksum no has a zero checksum: it is read, and
// reported as not checksummed.
func TestSummarizeWithoutChecksum(t *testing.T) {
	dir := t.TempDir()
	c := redisServer(t, dir, "--rdbchecksum", "no")
	c.Set(context.Background(), "k", "v", 0)
	s, err := Summarize(bytes.NewReader(save(t, c, dir)))
	if err != nil || s.KeyCount != 1 || s.Checksummed {
		t.Fatalf("got %+v %v", s, err)
	}
}

func TestLZF(t *testing.T) {
	// "aaaaaaaaaa": literal "a", then a back reference of 9 bytes at
	// distance 1 (length field 7 + extra 0 -> 9, as 7+2).
	in := []byte{0x00, 'a', 0xE0, 0x00, 0x00}
	out, ok := lzfDecompress(in, 10)
	if !ok || string(out) != "aaaaaaaaaa" {
		t.Fatalf("got %q %v", out, ok)
	}
	if _, ok := lzfDecompress([]byte{0x20, 0x05}, 3); ok {
		t.Fatal("a reference before the start was accepted")
	}
}
